import Testing
import WardenAuthz
import WardenHTTPAuthz
import WardenPolicy

@Suite("Front-door request → RequestAttributes")
struct RequestAttributesHTTPTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let request: HTTPAuthzRequest
        /// (method, path, host, scheme) or the error.
        let expected: Result<[String], HTTPAuthzRequestError>
        var testDescription: String { name }
    }

    static func fa(_ headers: [(String, String)], target: String = "/forward-auth") -> HTTPAuthzRequest {
        HTTPAuthzRequest(method: "GET", target: target, headers: [("host", "warden")] + headers)
    }

    static let full: [(String, String)] = [("x-forwarded-method", "POST"), ("x-forwarded-uri", "/orders/1?x=%2F"),
                                           ("x-forwarded-host", "shop.example"), ("x-forwarded-proto", "https")]

    static let cases: [Case] = [
        Case(name: "forward-auth: the X-Forwarded-* headers", request: fa(full), expected: .success(["POST", "/orders/1?x=%2F", "shop.example", "https"])),
        Case(name: "forward-auth: proto defaults to http", request: fa(Array(full.prefix(3))), expected: .success(["POST", "/orders/1?x=%2F", "shop.example", "http"])),
        Case(name: "forward-auth: a normal path passes, the query as sent", request: fa([("x-forwarded-method", "GET"),
             ("x-forwarded-uri", "/admin/x.y/..z/.a?q=/../%2F"), ("x-forwarded-host", "h")]), expected: .success(["GET", "/admin/x.y/..z/.a?q=/../%2F", "h", "http"])),
        Case(name: "forward-auth: escapes of reserved or non-ASCII bytes pass, hex upper-cased", request: fa([("x-forwarded-method", "GET"),
             ("x-forwarded-uri", "/caf%c3%a9/a%20b%3F"), ("x-forwarded-host", "h")]), expected: .success(["GET", "/caf%C3%A9/a%20b%3F", "h", "http"])),
    ] + [
        // Raw paths the proxy would pass to the app unresolved while Warden would decide on another one.
        "/orders/../public/x", "/public/..", "/./orders", "/orders/.", "/a/%2e%2e/b", "/a/.%2E/b", "/a/%2E/b",
        "//orders", "/orders//x", "/orders\\..\\public", "/a\\b", "/%6Frders", "/a%7Eb", "/a%2Db",
    ].map { uri in
        Case(name: "forward-auth: \(uri) refused", request: fa([("x-forwarded-method", "GET"), ("x-forwarded-uri", uri),
             ("x-forwarded-host", "h")]), expected: .failure(.nonNormalPath))
    } + [
        // A request target has no fragment (RFC 9112 §3.2); nginx passes a raw `#` in $request_uri, and cutting
        // there would check /public/x for an app that may read /public/x#/../../private.
        "/public/x#/../../private", "/orders#", "/orders?q=1#/x", "/#",
    ].map { uri in
        Case(name: "forward-auth: \(uri) refused", request: fa([("x-forwarded-method", "GET"), ("x-forwarded-uri", uri),
             ("x-forwarded-host", "h")]), expected: .failure(.fragmentInURI))
    } + [
        Case(name: "auth-request: a fragment refused too", request: fa([("x-original-method", "GET"), ("x-original-uri", "/public/x#/../orders"),
             ("x-forwarded-host", "h")], target: "/auth-request"), expected: .failure(.fragmentInURI)),
        Case(name: "envoy: a fragment refused too", request: HTTPAuthzRequest(method: "GET", target: "/envoy/public/x#/../orders",
             headers: [("host", "h")]), expected: .failure(.fragmentInURI)),
        // Path parameters are decided as sent, as Istio/Envoy decide them (README "Path tricks": apps that
        // resolve `..;` must refuse it).
        Case(name: "forward-auth: a ';' path parameter is decided as sent", request: fa([("x-forwarded-method", "GET"),
             ("x-forwarded-uri", "/public/..;/admin"), ("x-forwarded-host", "h")]), expected: .success(["GET", "/public/..;/admin", "h", "http"])),
        Case(name: "forward-auth: a trailing slash is normal", request: fa([("x-forwarded-method", "GET"), ("x-forwarded-uri", "/orders/"),
             ("x-forwarded-host", "h")]), expected: .success(["GET", "/orders/", "h", "http"])),
        Case(name: "auth-request: dot segments refused too", request: fa([("x-original-method", "GET"), ("x-original-uri", "/orders/../public/x"),
             ("x-forwarded-host", "h")], target: "/auth-request"), expected: .failure(.nonNormalPath)),
        Case(name: "forward-auth: %2F in the path refused", request: fa([("x-forwarded-method", "GET"), ("x-forwarded-uri", "/a%2fb"),
             ("x-forwarded-host", "h")]), expected: .failure(.escapedSlash)),
        Case(name: "forward-auth: %5C in the path refused", request: fa([("x-forwarded-method", "GET"), ("x-forwarded-uri", "/a%5Cb"),
             ("x-forwarded-host", "h")]), expected: .failure(.escapedSlash)),
        Case(name: "forward-auth: missing uri", request: fa([("x-forwarded-method", "GET"), ("x-forwarded-host", "h")]),
             expected: .failure(.missingHeader("x-forwarded-uri"))),
        Case(name: "forward-auth: X-Original-URI is not read at /forward-auth", request: fa([("x-forwarded-method", "GET"),
             ("x-original-uri", "/public"), ("x-forwarded-host", "h")]), expected: .failure(.missingHeader("x-forwarded-uri"))),
        Case(name: "forward-auth: missing method", request: fa([("x-forwarded-uri", "/"), ("x-forwarded-host", "h")]),
             expected: .failure(.missingHeader("x-forwarded-method"))),
        Case(name: "forward-auth: missing host (the proxy's Host is Warden's)", request: fa([("x-forwarded-method", "GET"), ("x-forwarded-uri", "/")]),
             expected: .failure(.missingHeader("x-forwarded-host"))),
        Case(name: "forward-auth: a repeated uri is ambiguous", request: fa(full + [("x-forwarded-uri", "/public")]),
             expected: .failure(.repeatedHeader("x-forwarded-uri"))),
        Case(name: "forward-auth: method not a token", request: fa([("x-forwarded-method", "GET /"), ("x-forwarded-uri", "/"), ("x-forwarded-host", "h")]),
             expected: .failure(.invalidMethod)),
        Case(name: "forward-auth: absolute URI refused", request: fa([("x-forwarded-method", "GET"), ("x-forwarded-uri", "http://h/"), ("x-forwarded-host", "h")]),
             expected: .failure(.invalidURI)),
        Case(name: "forward-auth: host with a space", request: fa([("x-forwarded-method", "GET"), ("x-forwarded-uri", "/"), ("x-forwarded-host", "a b")]),
             expected: .failure(.invalidHost)),
        Case(name: "auth-request: X-Original-*", request: fa([("x-original-method", "DELETE"), ("x-original-uri", "/orders"),
             ("x-forwarded-host", "h")], target: "/auth-request"), expected: .success(["DELETE", "/orders", "h", "http"])),
        Case(name: "auth-request: X-Forwarded-Uri is not read", request: fa([("x-original-method", "GET"), ("x-forwarded-uri", "/public"),
             ("x-forwarded-host", "h")], target: "/auth-request"), expected: .failure(.missingHeader("x-original-uri"))),
        Case(name: "envoy: the request's own method, path after the prefix, Host", request: HTTPAuthzRequest(method: "PUT",
             target: "/envoy/orders/7?a=b", headers: [("host", "shop.example"), ("x-forwarded-proto", "https")]),
             expected: .success(["PUT", "/orders/7?a=b", "shop.example", "https"])),
        Case(name: "envoy: X-Forwarded-Uri is not read", request: HTTPAuthzRequest(method: "GET", target: "/envoy/admin",
             headers: [("host", "h"), ("x-forwarded-uri", "/public")]), expected: .success(["GET", "/admin", "h", "http"])),
        Case(name: "envoy: no Host", request: HTTPAuthzRequest(method: "GET", target: "/envoy/", headers: []), expected: .failure(.invalidHost)),
    ]

    @Test(arguments: cases)
    func mapping(_ c: Case) {
        let endpoint = HTTPAuthzEndpoint(target: c.request.target)!
        let got = Result { () throws(HTTPAuthzRequestError) -> [String] in
            let r = try RequestAttributes(http: c.request, endpoint: endpoint, trusted: [])
            #expect(r.headers[":path"] == r.path)
            #expect(r.headers[":authority"] == r.host)
            #expect(r.headers[":method"] == r.method)
            #expect(r.headers["host"] == nil)
            #expect(r.sourceIP.isEmpty)
            return [r.method, r.path, r.host, r.scheme]
        }
        #expect(got == c.expected)
    }

    @Test func repeatedClientHeadersJoinAsEnvoyDoes() throws {
        let r = try RequestAttributes(http: Self.fa(Self.full + [("x-team", "a"), ("x-team", "b")]), endpoint: .forwardAuth, trusted: [])
        #expect(r.headers["x-team"] == "a,b")
    }

    struct TrustCase: Sendable {
        let trusted: Set<TrustedHeader>
        let header: (String, String)
        let expected: Result<[String], HTTPAuthzRequestError>  // sourceIP, port, principal, cert, sni
    }

    static let trustCases: [TrustCase] = [
        TrustCase(trusted: [], header: ("x-warden-client-address", "10.1.2.3"), expected: .success(["", "0", "", "", ""])),
        TrustCase(trusted: [.clientAddress], header: ("x-warden-client-address", "10.1.2.3"), expected: .success(["10.1.2.3", "0", "", "", ""])),
        TrustCase(trusted: [.clientAddress], header: ("x-warden-client-address", "10.1.2.3:5050"), expected: .success(["10.1.2.3", "5050", "", "", ""])),
        TrustCase(trusted: [.clientAddress], header: ("x-warden-client-address", "[2001:db8::1]:443"), expected: .success(["2001:db8::1", "443", "", "", ""])),
        TrustCase(trusted: [.clientAddress], header: ("x-warden-client-address", "evil.example"), expected: .failure(.invalidTrustedHeader("x-warden-client-address"))),
        TrustCase(trusted: [.clientAddress], header: ("x-warden-client-address", "10.1.2.3:99999"), expected: .failure(.invalidTrustedHeader("x-warden-client-address"))),
        TrustCase(trusted: [.sni], header: ("x-warden-client-address", "10.1.2.3"), expected: .success(["", "0", "", "", ""])),
        TrustCase(trusted: [.clientPrincipal], header: ("x-warden-client-principal", "spiffe://cluster.local/ns/a/sa/b"),
                  expected: .success(["", "0", "spiffe://cluster.local/ns/a/sa/b", "", ""])),
        TrustCase(trusted: [], header: ("x-warden-client-principal", "spiffe://cluster.local/ns/a/sa/b"), expected: .success(["", "0", "", "", ""])),
        TrustCase(trusted: [.clientCert], header: ("x-warden-client-cert", "-----BEGIN%20CERTIFICATE-----"), expected: .success(["", "0", "", "-----BEGIN%20CERTIFICATE-----", ""])),
        TrustCase(trusted: Set(TrustedHeader.allCases), header: ("x-warden-sni", "shop.example"), expected: .success(["", "0", "", "", "shop.example"])),
    ]

    @Test(arguments: trustCases)
    func trustedHeaders(_ c: TrustCase) {
        let got = Result { () throws(HTTPAuthzRequestError) -> [String] in
            let r = try RequestAttributes(http: Self.fa(Self.full + [c.header]), endpoint: .forwardAuth, trusted: c.trusted)
            // A trusted header is plumbing, not a request header the policies see.
            #expect((r.headers[c.header.0] == nil) == c.trusted.contains { $0.headerName == c.header.0 })
            return [r.sourceIP, String(r.sourcePort), r.sourcePrincipal, r.sourceCertificate, r.sni]
        }
        #expect(got == c.expected)
    }

    @Test func trustedHeaderSpellings() {
        #expect(TrustedHeader.parse("client-address, sni") == .success([.clientAddress, .sni]))
        #expect(TrustedHeader.parse("none") == .success([]))
        #expect(TrustedHeader.parse("x-forwarded-for") == .failure(.unknownTrustedHeader("x-forwarded-for")))
    }
}
