/// The six wire types of the protobuf encoding (3 and 4 are the deprecated groups).
public enum WireType: UInt8, Sendable, Equatable {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case startGroup = 3
    case endGroup = 4
    case fixed32 = 5
}

/// A decoded field key: field number, wire type and where the tag started in the input.
public struct ProtobufTag: Sendable, Equatable {
    /// The largest field number protobuf allows (2^29 - 1).
    public static let maxFieldNumber = 536_870_911

    public var fieldNumber: Int
    public var wireType: WireType
    /// Byte offset of the tag in the input, used in error reports.
    public var offset: Int

    public init(fieldNumber: Int, wireType: WireType, offset: Int = 0) {
        self.fieldNumber = fieldNumber
        self.wireType = wireType
        self.offset = offset
    }
}
