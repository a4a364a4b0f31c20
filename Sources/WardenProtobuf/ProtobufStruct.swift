/// `google.protobuf.Struct`: a JSON object (`fields = 1`, map<string, Value>).
public struct ProtobufStruct: ProtobufMessage, ExpressibleByDictionaryLiteral {
    public var fields: [String: ProtobufValue]

    public init() { fields = [:] }

    public init(fields: [String: ProtobufValue]) { self.fields = fields }

    public init(dictionaryLiteral elements: (String, ProtobufValue)...) {
        fields = Dictionary(elements, uniquingKeysWith: { _, last in last })
    }

    public subscript(key: String) -> ProtobufValue? {
        get { fields[key] }
        set { fields[key] = newValue }
    }

    public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1: try reader.readMessageMapEntry(tag, into: &fields)
        default: try reader.skip(tag)
        }
    }

    public func encode(to writer: inout ProtobufWriter) {
        writer.writeMessageMap(fields, field: 1)
    }
}

/// `google.protobuf.Value`: one JSON value (the oneof `kind`).
///
/// A `Value` with no member of `kind` set decodes as `.null`; encoding always writes the member.
public enum ProtobufValue: ProtobufMessage, ExpressibleByStringLiteral, ExpressibleByFloatLiteral,
    ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    /// `null_value = 1` (NullValue.NULL_VALUE).
    case null
    /// `number_value = 2`.
    case number(Double)
    /// `string_value = 3`.
    case string(String)
    /// `bool_value = 4`.
    case bool(Bool)
    /// `struct_value = 5`.
    case structValue(ProtobufStruct)
    /// `list_value = 6` (the `ListValue`'s values).
    case listValue([ProtobufValue])

    public init() { self = .null }
    public init(nilLiteral: ()) { self = .null }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: ProtobufValue...) { self = .listValue(elements) }
    public init(dictionaryLiteral elements: (String, ProtobufValue)...) {
        self = .structValue(ProtobufStruct(fields: Dictionary(elements, uniquingKeysWith: { _, last in last })))
    }

    public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1:
            _ = try reader.readEnum(tag)
            self = .null
        case 2: self = .number(try reader.readDouble(tag))
        case 3: self = .string(try reader.readString(tag))
        case 4: self = .bool(try reader.readBool(tag))
        case 5:
            var s = ProtobufStruct()
            if case .structValue(let existing) = self { s = existing }
            try reader.readMessage(tag, into: &s)
            self = .structValue(s)
        case 6:
            var list = ProtobufListValue()
            if case .listValue(let existing) = self { list.values = existing }
            try reader.readMessage(tag, into: &list)
            self = .listValue(list.values)
        default: try reader.skip(tag)
        }
    }

    public func encode(to writer: inout ProtobufWriter) {
        switch self {
        case .null: writer.writeEnum(0, field: 1, always: true)
        case .number(let v): writer.writeDouble(v, field: 2, always: true)
        case .string(let v): writer.writeString(v, field: 3, always: true)
        case .bool(let v): writer.writeBool(v, field: 4, always: true)
        case .structValue(let v): writer.writeMessage(v, field: 5)
        case .listValue(let v): writer.writeMessage(ProtobufListValue(values: v), field: 6)
        }
    }
}

/// `google.protobuf.ListValue`: a JSON array (`values = 1`).
public struct ProtobufListValue: ProtobufMessage, ExpressibleByArrayLiteral {
    public var values: [ProtobufValue]

    public init() { values = [] }
    public init(values: [ProtobufValue]) { self.values = values }
    public init(arrayLiteral elements: ProtobufValue...) { values = elements }

    public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1: values.append(try reader.readMessage(tag, as: ProtobufValue.self))
        default: try reader.skip(tag)
        }
    }

    public func encode(to writer: inout ProtobufWriter) {
        writer.writeRepeatedMessages(values, field: 1)
    }
}
