/// `google.protobuf.Timestamp`: seconds and nanoseconds since the Unix epoch.
public struct ProtobufTimestamp: ProtobufMessage, Hashable {
    /// `seconds = 1`.
    public var seconds: Int64
    /// `nanos = 2` (0 ..< 1_000_000_000 when valid; not enforced).
    public var nanos: Int32

    public init() { seconds = 0; nanos = 0 }

    public init(seconds: Int64, nanos: Int32 = 0) {
        self.seconds = seconds
        self.nanos = nanos
    }

    public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1: seconds = try reader.readInt64(tag)
        case 2: nanos = try reader.readInt32(tag)
        default: try reader.skip(tag)
        }
    }

    public func encode(to writer: inout ProtobufWriter) {
        writer.writeInt64(seconds, field: 1)
        writer.writeInt32(nanos, field: 2)
    }
}

/// `google.protobuf.Any`: a type URL and the serialized message (kept as bytes, not unpacked).
public struct ProtobufAny: ProtobufMessage, Hashable {
    /// `type_url = 1`.
    public var typeURL: String
    /// `value = 2`.
    public var value: [UInt8]

    public init() { typeURL = ""; value = [] }

    public init(typeURL: String, value: [UInt8]) {
        self.typeURL = typeURL
        self.value = value
    }

    public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1: typeURL = try reader.readString(tag)
        case 2: value = try reader.readBytes(tag)
        default: try reader.skip(tag)
        }
    }

    public func encode(to writer: inout ProtobufWriter) {
        writer.writeString(typeURL, field: 1)
        writer.writeBytes(value, field: 2)
    }
}

/// `google.protobuf.BoolValue`: a boxed bool (`value = 1`), used where presence matters.
public struct ProtobufBoolValue: ProtobufMessage, Hashable {
    public var value: Bool

    public init() { value = false }
    public init(_ value: Bool) { self.value = value }

    public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1: value = try reader.readBool(tag)
        default: try reader.skip(tag)
        }
    }

    public func encode(to writer: inout ProtobufWriter) {
        writer.writeBool(value, field: 1)
    }
}
