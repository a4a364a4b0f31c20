import Testing
import WardenAuthz
import WardenHTTPAuthz
import WardenJSON
import WardenPolicy

@Suite("Front doors answer as the gRPC path decides")
struct HTTPAuthzDecisionTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let method: String
        let uri: String
        let headers: [(String, String)]
        let status: Int
        var testDescription: String { name }
    }

    static let good = token()
    static let admin = token(["scope": .string("admin")])
    static let expired = token(["exp": .number(testNow - 3600)])
    static let forged = token(key: Array("another key, another key, 32 b!!".utf8))

    static let cases: [Case] = [
        Case(name: "no token, public", method: "GET", uri: "/public/x", headers: [], status: 200),
        Case(name: "no token, orders", method: "GET", uri: "/orders", headers: [], status: 403),
        Case(name: "token, orders", method: "GET", uri: "/orders", headers: [("authorization", "Bearer \(good)")], status: 200),
        Case(name: "token in the query", method: "GET", uri: "/orders?access_token=\(good)", headers: [], status: 200),
        Case(name: "expired token", method: "GET", uri: "/orders", headers: [("authorization", "Bearer \(expired)")], status: 401),
        Case(name: "forged token", method: "GET", uri: "/orders", headers: [("authorization", "Bearer \(forged)")], status: 401),
        Case(name: "garbage token", method: "GET", uri: "/orders", headers: [("authorization", "Bearer abc")], status: 401),
        Case(name: "admin without scope", method: "POST", uri: "/admin/users", headers: [("authorization", "Bearer \(good)")], status: 403),
        Case(name: "admin with scope", method: "POST", uri: "/admin/users", headers: [("authorization", "Bearer \(admin)")], status: 200),
        Case(name: "internal needs source.ip, which the proxy did not report", method: "GET", uri: "/internal/x",
             headers: [("authorization", "Bearer \(good)"), ("x-warden-client-address", "10.0.0.1")], status: 403),
    ]

    /// Each case through both HTTP endpoints gives the status, body and WWW-Authenticate of the decision the
    /// gRPC path makes for the same original request.
    @Test(arguments: cases)
    func sameAnswerAsGRPC(_ c: Case) throws {
        let service = try checkService()
        let http = HTTPAuthzService(service: service)
        let grpc = service.decide(grpcAttributes(c.method, c.uri, headers: c.headers)).decision
        #expect(grpc.httpStatus == c.status)
        for request in [forwardAuth(c.method, c.uri, headers: c.headers), envoyHTTP(c.method, c.uri, headers: c.headers)] {
            let (answer, result) = http.answer(request)
            #expect(answer.status == c.status, "\(request.target)")
            #expect(result?.decision.httpStatus == c.status)
            switch grpc {
            case .deny(let d):
                #expect(answer.body == d.body)
                #expect(answer.header("www-authenticate") == d.headers.first { $0.name == "www-authenticate" }?.value)
            case .allow(let ok):
                #expect(answer.body.isEmpty)
                for h in ok.headersToSet { #expect(answer.header(h.name) == h.value) }
            }
        }
        #expect(service.metrics.checks(through: .httpEnvoy, allowed: c.status == 200) == 1)
        #expect(service.metrics.checks(through: .forwardAuth, allowed: c.status == 200) == 1)
        #expect(service.metrics.checks(through: .grpc, allowed: c.status == 200) == 1)
    }

    @Test func envoyAllowNamesTheHeadersToRemove() throws {
        let http = HTTPAuthzService(service: try checkService())
        let (answer, _) = http.answer(envoyHTTP("GET", "/orders", headers: [("authorization", "Bearer \(Self.good)"), ("x-sub", "mallory")]))
        #expect(answer.status == 200)
        #expect(answer.header("x-sub") == "alice")
        // The stripped token; x-sub is set (so overwritten by allowed_upstream_headers), not removed.
        // (Client copies of the debug headers go too, as on the gRPC path.)
        #expect(answer.header(HTTPAuthzResponse.envoyHeadersToRemove) == "authorization,x-warden-decision,x-warden-reason,x-warden-denied-by")
        #expect(answer.header("authorization") == nil)
    }

    @Test func envoyAllowWithoutTokenRemovesClientCopiesOfOutputHeaders() throws {
        let http = HTTPAuthzService(service: try checkService())
        let (answer, _) = http.answer(envoyHTTP("GET", "/public/x", headers: [("x-sub", "mallory")]))
        #expect(answer.status == 200)
        #expect(answer.header("x-sub") == nil)
        #expect(answer.header(HTTPAuthzResponse.envoyHeadersToRemove) == "x-sub,x-warden-decision,x-warden-reason,x-warden-denied-by")
    }

    @Test func forwardAuthEchoesOnlyForwardedTokens() throws {
        let http = HTTPAuthzService(service: try checkService())
        // forwardOriginalToken false (default): empty in the answer, so the proxy config removes it.
        var (answer, _) = http.answer(forwardAuth("GET", "/orders", headers: [("authorization", "Bearer \(Self.good)"), ("x-sub", "mallory")]))
        #expect(answer.status == 200)
        #expect(answer.header("authorization") == "")
        #expect(answer.header("x-sub") == "alice")
        #expect(answer.headers.filter { $0.name == "x-sub" }.count == 1)
        #expect(answer.header(HTTPAuthzResponse.envoyHeadersToRemove) == nil)
        // No token: the output header and authorization named, empty.
        (answer, _) = http.answer(forwardAuth("GET", "/public/x", headers: [("x-sub", "mallory")]))
        #expect(answer.status == 200)
        #expect(answer.header("x-sub") == "")
        #expect(answer.header("authorization") == "")
        // forwardOriginalToken true: echoed, so the proxy keeps it.
        let forwarded = token(["iss": .string("\(issuer)/forwarded")])
        (answer, _) = http.answer(forwardAuth("GET", "/orders", headers: [("x-forwarded-token", forwarded)]))
        #expect(answer.status == 200)
        #expect(answer.header("x-forwarded-token") == forwarded)
        // Not a token (Basic on a public path): kept.
        (answer, _) = http.answer(forwardAuth("GET", "/public/x", headers: [("authorization", "Basic YTpi")]))
        #expect(answer.status == 200)
        #expect(answer.header("authorization") == "Basic YTpi")
    }

    @Test func authRequestDenialCarriesItsBodyInAHeader() throws {
        let http = HTTPAuthzService(service: try checkService())
        let request = HTTPAuthzRequest(method: "GET", target: "/auth-request",
                                       headers: [("x-original-method", "GET"), ("x-original-uri", "/orders"), ("x-forwarded-host", "h"),
                                                 ("authorization", "Bearer \(Self.expired)")])
        let (answer, _) = http.answer(request)
        #expect(answer.status == 401)
        #expect(answer.header(HTTPAuthzResponse.denyBodyHeader) == answer.body)
        #expect(answer.body == "Jwt is expired")
        #expect(answer.header("www-authenticate")?.hasPrefix("Bearer realm=\"http://h/orders\"") == true)
    }

    @Test func malformedRequestIsCountedAndNotChecked() throws {
        let service = try checkService()
        let (answer, result) = HTTPAuthzService(service: service).answer(forwardAuth("GET", "/a%2Fb"))
        #expect(answer.status == 400)
        #expect(result == nil)
        var text = PrometheusText()
        service.renderMetrics(into: &text)
        #expect(text.text.contains("warden_invalid_requests_total 1"))
    }

    @Test func trustedClientAddressReachesSourceIP() throws {
        let service = try checkService()
        let headers = [("authorization", "Bearer \(Self.good)"), ("x-warden-client-address", "10.0.0.1:4000")]
        #expect(HTTPAuthzService(service: service, trusted: [.clientAddress]).answer(forwardAuth("GET", "/internal/x", headers: headers)).0.status == 200)
        #expect(HTTPAuthzService(service: service, trusted: []).answer(forwardAuth("GET", "/internal/x", headers: headers)).0.status == 403)
        #expect(HTTPAuthzService(service: service, trusted: [.clientAddress]).answer(
            forwardAuth("GET", "/internal/x", headers: [headers[0], ("x-warden-client-address", "192.0.2.1")])).0.status == 403)
    }

    @Test func decisionLogNamesTheFrontDoor() throws {
        let service = try checkService()
        let (_, result) = HTTPAuthzService(service: service).answer(forwardAuth("GET", "/orders"))
        let log = DecisionLog(logger: Logger(level: .info, format: .json))
        let fields = log.fields(result!, request: grpcAttributes("GET", "/orders"))
        #expect(fields.contains { $0.0 == "front_door" && $0.1 == JSONValue.string("forward_auth") })
        let grpc = service.decide(grpcAttributes("GET", "/orders"))
        #expect(!log.fields(grpc, request: grpcAttributes("GET", "/orders")).contains { $0.0 == "front_door" })
    }
}
