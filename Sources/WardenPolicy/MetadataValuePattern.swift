import WardenJSON

/// A `when` value of an `experimental.envoy.filters.*` key, as istiod compiles it into an Envoy
/// `ValueMatcher` (`envoyFilterGenerator.extendedPermission`): a value written `[v]` matches a list
/// that has an element matching `v` (`list_match.one_of`); any other value matches a string. Both use
/// Istio's string notation (exact, `prefix*`, `*suffix`, `*` for any non-empty string).
public enum MetadataValuePattern: Sendable, Hashable, CustomStringConvertible {
    /// Envoy `string_match`: the field is a string and matches.
    case string(StringPattern)
    /// Envoy `list_match.one_of.string_match`: the field is a list with a string element that matches.
    case listElement(StringPattern)

    /// istiod: `strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]")` selects the list form, and
    /// `strings.Trim(v, "[]")` strips every leading and trailing bracket (`[[a]]` is `a`).
    public init(_ text: String) {
        // Bytes, as Go's strings functions see them (a bracket followed by a combining mark still counts).
        let open = UInt8(ascii: "["), close = UInt8(ascii: "]")
        let u = text.utf8
        guard u.first == open, u.last == close else {
            self = .string(StringPattern(text))
            return
        }
        var inner = u[...]
        while let f = inner.first, f == open || f == close { inner = inner.dropFirst() }
        while let l = inner.last, l == open || l == close { inner = inner.dropLast() }
        self = .listElement(StringPattern(String(decoding: inner, as: UTF8.self)))
    }

    /// Envoy's `ValueMatcher` on the field's value (nil when the field is absent): a string matcher
    /// never matches a number, bool, null, list or struct, and a list matcher only a list.
    public func matches(_ value: JSONValue?) -> Bool {
        switch (self, value) {
        case (.string(let p), .string(let s)?): return p.matches(s)
        case (.listElement(let p), .array(let items)?):
            return items.contains { if case .string(let s) = $0 { return p.matches(s) } else { return false } }
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .string(let p): return p.description
        case .listElement(let p): return "[\(p)]"
        }
    }
}
