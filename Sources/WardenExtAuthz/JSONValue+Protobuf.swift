import WardenJSON
import WardenProtobuf

extension JSONValue {
    /// A `google.protobuf.Value` as the JSON value it stands for (dynamic metadata, for policies).
    /// Recursion is bounded by the decoder's nesting limit (64), which every decoded Value passed.
    init(_ value: ProtobufValue) {
        switch value {
        case .null: self = .null
        case .number(let n): self = .number(n)
        case .string(let s): self = .string(s)
        case .bool(let b): self = .bool(b)
        case .structValue(let s): self = .object(s.fields.mapValues(JSONValue.init))
        case .listValue(let items): self = .array(items.map(JSONValue.init))
        }
    }
}
