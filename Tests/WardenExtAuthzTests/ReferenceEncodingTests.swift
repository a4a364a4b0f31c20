import Testing
import WardenExtAuthz
import WardenProtobuf

/// The Envoy messages against the reference encoders: Fixtures/wire/NAME.txtpb (written against the
/// project's `proto/` files) encoded by `protoc --encode` (NAME.protoc.binpb) and by xds-protos, the upb-based
/// package Envoy's own clients use (NAME.xds.binpb).
///
/// Tests/IntegrationTests/test_swift_fixtures.py regenerates both from the text and checks that xds-protos
/// parses the protoc bytes as the text's message; so where Swift's encoding equals the protoc bytes, protoc
/// and xds-protos both read Swift's encoding as the intended message.
@Suite("Reference encodings of Envoy messages (protoc, xds-protos)")
struct ReferenceEncodingTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var swiftBytes: [UInt8]
        /// Decodes with Swift and compares to the Swift value the case was built from.
        var decodesToSameValue: @Sendable ([UInt8]) throws -> Bool
        var testDescription: String { name }

        init<M: ProtobufMessage>(_ name: String, _ value: M) {
            self.name = name
            self.swiftBytes = value.serializedBytes()
            self.decodesToSameValue = { bytes in try M(serializedBytes: bytes) == value }
        }
    }

    static let cases: [Case] = [
        Case("check-request-rich", Fixtures.richCheckRequest),
        Case("check-request-header-map", Fixtures.rawHeadersCheckRequest),
        Case("check-request-empty", CheckRequest()),
        Case("check-response-allow-every-field", Fixtures.allowEverything),
        Case("check-response-deny-401", Fixtures.denyUnauthenticated),
        Case("check-response-error-response", Fixtures.errorResponse),
        Case("check-response-deny-403-rbac",
             CheckResponse(status: RPCStatus(code: 7), httpResponse: .deniedResponse(DeniedHttpResponse(code: .forbidden, body: "RBAC: access denied")))),
        Case("socket-address-named-port-udp",
             SocketAddress(protocol: .udp, address: "dns.local", portSpecifier: .namedPort("dns"), resolverName: "r", ipv4Compat: true,
                           networkNamespaceFilepath: "/var/run/netns/x")),
        Case("health-check-request", HealthCheckRequest(service: "envoy.service.auth.v3.Authorization")),
        Case("health-check-response-serving", HealthCheckResponse(status: .serving)),
        Case("health-check-response-not-serving", HealthCheckResponse(status: .notServing)),
        Case("health-check-response-service-unknown", HealthCheckResponse(status: .serviceUnknown)),
    ]

    @Test("Swift encodes exactly what protoc --encode produces", arguments: cases)
    func swiftMatchesProtoc(_ c: Case) throws {
        #expect(c.swiftBytes.hex == (try Golden.protoc(c.name)).hex)
    }

    @Test("Swift decodes protoc's encoding to the same value", arguments: cases)
    func swiftDecodesProtoc(_ c: Case) throws {
        #expect(try c.decodesToSameValue(try Golden.protoc(c.name)))
    }

    @Test("Swift decodes xds-protos' encoding of the same message to the same value", arguments: cases)
    func swiftDecodesXdsProtos(_ c: Case) throws {
        #expect(try c.decodesToSameValue(try Golden.xds(c.name)))
    }

    /// The text lists k0…k49 shuffled; protoc keeps that order on the wire.
    @Test("map entries in any order decode to the same dictionary")
    func unsortedMapOrder() throws {
        let bytes = try Golden.protoc("check-request-headers-in-any-order")
        let decoded = try CheckRequest(serializedBytes: bytes)
        #expect(decoded.attributes.request.http.headers == Dictionary(uniqueKeysWithValues: (0..<50).map { ("k\($0)", "v-k\($0)") }))
        #expect(decoded.serializedBytes() != bytes, "the golden is in sorted order: it no longer tests unsorted input")
        #expect(try CheckRequest(serializedBytes: try Golden.xds("check-request-headers-in-any-order")) == decoded)
    }

    /// `warden.test.FutureCheckRequest` (Fixtures/wire/future.proto): fields Warden does not know at every level.
    @Test("fields from a newer schema are skipped at every level")
    func unknownFieldsFromNewerSchema() throws {
        let decoded = try CheckRequest(serializedBytes: try Golden.protoc("check-request-from-a-newer-schema"))
        let expected = CheckRequest(attributes: AttributeContext(
            source: .init(address: nil, principal: "spiffe://a/ns/b/sa/c"),
            request: .init(http: .init(id: "1", method: "GET", headers: ["a": "1"], path: "/x")),
            contextExtensions: ["k": "v"]))
        #expect(decoded == expected)
    }

    /// Built field by field with the xds-protos API (swift_fixtures/wire.py `build_request`), not from text.
    @Test("a CheckRequest built with the xds-protos API decodes in Swift")
    func decodeXdsProtosCheckRequest() throws {
        let request = try CheckRequest(serializedBytes: try Golden.bytes("check-request-built-with-xds-protos.xds.binpb"))
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

    @Test("every golden in Fixtures/wire has a case")
    func everyGoldenIsChecked() throws {
        let special: Set = ["check-request-headers-in-any-order", "check-request-from-a-newer-schema"]
        #expect(try Golden.names() == Set(Self.cases.map(\.name)).union(special))
    }
}
