/// `envoy.service.auth.v3.CheckRequest`: what Envoy asks Warden about one request.
///
/// ```swift
/// let request = try CheckRequest(serializedBytes: body)
/// let headers = request.attributes.request.http.headers   // [String: String], lower-case keys
/// ```
public struct CheckRequest: ProtobufMessage {
    /// `attributes = 1`.
    @MessageField public var attributes: AttributeContext

    public init() { _attributes = MessageField() }

    public init(attributes: AttributeContext) { _attributes = MessageField(attributes) }

    public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1: try reader.readMessage(tag, into: &$attributes)
        default: try reader.skip(tag)
        }
    }

    public func encode(to writer: inout ProtobufWriter) {
        writer.writeMessage($attributes, field: 1)
    }
}
