/// Istio's string match: exact `abc`, prefix `abc*`, suffix `*abc`, presence `*` (any non-empty value).
public enum StringPattern: Sendable, Hashable, CustomStringConvertible {
    case exact(String)
    case prefix(String)
    case suffix(String)
    case presence

    /// Parses Istio's notation. A lone `*` is presence; a leading `*` wins over a trailing one, as in Istio.
    public init(_ text: String) {
        if text == "*" {
            self = .presence
        } else if text.hasPrefix("*") {
            self = .suffix(String(text.dropFirst()))
        } else if text.hasSuffix("*") {
            self = .prefix(String(text.dropLast()))
        } else {
            self = .exact(text)
        }
    }

    /// Case-sensitive match of `value`.
    public func matches(_ value: String) -> Bool {
        switch self {
        case .exact(let s): return value == s
        case .prefix(let s): return value.hasPrefix(s)
        case .suffix(let s): return value.hasSuffix(s)
        case .presence: return !value.isEmpty
        }
    }

    /// Case-sensitive match of a part of a string (one word of a space-delimited claim).
    func matches(_ value: Substring) -> Bool {
        switch self {
        case .exact(let s): return value == s
        case .prefix(let s): return value.hasPrefix(s)
        case .suffix(let s): return value.hasSuffix(s)
        case .presence: return !value.isEmpty
        }
    }

    /// Case-insensitive match, used for hosts. ASCII text (every real host) is compared byte by byte
    /// with ASCII case folding, without building lower-cased copies per check; other text is compared
    /// lower-cased.
    public func matchesIgnoringCase(_ value: String) -> Bool {
        if let answer = asciiMatchIgnoringCase(value.utf8) { return answer }
        let v = value.lowercased()
        switch self {
        case .exact(let s): return v == s.lowercased()
        case .prefix(let s): return v.hasPrefix(s.lowercased())
        case .suffix(let s): return v.hasSuffix(s.lowercased())
        case .presence: return !value.isEmpty
        }
    }

    /// nil when `value` or the pattern has a non-ASCII byte.
    private func asciiMatchIgnoringCase(_ value: String.UTF8View) -> Bool? {
        func equalFolded(_ a: some Collection<UInt8>, _ b: String.UTF8View) -> Bool? {
            guard a.count == b.count else { return a.contains { $0 >= 0x80 } || b.contains { $0 >= 0x80 } ? nil : false }
            var equal = true
            for (x, y) in zip(a, b) {
                if x >= 0x80 || y >= 0x80 { return nil }
                if equal && x != y && Self.asciiLower(x) != Self.asciiLower(y) { equal = false }
            }
            return equal
        }
        switch self {
        case .exact(let s): return equalFolded(value, s.utf8)
        case .prefix(let s):
            if value.count < s.utf8.count { return value.contains { $0 >= 0x80 } || s.utf8.contains { $0 >= 0x80 } ? nil : false }
            return value.contains { $0 >= 0x80 } ? nil : equalFolded(value.prefix(s.utf8.count), s.utf8)
        case .suffix(let s):
            if value.count < s.utf8.count { return value.contains { $0 >= 0x80 } || s.utf8.contains { $0 >= 0x80 } ? nil : false }
            return value.contains { $0 >= 0x80 } ? nil : equalFolded(value.suffix(s.utf8.count), s.utf8)
        case .presence: return !value.isEmpty
        }
    }

    private static func asciiLower(_ b: UInt8) -> UInt8 {
        b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") ? b | 0x20 : b
    }

    public var description: String {
        switch self {
        case .exact(let s): return s
        case .prefix(let s): return s + "*"
        case .suffix(let s): return "*" + s
        case .presence: return "*"
        }
    }
}
