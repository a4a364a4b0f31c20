import WardenJSON

/// Indented JSON for people (keys sorted), with optional end-of-line notes per top-level member
/// (`decode` and `explain` annotate `exp`/`nbf`/`iat` with dates).
enum JSONPretty {
    static func render(_ value: JSONValue, indent: String = "", note: (String, JSONValue) -> String? = { _, _ in nil }) -> String {
        var out = ""
        write(value, indent: indent, topLevel: true, note: note, into: &out)
        return out
    }

    private static func write(_ value: JSONValue, indent: String, topLevel: Bool, note: (String, JSONValue) -> String?, into out: inout String) {
        switch value {
        case .object(let members) where !members.isEmpty:
            out += "{\n"
            let keys = members.keys.sorted()
            for (i, key) in keys.enumerated() {
                out += indent + "  "
                JSONValue.writeString(key, to: &out)
                out += ": "
                write(members[key]!, indent: indent + "  ", topLevel: false, note: { _, _ in nil }, into: &out)
                if i < keys.count - 1 { out += "," }
                if topLevel, let n = note(key, members[key]!) { out += "   ← " + n }
                out += "\n"
            }
            out += indent + "}"
        case .array(let items) where !items.isEmpty:
            if items.allSatisfy({ $0.arrayValue == nil && $0.objectValue == nil }) {
                out += value.serialized  // short scalar lists on one line
                return
            }
            out += "[\n"
            for (i, item) in items.enumerated() {
                out += indent + "  "
                write(item, indent: indent + "  ", topLevel: false, note: { _, _ in nil }, into: &out)
                out += i < items.count - 1 ? ",\n" : "\n"
            }
            out += indent + "]"
        default:
            out += value.serialized
        }
    }

    /// The note for a JWT time claim: `2023-11-14T22:13:20Z (in 5 min)`.
    static func timeClaimNote(now: Double) -> (String, JSONValue) -> String? {
        { key, value in
            guard ["exp", "nbf", "iat", "auth_time"].contains(key), let t = value.numberValue else { return nil }
            return "\(TimeText.rfc3339(t)) (\(TimeText.relative(t, now: now)))"
        }
    }
}
