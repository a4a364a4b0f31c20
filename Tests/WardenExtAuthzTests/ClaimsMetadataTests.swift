import Testing
import WardenAuthz
@testable import WardenExtAuthz
import WardenJSON

/// The `jwt_payload` metadata is written straight from the JSON claims; it must be byte for byte the
/// encoding of the same claims as `google.protobuf.Struct` values (what Envoy decodes).
@Suite struct ClaimsMetadataTests {
    static let long = String(repeating: "x", count: 300)
    static let cases: [[String: JSONValue]] = [
        [:],
        ["sub": .string("alice")],
        ["a": .null, "b": .bool(false), "c": .bool(true), "d": .number(0), "e": .number(-0.0), "f": .number(1e300)],
        ["scope": .array([.string("read"), .string("write")]), "empty": .array([]), "obj": .object([:])],
        ["nested": .object(["z": .object(["y": .array([.object(["x": .number(1)]), .null])])]), "": .string("")],
        ["ü": .string("ü\u{0}"), "Z": .number(2), "a": .number(3), "é": .string("e\u{301}"), "k\u{0}": .bool(true)],
        ["big": .string(long), "list": .array(Array(repeating: .string(long), count: 60))],
        Dictionary(uniqueKeysWithValues: (0..<40).map { ("claim\($0)", JSONValue.number(Double($0) / 7)) }),
    ]

    @Test(arguments: cases)
    func sameBytesAsTheStructEncoding(_ claims: [String: JSONValue]) {
        var direct = ProtobufWriter()
        ClaimsMetadata.writeStructFields(claims, to: &direct)
        #expect(direct.bytes == ProtobufStruct(fields: claims.mapValues(ProtobufValue.init)).serializedBytes())
    }

    /// The fast allow encoder writes exactly the message encoder's bytes.
    @Test(arguments: cases)
    func allowAnswerIsTheDecisionsEncoding(_ claims: [String: JSONValue]) throws {
        var ok = AllowResponse()
        ok.headersToSet = [HTTPHeader("x-sub", "alice")]
        ok.headersToRemove = ["authorization"]
        ok.dynamicMetadata = claims.isEmpty ? [:] : ["jwt_payload": .object(claims)]
        let decision = Decision.allow(ok)
        let bytes = CheckResponse.serializedBytes(for: decision)
        #expect(bytes == CheckResponse(decision).serializedBytes())
        let decoded = try CheckResponse(serializedBytes: bytes)
        let expected: ProtobufValue? = claims.isEmpty ? Optional.none : ProtobufValue(.object(claims))
        #expect(decoded.dynamicMetadata["jwt_payload"] == expected)
    }
}
