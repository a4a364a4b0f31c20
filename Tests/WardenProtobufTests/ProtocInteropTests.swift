import Testing
import WardenExtAuthz
import WardenProtobuf

/// Byte-for-byte interop with `protoc --encode/--decode` on the project's `proto/` files.
@Suite("protoc interop")
struct ProtocInteropTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var type: String
        var file: String
        var text: String
        var swiftBytes: [UInt8]
        /// Decodes with Swift and compares to the Swift value the case was built from.
        var decodesToSameValue: @Sendable ([UInt8]) throws -> Bool
        var testDescription: String { name }

        init<M: ProtobufMessage>(_ name: String, _ type: String, _ file: String, _ value: M, _ text: String) {
            self.name = name
            self.type = type
            self.file = file
            self.text = text
            self.swiftBytes = value.serializedBytes()
            self.decodesToSameValue = { bytes in try M(serializedBytes: bytes) == value }
        }
    }

    static let auth = "envoy/service/auth/v3/external_auth.proto"

    static let cases: [Case] = [
        Case("CheckRequest with many headers, unicode, metadata", "envoy.service.auth.v3.CheckRequest", auth,
             Fixtures.richCheckRequest, Fixtures.richCheckRequestText),
        Case("CheckRequest with header_map, pipe and internal addresses", "envoy.service.auth.v3.CheckRequest", auth,
             Fixtures.rawHeadersCheckRequest, Fixtures.rawHeadersCheckRequestText),
        Case("empty CheckRequest", "envoy.service.auth.v3.CheckRequest", auth, CheckRequest(), ""),
        Case("CheckResponse allow with every field", "envoy.service.auth.v3.CheckResponse", auth,
             Fixtures.allowEverything, Fixtures.allowEverythingText),
        Case("CheckResponse deny 401", "envoy.service.auth.v3.CheckResponse", auth,
             Fixtures.denyUnauthenticated, Fixtures.denyUnauthenticatedText),
        Case("CheckResponse error_response, negative code, details", "envoy.service.auth.v3.CheckResponse", auth,
             Fixtures.errorResponse, Fixtures.errorResponseText),
        Case("CheckResponse deny 403 RBAC", "envoy.service.auth.v3.CheckResponse", auth,
             CheckResponse(status: RPCStatus(code: 7), httpResponse: .deniedResponse(DeniedHttpResponse(code: .forbidden, body: "RBAC: access denied"))),
             #"status { code: 7 } denied_response { status { code: Forbidden } body: "RBAC: access denied" }"#),
        Case("SocketAddress named port, UDP", "envoy.config.core.v3.SocketAddress", "envoy/config/core/v3/address.proto",
             SocketAddress(protocol: .udp, address: "dns.local", portSpecifier: .namedPort("dns"), resolverName: "r", ipv4Compat: true, networkNamespaceFilepath: "/var/run/netns/x"),
             #"protocol: UDP address: "dns.local" named_port: "dns" resolver_name: "r" ipv4_compat: true network_namespace_filepath: "/var/run/netns/x""#),
        Case("HealthCheckRequest", "grpc.health.v1.HealthCheckRequest", "grpc/health/v1/health.proto",
             HealthCheckRequest(service: "envoy.service.auth.v3.Authorization"), #"service: "envoy.service.auth.v3.Authorization""#),
        Case("HealthCheckResponse SERVING", "grpc.health.v1.HealthCheckResponse", "grpc/health/v1/health.proto",
             HealthCheckResponse(status: .serving), "status: SERVING"),
        Case("HealthCheckResponse SERVICE_UNKNOWN", "grpc.health.v1.HealthCheckResponse", "grpc/health/v1/health.proto",
             HealthCheckResponse(status: .serviceUnknown), "status: SERVICE_UNKNOWN"),
        Case("Struct with every kind of value", "google.protobuf.Struct", "google/protobuf/struct.proto",
             Fixtures.jwtClaims, Fixtures.jwtClaimsText),
        Case("Timestamp before the epoch", "google.protobuf.Timestamp", "google/protobuf/timestamp.proto",
             ProtobufTimestamp(seconds: -62_135_596_800, nanos: 999_999_999), "seconds: -62135596800 nanos: 999999999"),
    ]

    @Test("Swift encodes exactly what protoc --encode produces", arguments: cases)
    func swiftMatchesProtocEncode(_ c: Case) throws {
        let expected = try Support.protocEncode(c.type, file: c.file, text: c.text)
        #expect(c.swiftBytes.hex == expected.hex)
    }

    @Test("Swift decodes protoc's encoding to the same value", arguments: cases)
    func swiftDecodesProtoc(_ c: Case) throws {
        let bytes = try Support.protocEncode(c.type, file: c.file, text: c.text)
        #expect(try c.decodesToSameValue(bytes))
    }

    @Test("protoc --decode reads Swift's encoding as the same message", arguments: cases)
    func protocDecodesSwift(_ c: Case) throws {
        let fromSwift = try Support.protocDecode(c.type, file: c.file, bytes: c.swiftBytes)
        let canonical = try Support.protocDecode(c.type, file: c.file, bytes: try Support.protocEncode(c.type, file: c.file, text: c.text))
        #expect(fromSwift == canonical)
    }

    @Test("map entries in any order decode to the same dictionary")
    func unsortedMapOrder() throws {
        let keys = (0..<50).map { "k\($0)" }.shuffled()
        let text = "attributes { request { http { " + keys.map { "headers { key: \"\($0)\" value: \"v-\($0)\" }" }.joined(separator: " ") + " } } }"
        let bytes = try Support.protocEncode("envoy.service.auth.v3.CheckRequest", file: Self.auth, text: text)
        let decoded = try CheckRequest(serializedBytes: bytes)
        #expect(decoded.attributes.request.http.headers == Dictionary(uniqueKeysWithValues: keys.map { ($0, "v-\($0)") }))
    }

    @Test("fields from a newer schema are skipped at every level")
    func unknownFieldsFromNewerSchema() throws {
        let fixtures = Support.packageRoot.appendingPathComponent("Tests/WardenProtobufTests/Fixtures").path
        let text = """
            attributes {
              added_map { key: "m" value { a: "x" b { b { a: "deep" } } } }
              source { principal: "spiffe://a/ns/b/sa/c" }
              request {
                added: -7
                http {
                  added_packed: [-1, 2, -300]
                  id: "1" method: "GET" path: "/x"
                  headers { key: "a" value: "1" }
                  added_varint: 18446744073709551615 added_fixed32: 7 added_fixed64: 9 added_bytes: "\\377\\000"
                  added_message { a: "n" b { a: "m" } } added_double: 2.5
                }
              }
              context_extensions { key: "k" value: "v" }
              added_string: "new"
            }
            added: "x" added: "y" added_negative: -5
            """
        let bytes = try Support.protoc(["-I", fixtures, "--encode=warden.test.FutureCheckRequest", "future.proto"], stdin: Array(text.utf8))
        let decoded = try CheckRequest(serializedBytes: bytes)
        let expected = CheckRequest(attributes: AttributeContext(
            source: .init(address: nil, principal: "spiffe://a/ns/b/sa/c"),
            request: .init(http: .init(id: "1", method: "GET", headers: ["a": "1"], path: "/x")),
            contextExtensions: ["k": "v"]))
        #expect(decoded == expected)
    }
}
