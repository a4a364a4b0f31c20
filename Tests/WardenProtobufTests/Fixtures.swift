import WardenExtAuthz

/// Messages used by several interop tests, each with its text format for protoc.
enum Fixtures {
    static let unicode = "üñíçødé ✓ 日本語 🚀 \u{0}"

    /// 40 headers, sorted by key as they appear in the text format.
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

    static func textEscape(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out += "\\\""
            case UInt8(ascii: "\\"): out += "\\\\"
            case 0x20..<0x7F: out.append(Character(Unicode.Scalar(b)))
            default: out += "\\" + String(b, radix: 8).leftPadded(to: 3)
            }
        }
        return out
    }

    static func textMap(_ name: String, _ map: [String: String]) -> String {
        map.keys.sorted().map { "\(name) { key: \"\(textEscape($0))\" value: \"\(textEscape(map[$0]!))\" }" }.joined(separator: "\n")
    }

    static let jwtClaims: ProtobufStruct = [
        "aud": ["orders", 3.5, true, nil, ["nested": "x"]],
        "exp": 1_732_460_000,
        "iss": "https://issuer.example",
        "sub": .string(unicode),
    ]

    static let jwtClaimsText = """
        fields { key: "aud" value { list_value {
          values { string_value: "orders" } values { number_value: 3.5 } values { bool_value: true }
          values { null_value: NULL_VALUE } values { struct_value { fields { key: "nested" value { string_value: "x" } } } } } } }
        fields { key: "exp" value { number_value: 1732460000 } }
        fields { key: "iss" value { string_value: "https://issuer.example" } }
        fields { key: "sub" value { string_value: "\(textEscape(unicode))" } }
        """

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

    static let richCheckRequestText = """
        attributes {
          source {
            address { socket_address { address: "10.0.0.7" port_value: 51234 } }
            service: "web"
            labels { key: "app" value: "web" }
            labels { key: "version" value: "v1" }
            principal: "spiffe://cluster.local/ns/frontend/sa/web"
            certificate: "-----BEGIN%20CERTIFICATE-----%0AMIIB"
          }
          destination {
            address { socket_address { address: "10.0.0.9" port_value: 8080 } }
            principal: "spiffe://cluster.local/ns/shop/sa/orders"
          }
          request {
            time { seconds: 1732460000 nanos: 123456789 }
            http {
              id: "16970825429458128283"
              method: "POST"
              \(textMap("headers", manyHeaders))
              path: "/api/v1/orders?expand=items&q=caf%C3%A9"
              host: "orders.shop.svc.cluster.local"
              scheme: "https"
              size: -1
              protocol: "HTTP/2"
              body: "{\\"item\\": \\"café\\"}"
              raw_body: "\\000\\001\\377\\200"
            }
          }
          \(textMap("context_extensions", ["tenant": "acme", "virtual_host": unicode]))
          metadata_context {
            filter_metadata { key: "envoy.filters.http.jwt_authn" value { fields { key: "payload" value { struct_value { \(jwtClaimsText) } } } } }
            filter_metadata { key: "istio_authn" value { } }
            typed_filter_metadata { key: "typed" value { type_url: "type.googleapis.com/google.protobuf.Empty" } }
          }
          tls_session { sni: "orders.shop.svc" }
          route_metadata_context { filter_metadata { key: "route" value { fields { key: "weight" value { number_value: 1 } } } } }
        }
        """

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

    static let rawHeadersCheckRequestText = """
        attributes {
          source { address { pipe { path: "/run/envoy.sock" mode: 384 } } }
          destination { address { envoy_internal_address { server_listener_name: "internal" endpoint_id: "e1" } } }
          request { http {
            method: "GET" path: "/"
            header_map {
              headers { key: ":path" raw_value: "/" }
              headers { key: "cookie" raw_value: "\\377\\376" }
              headers { key: "cookie" value: "b=2" }
            }
          } }
          tls_session { }
        }
        """

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

    static let allowEverythingText = """
        status { }
        ok_response {
          headers { header { key: "x-warden-decision" value: "allow" } append_action: OVERWRITE_IF_EXISTS_OR_ADD }
          headers { header { key: "x-user" value: "\(textEscape(unicode))" } append { value: false } }
          headers { header { key: "x-empty" } append { value: true } append_action: ADD_IF_ABSENT keep_empty_value: true }
          headers { header { key: "x-raw" raw_value: "\\303(" } append_action: OVERWRITE_IF_EXISTS }
          dynamic_metadata { fields { key: "legacy" value { bool_value: true } } }
          headers_to_remove: "authorization"
          headers_to_remove: "x-internal"
          headers_to_remove: ""
          response_headers_to_add { header { key: "x-ratelimit-remaining" value: "99" } }
          query_parameters_to_set { key: "tenant" value: "acme" }
          query_parameters_to_set { key: "q" }
          query_parameters_to_remove: "access_token"
        }
        dynamic_metadata { fields { key: "warden" value { struct_value {
          fields { key: "decision" value { string_value: "allow" } }
          fields { key: "latency_us" value { number_value: 12.5 } }
          fields { key: "policy" value { string_value: "ns/allow-all" } } } } } }
        """

    static let denyUnauthenticated = CheckResponse(
        status: RPCStatus(code: 16, message: "Jwt is expired"),
        httpResponse: .deniedResponse(DeniedHttpResponse(
            code: .unauthorized,
            headers: [HeaderValueOption(key: "www-authenticate", value: "Bearer realm=\"https://orders.shop/api\", error=\"invalid_token\"")],
            body: "Jwt is expired")))

    static let denyUnauthenticatedText = """
        status { code: 16 message: "Jwt is expired" }
        denied_response {
          status { code: Unauthorized }
          headers { header { key: "www-authenticate" value: "Bearer realm=\\"https://orders.shop/api\\", error=\\"invalid_token\\"" } }
          body: "Jwt is expired"
        }
        """

    static let errorResponse = CheckResponse(
        status: RPCStatus(code: -1, message: "internal", details: [ProtobufAny(typeURL: "type.googleapis.com/x.Y", value: [1, 2, 3])]),
        httpResponse: .errorResponse(DeniedHttpResponse(status: HttpStatus(code: HttpStatusCode(rawValue: 418)), body: unicode)),
        dynamicMetadata: [:])

    static let errorResponseText = """
        status { code: -1 message: "internal" details { type_url: "type.googleapis.com/x.Y" value: "\\001\\002\\003" } }
        dynamic_metadata { }
        error_response { status { code: 418 } body: "\(textEscape(unicode))" }
        """
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
