/// Why a JSON text was rejected; `offset` is the byte position where parsing stopped.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case unexpectedEnd
        case unexpectedByte(UInt8)
        case invalidNumber
        case invalidString
        case invalidEscape
        case invalidUTF8
        case duplicateKey(String)
        case tooDeep(limit: Int)
        case tooLarge(limit: Int)
        case trailingData
    }

    public var kind: Kind
    public var offset: Int

    public init(_ kind: Kind, at offset: Int) {
        self.kind = kind
        self.offset = offset
    }

    public var description: String {
        switch kind {
        case .unexpectedEnd: return "unexpected end of JSON at byte \(offset)"
        case .unexpectedByte(let b): return "unexpected byte 0x\(String(b, radix: 16)) at byte \(offset)"
        case .invalidNumber: return "invalid number at byte \(offset)"
        case .invalidString: return "invalid string at byte \(offset)"
        case .invalidEscape: return "invalid escape at byte \(offset)"
        case .invalidUTF8: return "invalid UTF-8 at byte \(offset)"
        case .duplicateKey(let k): return "duplicate key \"\(k)\" at byte \(offset)"
        case .tooDeep(let limit): return "nesting deeper than \(limit) at byte \(offset)"
        case .tooLarge(let limit): return "document larger than \(limit) bytes"
        case .trailingData: return "data after the JSON value at byte \(offset)"
        }
    }
}
