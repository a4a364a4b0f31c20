#if canImport(Glibc)
import Glibc
#endif
import WardenJSON
import WardenPolicy

/// Finds tokens the way Envoy's jwt_authn extractor does: header locations first (ordered by name and
/// prefix), then query parameters, then cookies; each location remembers which issuers declared it.
/// Names, prefixes and issuers are compared byte for byte, as Envoy compares them.
public struct TokenExtractor: Sendable {
    /// A location and the issuers whose rules named it (an empty issuer allows any).
    struct Spec: Sendable {
        var location: TokenLocation
        var issuers: Set<ExactKey>
    }

    let specs: [Spec]

    /// Builds the extractor for a set of `(issuer, locations)`; empty `locations` means the defaults.
    public init(rules: [(issuer: String, locations: [TokenLocation])]) {
        var byLocation: [TokenLocation: Set<ExactKey>] = [:]
        for rule in rules {
            for location in rule.locations.isEmpty ? TokenLocation.defaults : rule.locations {
                byLocation[location, default: []].insert(ExactKey(rule.issuer))
                // A DPoP-bound token comes with the DPoP scheme instead (its proof is checked with the binding).
                if location == .bearerAuthorization { byLocation[.dpopAuthorization, default: []].insert(ExactKey(rule.issuer)) }
            }
        }
        func order(_ l: TokenLocation) -> (Int, [UInt8]) {
            switch l {
            case .header(let n, let p): return (0, Array(n.utf8) + Array(p.utf8))
            case .queryParameter(let p): return (1, Array(p.utf8))
            case .cookie(let c): return (2, Array(c.utf8))
            }
        }
        specs = byLocation.map { Spec(location: $0.key, issuers: $0.value) }
            .sorted { a, b in
                let (x, y) = (order(a.location), order(b.location))
                return x.0 != y.0 ? x.0 < y.0 : x.1.lexicographicallyPrecedes(y.1)
            }
    }

    /// Whether a token from `issuer` is accepted at `location` (issuers compared byte for byte).
    public func accepts(_ issuer: String, at location: TokenLocation) -> Bool {
        specs.first { $0.location == location }?.issuers.contains(ExactKey(issuer)) ?? false
    }

    /// Every token present in the request, in Envoy's extraction order.
    public func extract(from request: RequestAttributes) -> [ExtractedToken] {
        var found: [ExtractedToken] = []
        var query: [(String, String)]?
        var cookies: [ExactKey: [String]]?
        for spec in specs {
            switch spec.location {
            case .header(let name, let prefix):
                guard let value = request.headers.exactValue(forKey: name) else { continue }
                if prefix.isEmpty {
                    found.append(ExtractedToken(token: value, location: spec.location))
                } else if let token = TokenExtractor.afterPrefix(value, prefix) {
                    found.append(ExtractedToken(token: token, location: spec.location))
                }
            case .queryParameter(let name):
                if query == nil { query = QueryString.parse(path: request.path) }
                let values = query!.filter { $0.0.bytesEqual(name) }.map(\.1)
                if let value = values.first {
                    found.append(ExtractedToken(token: value, location: spec.location, ambiguous: values.contains { !$0.bytesEqual(value) }))
                }
            case .cookie(let name):
                if cookies == nil { cookies = TokenExtractor.parseCookies(request.headers["cookie"] ?? "") }
                if let values = cookies![ExactKey(name)], let value = values.first {
                    found.append(ExtractedToken(token: value, location: spec.location, ambiguous: values.contains { !$0.bytesEqual(value) }))
                }
            }
        }
        return found
    }

    /// Envoy: the prefix may appear anywhere in the value; characters that cannot start a JWT are
    /// skipped after it; if none can, the whole value is returned (and later fails to parse).
    static func afterPrefix(_ value: String, _ prefix: String) -> String? {
        // Common case (`Bearer <jwt>`): the value starts with the prefix and the token follows at once.
        let utf8 = value.utf8
        if !prefix.isEmpty, utf8.starts(with: prefix.utf8) {
            let at = utf8.index(utf8.startIndex, offsetBy: prefix.utf8.count)
            if at < utf8.endIndex, isJWTByte(utf8[at]) { return String(value[at...]) }
        }
        let v = Array(value.utf8)
        let p = Array(prefix.utf8)
        guard let at = firstIndex(of: p, in: v) else { return nil }
        var i = at + p.count
        while i < v.count, !isJWTByte(v[i]) { i += 1 }
        if i == v.count { return value }
        return String(decoding: v[i...], as: UTF8.self)
    }

    static func isJWTByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
            return true
        default:
            return false
        }
    }

    /// Where `needle` first occurs in `haystack`: `memchr` to each candidate first byte, `memcmp` there (the
    /// prefix is a short configured string). The byte loop it replaced cost ~10k instructions per check
    /// for a `DPoP ` prefix looked for in a `Bearer` value (bench/results/2026-12-06-callgrind.md).
    static func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard !needle.isEmpty else { return 0 }
        guard needle.count <= haystack.count else { return nil }
        return haystack.withUnsafeBytes { h -> Int? in
            needle.withUnsafeBytes { n -> Int? in
                guard let hb = h.baseAddress, let nb = n.baseAddress else { return nil }
                let last = h.count - n.count
                var start = 0
                while start <= last {
                    guard let hit = memchr(hb + start, Int32(n[0]), last - start + 1) else { return nil }
                    let i = hb.distance(to: UnsafeRawPointer(hit))
                    if memcmp(hb + i, nb, n.count) == 0 { return i }
                    start = i + 1
                }
                return nil
            }
        }
    }

    /// `a=b; c="d"` → [a: [b], c: [d]], every occurrence of a name in order. Pairs are separated by `;`
    /// and by `,`: ext_authz joins repeated `Cookie` lines with `,` (Envoy's jwt_authn reads each line, so
    /// a token in the second line is found there too); RFC 6265 cookie values never contain either.
    /// Byte-wise, as Envoy's `parseCookieValue`: a combining mark after `;` or `=` hides neither, and
    /// names are keys by their bytes.
    static func parseCookies(_ header: String) -> [ExactKey: [String]] {
        var out: [ExactKey: [String]] = [:]
        let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t"), quote = UInt8(ascii: "\"")
        for part in header.utf8.split(whereSeparator: { $0 == UInt8(ascii: ";") || $0 == UInt8(ascii: ",") }) {
            let trimmed = part.drop { $0 == space || $0 == tab }
            guard let eq = trimmed.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let key = String(Substring(trimmed[..<eq]))
            var value = trimmed[trimmed.index(after: eq)...]
            while let last = value.last, last == space || last == tab { value = value.dropLast() }
            if value.count >= 2, value.first == quote, value.last == quote { value = value.dropFirst().dropLast() }
            out[ExactKey(key), default: []].append(String(Substring(value)))
        }
        return out
    }
}
