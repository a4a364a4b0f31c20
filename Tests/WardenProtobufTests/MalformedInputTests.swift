import Testing
import WardenProtobuf

/// Malformed input is a typed error with the offset of the offending item, never a crash.
@Suite("Malformed input")
struct MalformedInputTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var hex: String
        var decode: @Sendable ([UInt8]) throws(ProtobufDecodeError) -> Void
        var expected: ProtobufDecodeError
        var testDescription: String { name }
    }

    /// `string name = 1` (the shape of grpc.health.v1.HealthCheckRequest).
    static func string(_ b: [UInt8]) throws(ProtobufDecodeError) { _ = try StringMessage(serializedBytes: b) }
    /// `Status status = 1`, an enum (the shape of grpc.health.v1.HealthCheckResponse).
    static func enumeration(_ b: [UInt8]) throws(ProtobufDecodeError) { _ = try EnumMessage(serializedBytes: b) }
    static func value(_ b: [UInt8]) throws(ProtobufDecodeError) { _ = try ProtobufValue(serializedBytes: b) }
    static func structure(_ b: [UInt8]) throws(ProtobufDecodeError) { _ = try ProtobufStruct(serializedBytes: b) }

    static let cases: [Case] = [
        Case(name: "truncated varint value", hex: "08ff", decode: enumeration,
             expected: .init(.truncatedVarint, at: 1)),
        Case(name: "truncated tag", hex: "0a0161ff", decode: string, expected: .init(.truncatedVarint, at: 3)),
        Case(name: "11-byte varint", hex: "08ffffffffffffffffffff01", decode: enumeration,
             expected: .init(.varintTooLong, at: 1)),
        Case(name: "length past end", hex: "0a056162", decode: string, expected: .init(.lengthPastEnd(length: 5), at: 1)),
        Case(name: "length of 2 GB", hex: "0affffffff07", decode: string, expected: .init(.lengthPastEnd(length: 2_147_483_647), at: 1)),
        Case(name: "length of 2^64-1", hex: "0affffffffffffffffff01", decode: string, expected: .init(.lengthPastEnd(length: UInt64.max), at: 1)),
        Case(name: "length past the end of the enclosing message", hex: "0a03220500", decode: structure,
             expected: .init(.lengthPastEnd(length: 5), at: 3)),
        Case(name: "wrong wire type for a known string field", hex: "0d00000000", decode: string,
             expected: .init(.wrongWireType(fieldNumber: 1, wireType: .fixed32), at: 0)),
        Case(name: "wrong wire type for a known message field", hex: "0801", decode: structure,
             expected: .init(.wrongWireType(fieldNumber: 1, wireType: .varint), at: 0)),
        Case(name: "wrong wire type for a double", hex: "1000", decode: value,
             expected: .init(.wrongWireType(fieldNumber: 2, wireType: .varint), at: 0)),
        Case(name: "field number 0", hex: "0001", decode: string, expected: .init(.fieldNumberZero, at: 0)),
        Case(name: "field number 0 after a valid field", hex: "0a01610200", decode: string, expected: .init(.fieldNumberZero, at: 3)),
        Case(name: "field number above 2^29-1", hex: "8080808010", decode: string, expected: .init(.fieldNumberTooLarge(536_870_912), at: 0)),
        Case(name: "wire type 6", hex: "0e", decode: string, expected: .init(.invalidWireType(6), at: 0)),
        Case(name: "wire type 7", hex: "0a00" + "0f", decode: string, expected: .init(.invalidWireType(7), at: 2)),
        Case(name: "truncated fixed64", hex: "110000", decode: value, expected: .init(.unexpectedEnd, at: 1)),
        Case(name: "truncated unknown fixed32", hex: "7d0000", decode: string, expected: .init(.unexpectedEnd, at: 1)),
        Case(name: "unmatched end group", hex: "7c", decode: string, expected: .init(.unmatchedEndGroup(fieldNumber: 15), at: 0)),
        Case(name: "end group for another field", hex: "7b8401", decode: string,
             expected: .init(.unmatchedEndGroup(fieldNumber: 16), at: 1)),
        Case(name: "unterminated group", hex: "7b0801", decode: string, expected: .init(.unexpectedEnd, at: 3)),
        Case(name: "invalid UTF-8 in a string field", hex: "0a02c328", decode: string, expected: .init(.invalidUTF8(fieldNumber: 1), at: 2)),
        Case(name: "invalid UTF-8 in a map key", hex: "0a05" + "0a03ff6161", decode: structure, expected: .init(.invalidUTF8(fieldNumber: 1), at: 4)),
    ]

    @Test(arguments: cases)
    func rejected(_ c: Case) {
        #expect(throws: c.expected) { try c.decode([UInt8](hex: c.hex)) }
    }

    /// ListValue{values: Value{list_value: ListValue{…}}} nested `levels` times; returns the bytes
    /// and the offset of each nested message's tag.
    static func nestedLists(levels: Int) -> (bytes: [UInt8], tagOffsets: [Int]) {
        var inner: [UInt8] = []
        var headers: [[UInt8]] = []
        for level in 0..<levels {
            var w = ProtobufWriter()
            w.writeTag(level % 2 == 0 ? 6 : 1, .lengthDelimited)  // Value.list_value / ListValue.values
            w.writeRawVarint(UInt64(inner.count))
            headers.append(w.bytes)
            inner = w.bytes + inner
        }
        var offsets: [Int] = []
        var at = 0
        for h in headers.reversed() {
            offsets.append(at)
            at += h.count
        }
        return (inner, offsets)
    }

    @Test("nesting deeper than the bound", arguments: [(2, 3), (63, 64), (64, 64), (65, 64), (200, 64), (200, 100)])
    func nesting(levels: Int, maxDepth: Int) {
        let (bytes, offsets) = Self.nestedLists(levels: levels)
        // The outermost message is a Value when `levels` is odd, a ListValue when even.
        let decode: () throws(ProtobufDecodeError) -> Void = levels % 2 == 1
            ? { () throws(ProtobufDecodeError) in _ = try ProtobufValue(serializedBytes: bytes, maxDepth: maxDepth) }
            : { () throws(ProtobufDecodeError) in _ = try ProtobufListValue(serializedBytes: bytes, maxDepth: maxDepth) }
        if levels <= maxDepth {
            #expect(throws: Never.self) { try decode() }
        } else {
            #expect(throws: ProtobufDecodeError(.nestingTooDeep(limit: maxDepth), at: offsets[maxDepth])) { try decode() }
        }
    }
}
