import Testing
import WardenProtobuf

/// The well-known types against the reference encoders: Fixtures/wire/NAME.txtpb encoded by `protoc --encode`
/// (NAME.protoc.binpb) and by xds-protos (NAME.xds.binpb). Tests/IntegrationTests/test_swift_fixtures.py
/// regenerates both and checks that xds-protos reads the protoc bytes as the text's message, so equal bytes
/// here mean both reference implementations agree with Swift.
@Suite("Reference encodings of well-known types (protoc, xds-protos)")
struct ReferenceEncodingTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var swiftBytes: [UInt8]
        var decodesToSameValue: @Sendable ([UInt8]) throws -> Bool
        var testDescription: String { name }

        init<M: ProtobufMessage>(_ name: String, _ value: M) {
            self.name = name
            self.swiftBytes = value.serializedBytes()
            self.decodesToSameValue = { bytes in try M(serializedBytes: bytes) == value }
        }
    }

    static let unicode = "üñíçødé ✓ 日本語 🚀 \u{0}"

    static let cases: [Case] = [
        Case("struct-every-kind-of-value", [
            "aud": ["orders", 3.5, true, nil, ["nested": "x"]],
            "exp": 1_732_460_000,
            "iss": "https://issuer.example",
            "sub": .string(unicode),
        ] as ProtobufStruct),
        Case("timestamp-before-the-epoch", ProtobufTimestamp(seconds: -62_135_596_800, nanos: 999_999_999)),
        Case("struct-three-levels-leaf-120", NestedLengthTests.nested(depth: 3, leaf: 120)),
        Case("struct-three-levels-leaf-16370", NestedLengthTests.nested(depth: 3, leaf: 16_370)),
    ]

    @Test("Swift encodes exactly what protoc --encode produces", arguments: cases)
    func swiftMatchesProtoc(_ c: Case) throws {
        #expect(c.swiftBytes.hex == (try Golden.protoc(c.name)).hex)
    }

    @Test("Swift decodes protoc's encoding to the same value", arguments: cases)
    func swiftDecodesProtoc(_ c: Case) throws {
        #expect(try c.decodesToSameValue(try Golden.protoc(c.name)))
    }

    @Test("Swift decodes xds-protos' encoding to the same value", arguments: cases)
    func swiftDecodesXdsProtos(_ c: Case) throws {
        #expect(try c.decodesToSameValue(try Golden.xds(c.name)))
    }

    @Test("every golden in Fixtures/wire has a case")
    func everyGoldenIsChecked() throws {
        #expect(try Golden.names() == Set(Self.cases.map(\.name)))
    }
}
