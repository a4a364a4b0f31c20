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

    /// Case-insensitive (ASCII) match, used for hosts.
    public func matchesIgnoringCase(_ value: String) -> Bool {
        let v = value.lowercased()
        switch self {
        case .exact(let s): return v == s.lowercased()
        case .prefix(let s): return v.hasPrefix(s.lowercased())
        case .suffix(let s): return v.hasSuffix(s.lowercased())
        case .presence: return !value.isEmpty
        }
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
