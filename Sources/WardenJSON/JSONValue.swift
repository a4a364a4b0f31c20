/// A parsed JSON value. Objects reject duplicate keys at parse time, so lookups are unambiguous.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The member `key` of an object, or nil.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var numberValue: Double? {
        if case .number(let n) = self { return n }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// The value as a header/matcher string: strings as is, integral numbers without a fraction,
    /// booleans as `true`/`false`; nil for null, arrays and objects.
    public var scalarText: String? {
        switch self {
        case .string(let s): return s
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return JSONValue.format(number: n)
        default: return nil
        }
    }

    /// Formats a number the way it most likely appeared: `42`, not `42.0`.
    public static func format(number n: Double) -> String {
        if n.isFinite, abs(n) < 1e15, n == Double(Int64(n)) { return String(Int64(n)) }
        return String(n)
    }
}
