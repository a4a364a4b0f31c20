import Testing
import WardenExtAuthz
import WardenProtobuf

/// Malformed Envoy messages are a typed error with the offset of the offending item, also deep inside
/// nested messages (the codec's own cases, on minimal messages, are in WardenProtobufTests).
@Suite("Malformed Envoy messages")
struct MalformedMessageTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var hex: String
        var decode: @Sendable ([UInt8]) throws(ProtobufDecodeError) -> Void
        var expected: ProtobufDecodeError
        var testDescription: String { name }
    }

    static func check(_ b: [UInt8]) throws(ProtobufDecodeError) { _ = try CheckRequest(serializedBytes: b) }
    static func response(_ b: [UInt8]) throws(ProtobufDecodeError) { _ = try CheckResponse(serializedBytes: b) }
    static func health(_ b: [UInt8]) throws(ProtobufDecodeError) { _ = try HealthCheckRequest(serializedBytes: b) }

    static let cases: [Case] = [
        Case(name: "length past the end of the enclosing message", hex: "0a03220500", decode: check,
             expected: .init(.lengthPastEnd(length: 5), at: 3)),
        Case(name: "wrong wire type for a known message field", hex: "0801", decode: check,
             expected: .init(.wrongWireType(fieldNumber: 1, wireType: .varint), at: 0)),
        Case(name: "invalid UTF-8 (surrogate) in a header value, 4 messages deep",
             hex: "0a0e" + "220c" + "120a" + "1a08" + "0a0161" + "1203eda080", decode: check,
             expected: .init(.invalidUTF8(fieldNumber: 2), at: 13)),
        Case(name: "invalid UTF-8 in a map key", hex: "0a0e" + "220c" + "120a" + "1a08" + "0a03ff6161" + "120162", decode: check,
             expected: .init(.invalidUTF8(fieldNumber: 1), at: 10)),
        Case(name: "invalid UTF-8 in the denied body", hex: "1203" + "1a01" + "80", decode: response,
             expected: .init(.invalidUTF8(fieldNumber: 3), at: 4)),
        Case(name: "invalid UTF-8 in the health check service", hex: "0a02c328", decode: health,
             expected: .init(.invalidUTF8(fieldNumber: 1), at: 2)),
        Case(name: "wrong wire type for the health check service", hex: "0d00000000", decode: health,
             expected: .init(.wrongWireType(fieldNumber: 1, wireType: .fixed32), at: 0)),
    ]

    @Test(arguments: cases)
    func rejected(_ c: Case) {
        #expect(throws: c.expected) { try c.decode([UInt8](hex: c.hex)) }
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
