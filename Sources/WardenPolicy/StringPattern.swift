import WardenJSON

/// Istio's string match: exact `abc`, prefix `abc*`, suffix `*abc`, presence `*` (any non-empty value).
public enum StringPattern: Sendable, Hashable, CustomStringConvertible {
    case exact(String)
    case prefix(String)
    case suffix(String)
    case presence

    /// Parses Istio's notation (byte-wise, as istiod's `strings.HasPrefix`): a lone `*` is presence; a
    /// leading `*` wins over a trailing one, as in Istio.
    public init(_ text: String) {
        let star = UInt8(ascii: "*")
        if text.bytesEqual("*") {
            self = .presence
        } else if text.utf8.first == star {
            self = .suffix(String(decoding: text.utf8.dropFirst(), as: UTF8.self))
        } else if text.utf8.last == star {
            self = .prefix(String(decoding: text.utf8.dropLast(), as: UTF8.self))
        } else {
            self = .exact(text)
        }
    }

    /// Case-sensitive match of `value`, byte for byte (as Envoy's `StringMatcher`).
    public func matches(_ value: some StringProtocol) -> Bool {
        switch self {
        case .exact(let s): return value.bytesEqual(s)
        case .prefix(let s): return value.bytesHavePrefix(s)
        case .suffix(let s): return value.bytesHaveSuffix(s)
        case .presence: return !value.isEmpty
        }
    }

    /// Match ignoring ASCII case, used for hosts: Envoy's `ignore_case` folds `A`–`Z` only and compares
    /// every other byte as it is (`absl::EqualsIgnoreCase`), so `É` does not match `é`.
    public func matchesIgnoringCase(_ value: String) -> Bool {
        switch self {
        case .exact(let s): return value.bytesEqualIgnoringASCIICase(s)
        case .prefix(let s): return value.bytesHavePrefixIgnoringASCIICase(s)
        case .suffix(let s): return value.bytesHaveSuffixIgnoringASCIICase(s)
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
