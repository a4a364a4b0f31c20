import WardenExtAuthz
import WardenProtobuf

/// Messages used by several tests. Those with a golden encoding have their text format in
/// Fixtures/wire/NAME.txtpb (ReferenceEncodingTests checks that they are the same message).
enum Fixtures {
    static let unicode = "üñíçødé ✓ 日本語 🚀 \u{0}"

    /// 40 headers.
    static let manyHeaders: [String: String] = {
        var h: [String: String] = [
            ":authority": "orders.shop.svc.cluster.local",
            ":method": "POST",
            ":path": "/api/v1/orders?expand=items&q=caf%C3%A9",
            ":scheme": "https",
            "authorization": "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSJ9.c2ln",
            "x-unicode": unicode,
            "x-empty": "",
            "x-forwarded-for": "203.0.113.9, 10.0.0.1",
            "content-type": "application/json",
        ]
        for i in 0..<31 { h["x-extra-\(i)"] = String(repeating: "v\(i)", count: i + 1) }
        return h
    }()

    static let jwtClaims: ProtobufStruct = [
        "aud": ["orders", 3.5, true, nil, ["nested": "x"]],
        "exp": 1_732_460_000,
        "iss": "https://issuer.example",
        "sub": .string(unicode),
    ]

    static let richCheckRequest = CheckRequest(attributes: AttributeContext(
        source: .init(
            address: Address(.socketAddress(SocketAddress(address: "10.0.0.7", portValue: 51234))),
            service: "web",
            labels: ["app": "web", "version": "v1"],
            principal: "spiffe://cluster.local/ns/frontend/sa/web",
            certificate: "-----BEGIN%20CERTIFICATE-----%0AMIIB"),
        destination: .init(
            address: Address(.socketAddress(SocketAddress(address: "10.0.0.9", portValue: 8080))),
            principal: "spiffe://cluster.local/ns/shop/sa/orders"),
        request: .init(
            time: ProtobufTimestamp(seconds: 1_732_460_000, nanos: 123_456_789),
            http: .init(
                id: "16970825429458128283", method: "POST", headers: manyHeaders,
                path: "/api/v1/orders?expand=items&q=caf%C3%A9", host: "orders.shop.svc.cluster.local", scheme: "https",
                size: -1, protocol: "HTTP/2", body: "{\"item\": \"café\"}", rawBody: [0, 1, 0xFF, 0x80])),
        contextExtensions: ["tenant": "acme", "virtual_host": unicode],
        metadataContext: Metadata(filterMetadata: [
            "envoy.filters.http.jwt_authn": ["payload": .structValue(jwtClaims)],
            "istio_authn": [:],
        ], typedFilterMetadata: ["typed": ProtobufAny(typeURL: "type.googleapis.com/google.protobuf.Empty", value: [])]),
        tlsSession: .init(sni: "orders.shop.svc"),
        routeMetadataContext: Metadata(filterMetadata: ["route": ["weight": 1]])))

    static let rawHeadersCheckRequest = CheckRequest(attributes: AttributeContext(
        source: .init(address: Address(.pipe(Pipe(path: "/run/envoy.sock", mode: 0o600)))),
        destination: .init(address: Address(.envoyInternalAddress(EnvoyInternalAddress(serverListenerName: "internal", endpointID: "e1")))),
        request: .init(http: .init(
            method: "GET", path: "/", size: 0,
            headerMap: HeaderMap(headers: [
                HeaderValue(key: ":path", value: "", rawValue: Array("/".utf8)),
                HeaderValue(key: "cookie", value: "", rawValue: [0xFF, 0xFE]),
                HeaderValue(key: "cookie", value: "b=2"),
            ]))),
        tlsSession: .init(sni: "")))

    static let allowEverything = CheckResponse(
        status: RPCStatus(code: 0),
        httpResponse: .okResponse(OkHttpResponse(
            headers: [
                HeaderValueOption(key: "x-warden-decision", value: "allow", appendAction: .overwriteIfExistsOrAdd),
                HeaderValueOption(header: HeaderValue(key: "x-user", value: unicode), append: false),
                HeaderValueOption(header: HeaderValue(key: "x-empty", value: ""), append: true, appendAction: .addIfAbsent, keepEmptyValue: true),
                HeaderValueOption(header: HeaderValue(key: "x-raw", value: "", rawValue: [0xC3, 0x28]), appendAction: .overwriteIfExists),
            ],
            headersToRemove: ["authorization", "x-internal", ""],
            responseHeadersToAdd: [HeaderValueOption(key: "x-ratelimit-remaining", value: "99")],
            queryParametersToSet: [QueryParameter(key: "tenant", value: "acme"), QueryParameter(key: "q", value: "")],
            queryParametersToRemove: ["access_token"],
            dynamicMetadata: ["legacy": true])),
        dynamicMetadata: ["warden": ["decision": "allow", "policy": "ns/allow-all", "latency_us": 12.5]])

    static let denyUnauthenticated = CheckResponse(
        status: RPCStatus(code: 16, message: "Jwt is expired"),
        httpResponse: .deniedResponse(DeniedHttpResponse(
            code: .unauthorized,
            headers: [HeaderValueOption(key: "www-authenticate", value: "Bearer realm=\"https://orders.shop/api\", error=\"invalid_token\"")],
            body: "Jwt is expired")))

    static let errorResponse = CheckResponse(
        status: RPCStatus(code: -1, message: "internal", details: [ProtobufAny(typeURL: "type.googleapis.com/x.Y", value: [1, 2, 3])]),
        httpResponse: .errorResponse(DeniedHttpResponse(status: HttpStatus(code: HttpStatusCode(rawValue: 418)), body: unicode)),
        dynamicMetadata: [:])
}
