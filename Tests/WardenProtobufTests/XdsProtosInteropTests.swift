import Testing
import WardenExtAuthz
import WardenProtobuf

/// Interop with the reference implementation Envoy's own clients use: `xds-protos` (Python, upb).
@Suite("xds-protos interop")
struct XdsProtosInteropTests {
    static let script = Support.packageRoot.appendingPathComponent("Tests/WardenProtobufTests/Fixtures/xds_interop.py").path

    static func helper(_ arguments: [String], stdin: [UInt8] = []) throws -> String {
        let out = try Support.run(Support.python, [script] + arguments, stdin: stdin)
        return String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("every message, enum and service in proto/ matches xds-protos field for field")
    func descriptorsMatchReference() throws {
        let files = [
            "envoy/service/auth/v3/external_auth.proto", "envoy/service/auth/v3/attribute_context.proto",
            "envoy/config/core/v3/address.proto", "envoy/config/core/v3/base.proto", "envoy/type/v3/http_status.proto",
            "google/rpc/status.proto", "grpc/health/v1/health.proto",
        ]
        let descriptorSet = try Support.protoc(["--include_imports", "--descriptor_set_out=/dev/stdout"] + files, stdin: [])
        let report = try Self.helper(["descriptors"], stdin: descriptorSet).split(separator: "\n").map(String.init)
        #expect(report.first == "checked 21")
        #expect(Array(report.dropFirst()) == [])
    }

    @Test("a CheckRequest built with the xds-protos API decodes in Swift")
    func decodePythonCheckRequest() throws {
        let bytes = [UInt8](hex: try Self.helper(["build-request"]))
        let request = try CheckRequest(serializedBytes: bytes)
        let a = request.attributes
        #expect(a.source.address.socketAddress == SocketAddress(address: "192.0.2.10", portValue: 44321))
        #expect(a.source.principal == "spiffe://cluster.local/ns/frontend/sa/web")
        #expect(a.destination.address.socketAddress?.portValue == 8080)
        #expect(a.destination.labels == ["app": "orders"])
        #expect(a.request.time == ProtobufTimestamp(seconds: 1_732_460_000, nanos: 5))
        let http = a.request.http
        #expect(http.id == "42")
        #expect(http.method == "GET")
        #expect(http.path == "/orders/7?verbose=1")
        #expect(http.host == "orders.example")
        #expect(http.scheme == "http")
        #expect(http.protocol == "HTTP/1.1")
        #expect(http.size == -1)
        #expect(http.headers == [
            ":authority": "orders.example", ":method": "GET", ":path": "/orders/7?verbose=1",
            "authorization": "Bearer abc.def.ghi", "x-unicode": "ünï ✓ 🚀",
        ])
        #expect(a.contextExtensions == ["tenant": "acme"])
        #expect(a.metadataContext.filterMetadata["envoy.filters.http.jwt_authn"] == [
            "sub": "alice", "groups": ["admins", "dev"], "n": 1.5, "ok": true, "none": nil,
        ])
        #expect(a.tlsSession.sni == "orders.example")
        #expect(a.$routeMetadataContext == nil)
        // Not compared byte for byte: upb's deterministic mode orders a map key after the keys
        // it is a prefix of ("none" before "n"); Warden sorts lexicographically like C++ and Go.
        #expect(try CheckRequest(serializedBytes: request.serializedBytes()) == request)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var type: String
        var text: String
        var swiftBytes: [UInt8]
        var decodesToSameValue: @Sendable ([UInt8]) throws -> Bool
        var testDescription: String { name }

        init<M: ProtobufMessage>(name: String, type: String, text: String, value: M) {
            self.name = name
            self.type = type
            self.text = text
            self.swiftBytes = value.serializedBytes()
            self.decodesToSameValue = { bytes in try M(serializedBytes: bytes) == value }
        }
    }

    static let cases: [Case] = [
        Case(name: "rich CheckRequest", type: "envoy.service.auth.v3.CheckRequest", text: Fixtures.richCheckRequestText,
             value: Fixtures.richCheckRequest),
        Case(name: "CheckRequest with header_map", type: "envoy.service.auth.v3.CheckRequest", text: Fixtures.rawHeadersCheckRequestText,
             value: Fixtures.rawHeadersCheckRequest),
        Case(name: "CheckResponse allow, every field", type: "envoy.service.auth.v3.CheckResponse", text: Fixtures.allowEverythingText,
             value: Fixtures.allowEverything),
        Case(name: "CheckResponse deny 401", type: "envoy.service.auth.v3.CheckResponse", text: Fixtures.denyUnauthenticatedText,
             value: Fixtures.denyUnauthenticated),
        Case(name: "CheckResponse error_response", type: "envoy.service.auth.v3.CheckResponse", text: Fixtures.errorResponseText,
             value: Fixtures.errorResponse),
        Case(name: "HealthCheckResponse", type: "grpc.health.v1.HealthCheckResponse", text: "status: NOT_SERVING",
             value: HealthCheckResponse(status: .notServing)),
    ]

    @Test("xds-protos parses Swift's encoding to the expected message", arguments: cases)
    func pythonParsesSwift(_ c: Case) throws {
        let verdict = try Self.helper(["check", c.type, Array(c.text.utf8).hex], stdin: Array(c.swiftBytes.hex.utf8))
        #expect(verdict == "EQUAL")
    }

    @Test("Swift decodes xds-protos' encoding of the same message to the same value", arguments: cases)
    func pythonEncodingDecodes(_ c: Case) throws {
        let python = [UInt8](hex: try Self.helper(["encode", c.type], stdin: Array(c.text.utf8)))
        #expect(try c.decodesToSameValue(python))
    }
}
