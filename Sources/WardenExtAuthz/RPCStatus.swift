/// `google.rpc.Status`: the gRPC-style status of a check. Code 0 (OK) allows; any other code
/// denies (7 PERMISSION_DENIED, 16 UNAUTHENTICATED are the usual ones).
public struct RPCStatus: ProtobufMessage {
    /// `code = 1`: a `google.rpc.Code` value.
    public var code: Int32
    /// `message = 2`: developer-facing text.
    public var message: String
    /// `details = 3`.
    public var details: [ProtobufAny]

    public init() { self.init(code: 0) }

    public init(code: Int32, message: String = "", details: [ProtobufAny] = []) {
        self.code = code
        self.message = message
        self.details = details
    }

    public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1: code = try reader.readInt32(tag)
        case 2: message = try reader.readString(tag)
        case 3: details.append(try reader.readMessage(tag, as: ProtobufAny.self))
        default: try reader.skip(tag)
        }
    }

    public func encode(to writer: inout ProtobufWriter) {
        writer.writeInt32(code, field: 1)
        writer.writeString(message, field: 2)
        writer.writeRepeatedMessages(details, field: 3)
    }
}
