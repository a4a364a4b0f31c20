import WardenJSON
import WardenJWT

/// Cuts the values of `--redact-claims` claims out of log text. The values are read from the
/// request's own tokens (parsed without verification: a rejected token's claims are as private as
/// an accepted one's), then every occurrence in a field is replaced by `[redacted]`.
struct LogRedactor {
    static let mask = "[redacted]"
    /// Bounds on what one request's tokens can make the redactor search for: the values come from
    /// unverified tokens, so without them a client could make each log line cost a second of CPU
    /// (thousands of tiny values × every field). Values beyond the bounds are not redacted.
    static let maxValues = 64
    static let maxValueBytes = 16 << 10
    /// Longest first, so a value containing another is replaced whole.
    let values: [String]

    /// - Parameter tokens: the request's tokens as the check parsed them (verified or not).
    init(claims: Set<String>, tokens: [UnverifiedJWT]) {
        var found = Set<String>()
        for jwt in tokens {
            for name in claims {
                if let v = LogRedactor.lookup(name, in: jwt.claims) { LogRedactor.collect(v, into: &found) }
            }
        }
        var kept: [String] = []
        var bytes = 0
        for v in found.filter({ !$0.isEmpty }).sorted(by: { $0.utf8.count > $1.utf8.count }) {
            guard kept.count < Self.maxValues, bytes + v.utf8.count <= Self.maxValueBytes else { continue }
            kept.append(v)
            bytes += v.utf8.count
        }
        values = kept
    }

    func scrub(_ text: String) -> String {
        var out = text
        for v in values where out.contains(v) { out = out.replacingAll(v, with: LogRedactor.mask) }
        return out
    }

    /// A top-level claim, or a nested one by dotted path (`realm_access.roles`).
    static func lookup(_ name: String, in claims: [String: JSONValue]) -> JSONValue? {
        if let v = claims[name] { return v }
        var current = JSONValue.object(claims)
        for part in name.split(separator: ".") {
            guard let next = current[String(part)] else { return nil }
            current = next
        }
        return current
    }

    /// Every scalar inside `value` as text (strings as is, and the whole value's JSON for objects/arrays).
    static func collect(_ value: JSONValue, into out: inout Set<String>) {
        switch value {
        case .string(let s):
            out.insert(s)
            // Space-delimited claims (scope) are matched per word by policies and may be quoted so.
            for word in s.split(separator: " ") { out.insert(String(word)) }
        case .number, .bool: if let t = value.scalarText { out.insert(t) }
        case .array(let items):
            out.insert(value.serialized)
            for i in items { collect(i, into: &out) }
        case .object(let members):
            out.insert(value.serialized)
            for m in members.values { collect(m, into: &out) }
        case .null: break
        }
    }
}

extension String {
    /// Replaces every non-overlapping occurrence of `target` (non-empty) with `replacement`.
    public func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var out = ""
        var rest = Substring(self)
        while let r = rest.range(of: target) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}
