import Testing
import WardenExtAuthz
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

    static func health(_ b: [UInt8]) throws(ProtobufDecodeError) { _ = try HealthCheckRequest(serializedBytes: b) }
    static func value(_ b: [UInt8]) throws(ProtobufDecodeError) { _ = try ProtobufValue(serializedBytes: b) }
    static func check(_ b: [UInt8]) throws(ProtobufDecodeError) { _ = try CheckRequest(serializedBytes: b) }
    static func response(_ b: [UInt8]) throws(ProtobufDecodeError) { _ = try CheckResponse(serializedBytes: b) }

    static let cases: [Case] = [
        Case(name: "truncated varint value", hex: "08ff", decode: { (b) throws(ProtobufDecodeError) in _ = try HealthCheckResponse(serializedBytes: b) },
             expected: .init(.truncatedVarint, at: 1)),
        Case(name: "truncated tag", hex: "0a0161ff", decode: health, expected: .init(.truncatedVarint, at: 3)),
        Case(name: "11-byte varint", hex: "08ffffffffffffffffffff01", decode: { (b) throws(ProtobufDecodeError) in _ = try HealthCheckResponse(serializedBytes: b) },
             expected: .init(.varintTooLong, at: 1)),
        Case(name: "length past end", hex: "0a056162", decode: health, expected: .init(.lengthPastEnd(length: 5), at: 1)),
        Case(name: "length of 2 GB", hex: "0affffffff07", decode: health, expected: .init(.lengthPastEnd(length: 2_147_483_647), at: 1)),
        Case(name: "length of 2^64-1", hex: "0affffffffffffffffff01", decode: health, expected: .init(.lengthPastEnd(length: UInt64.max), at: 1)),
        Case(name: "length past the end of the enclosing message", hex: "0a03220500", decode: check,
             expected: .init(.lengthPastEnd(length: 5), at: 3)),
        Case(name: "wrong wire type for a known string field", hex: "0d00000000", decode: health,
             expected: .init(.wrongWireType(fieldNumber: 1, wireType: .fixed32), at: 0)),
        Case(name: "wrong wire type for a known message field", hex: "0801", decode: check,
             expected: .init(.wrongWireType(fieldNumber: 1, wireType: .varint), at: 0)),
        Case(name: "wrong wire type for a double", hex: "1000", decode: value,
             expected: .init(.wrongWireType(fieldNumber: 2, wireType: .varint), at: 0)),
        Case(name: "field number 0", hex: "0001", decode: health, expected: .init(.fieldNumberZero, at: 0)),
        Case(name: "field number 0 after a valid field", hex: "0a01610200", decode: health, expected: .init(.fieldNumberZero, at: 3)),
        Case(name: "field number above 2^29-1", hex: "8080808010", decode: health, expected: .init(.fieldNumberTooLarge(536_870_912), at: 0)),
        Case(name: "wire type 6", hex: "0e", decode: health, expected: .init(.invalidWireType(6), at: 0)),
        Case(name: "wire type 7", hex: "0a00" + "0f", decode: health, expected: .init(.invalidWireType(7), at: 2)),
        Case(name: "truncated fixed64", hex: "110000", decode: value, expected: .init(.unexpectedEnd, at: 1)),
        Case(name: "truncated unknown fixed32", hex: "7d0000", decode: health, expected: .init(.unexpectedEnd, at: 1)),
        Case(name: "unmatched end group", hex: "7c", decode: health, expected: .init(.unmatchedEndGroup(fieldNumber: 15), at: 0)),
        Case(name: "end group for another field", hex: "7b8401", decode: health,
             expected: .init(.unmatchedEndGroup(fieldNumber: 16), at: 1)),
        Case(name: "unterminated group", hex: "7b0801", decode: health, expected: .init(.unexpectedEnd, at: 3)),
        Case(name: "invalid UTF-8 in a string field", hex: "0a02c328", decode: health, expected: .init(.invalidUTF8(fieldNumber: 1), at: 2)),
        Case(name: "invalid UTF-8 (surrogate) in a header value, 4 messages deep",
             hex: "0a0e" + "220c" + "120a" + "1a08" + "0a0161" + "1203eda080", decode: check,
             expected: .init(.invalidUTF8(fieldNumber: 2), at: 13)),
        Case(name: "invalid UTF-8 in a map key", hex: "0a0e" + "220c" + "120a" + "1a08" + "0a03ff6161" + "120162", decode: check,
             expected: .init(.invalidUTF8(fieldNumber: 1), at: 10)),
        Case(name: "invalid UTF-8 in the denied body", hex: "1203" + "1a01" + "80", decode: response,
             expected: .init(.invalidUTF8(fieldNumber: 3), at: 4)),
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

    @Test("a deep Struct in metadata_context is rejected at the default bound of 64")
    func deepStructInCheckRequest() throws {
        var value: ProtobufValue = "leaf"
        for _ in 0..<40 { value = ["k": value] }
        let request = CheckRequest(attributes: AttributeContext(
            metadataContext: Metadata(filterMetadata: ["ns": ProtobufStruct(fields: ["deep": value])])))
        let bytes = request.serializedBytes()
        #expect {
            _ = try CheckRequest(serializedBytes: bytes)
        } throws: { error in
            (error as? ProtobufDecodeError)?.kind == .nestingTooDeep(limit: 64)
        }
        // With a higher bound the same input decodes and round-trips.
        #expect(try CheckRequest(serializedBytes: bytes, maxDepth: 200) == request)
    }
}
