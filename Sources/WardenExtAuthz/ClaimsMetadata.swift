import WardenJSON
import WardenProtobuf

/// JSON claims written straight as `google.protobuf.Struct` fields, byte for byte what encoding
/// `ProtobufStruct(fields: claims.mapValues(ProtobufValue.init))` gives (keys sorted), without
/// building that intermediate dictionary of values first (it re-hashed every claim name per check).
enum ClaimsMetadata {
    /// The fields (`map<string, Value> fields = 1`) of a Struct holding `object`.
    static func writeStructFields(_ object: [String: JSONValue], to w: inout ProtobufWriter) {
        if object.count == 1, let (key, value) = object.first {
            writeEntry(key, value, to: &w)
            return
        }
        for (key, value) in object.sorted(by: { $0.key < $1.key }) { writeEntry(key, value, to: &w) }
    }

    private static func writeEntry(_ key: String, _ value: JSONValue, to w: inout ProtobufWriter) {
        w.writeNested(field: 1) { e in
            e.writeString(key, field: 1, always: true)
            e.writeNested(field: 2) { writeValue(value, to: &$0) }
        }
    }

    /// The one `kind` member of a `google.protobuf.Value`.
    private static func writeValue(_ value: JSONValue, to w: inout ProtobufWriter) {
        switch value {
        case .null: w.writeEnum(0, field: 1, always: true)
        case .number(let n): w.writeDouble(n, field: 2, always: true)
        case .string(let s): w.writeString(s, field: 3, always: true)
        case .bool(let b): w.writeBool(b, field: 4, always: true)
        case .object(let o): w.writeNested(field: 5) { writeStructFields(o, to: &$0) }
        case .array(let a):
            w.writeNested(field: 6) { list in
                for element in a { list.writeNested(field: 1) { writeValue(element, to: &$0) } }
            }
        }
    }
}
