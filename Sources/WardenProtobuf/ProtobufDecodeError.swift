/// Why a protobuf message was rejected; `offset` is the byte position (from the start of the
/// input) where the offending item begins: the tag, the varint or the length prefix.
///
/// The decoder is strict where protobuf implementations differ: a known field sent with the wrong
/// wire type is an error (not an unknown field), and invalid UTF-8 in a `string` field is an error.
/// Unknown fields of every valid wire type, including (deprecated) groups, are skipped.
public struct ProtobufDecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// One case per cause.
    public enum Kind: Sendable, Equatable {
        /// The input ended inside a varint.
        case truncatedVarint
        /// A varint ran past 10 bytes.
        case varintTooLong
        /// The input ended inside a fixed32/fixed64 value or an unterminated group.
        case unexpectedEnd
        /// A length prefix claims more bytes than the enclosing message holds.
        case lengthPastEnd(length: UInt64)
        /// Wire type 6 or 7.
        case invalidWireType(UInt8)
        /// A tag with field number 0.
        case fieldNumberZero
        /// A tag whose field number exceeds 2^29 - 1.
        case fieldNumberTooLarge(UInt64)
        /// A known field arrived with a wire type its declared type cannot have.
        case wrongWireType(fieldNumber: Int, wireType: WireType)
        /// Messages (or groups) nested deeper than the reader's `maxDepth`.
        case nestingTooDeep(limit: Int)
        /// A `string` field that is not valid UTF-8.
        case invalidUTF8(fieldNumber: Int)
        /// An end-group tag with no matching start-group tag.
        case unmatchedEndGroup(fieldNumber: Int)
        /// A packed repeated field whose payload ends inside an element.
        case truncatedPackedField(fieldNumber: Int)
    }

    public var kind: Kind
    public var offset: Int

    public init(_ kind: Kind, at offset: Int) {
        self.kind = kind
        self.offset = offset
    }

    public var description: String {
        switch kind {
        case .truncatedVarint: return "truncated varint at byte \(offset)"
        case .varintTooLong: return "varint longer than 10 bytes at byte \(offset)"
        case .unexpectedEnd: return "unexpected end of message at byte \(offset)"
        case .lengthPastEnd(let length): return "length \(length) runs past the end of the message at byte \(offset)"
        case .invalidWireType(let w): return "invalid wire type \(w) at byte \(offset)"
        case .fieldNumberZero: return "field number 0 at byte \(offset)"
        case .fieldNumberTooLarge(let n): return "field number \(n) out of range at byte \(offset)"
        case .wrongWireType(let field, let wireType): return "field \(field) has wrong wire type \(wireType) at byte \(offset)"
        case .nestingTooDeep(let limit): return "messages nested deeper than \(limit) at byte \(offset)"
        case .invalidUTF8(let field): return "invalid UTF-8 in string field \(field) at byte \(offset)"
        case .unmatchedEndGroup(let field): return "unmatched end-group tag for field \(field) at byte \(offset)"
        case .truncatedPackedField(let field): return "packed field \(field) ends inside an element at byte \(offset)"
        }
    }
}
