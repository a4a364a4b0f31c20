/// A protobuf message with a hand-written codec over `ProtobufReader` / `ProtobufWriter`.
///
/// Unknown fields are skipped on decoding and not kept.
public protocol ProtobufMessage: Sendable, Equatable {
    /// The message with every field at its default.
    init()

    /// Decodes one field whose tag has just been read; unknown fields go to `reader.skip(tag)`.
    mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError)

    /// Appends the message's fields, in field-number order, following proto3 presence rules.
    func encode(to writer: inout ProtobufWriter)
}

extension ProtobufMessage {
    /// Decodes a message from its wire encoding.
    /// - Parameter maxDepth: nesting bound (default 64); deeper input throws `.nestingTooDeep`.
    /// - Throws: `ProtobufDecodeError` with the offset of the first malformed item.
    @inlinable
    public init(serializedBytes: [UInt8], maxDepth: Int = ProtobufReader.defaultMaxDepth) throws(ProtobufDecodeError) {
        self.init()
        var reader = ProtobufReader(bytes: serializedBytes, maxDepth: maxDepth)
        while let tag = try reader.nextTag() {
            try decodeField(tag, from: &reader)
        }
    }

    /// The wire encoding of the message (deterministic: map entries sorted by key).
    @inlinable
    public func serializedBytes() -> [UInt8] {
        var writer = ProtobufWriter()
        encode(to: &writer)
        return writer.bytes
    }
}

/// A singular message-typed field with explicit presence: reads as the default message when
/// absent, `$field` is the optional view (nil when absent) used for presence checks and encoding.
@propertyWrapper
public struct MessageField<Message: ProtobufMessage>: Sendable, Equatable {
    public var projectedValue: Message?

    @inlinable
    public init(wrappedValue: Message) {
        projectedValue = wrappedValue
    }

    public init(_ value: Message?) {
        projectedValue = value
    }

    public init() {
        projectedValue = nil
    }

    @inlinable
    public var wrappedValue: Message {
        get { projectedValue ?? Message() }
        set { projectedValue = newValue }
    }
}

extension MessageField: Hashable where Message: Hashable {}
