import Testing
import WardenAuthz
import WardenHTTPAuthz

@Suite("The endpoint is chosen by path alone")
struct HTTPAuthzEndpointTests {
    static let cases: [(String, HTTPAuthzEndpoint?)] = [
        ("/envoy/orders?x=1", .envoy(originalTarget: "/orders?x=1")),
        ("/envoy/", .envoy(originalTarget: "/")),
        ("/envoy//a", .envoy(originalTarget: "//a")),
        ("/envoy", nil),
        ("/envoyx/orders", nil),
        ("/forward-auth", .forwardAuth),
        ("/forward-auth?from=caddy", .forwardAuth),
        ("/forward-auth/", nil),
        ("/Forward-Auth", nil),
        ("/auth-request", .authRequest),
        ("/", nil),
        ("/healthz", nil),
    ]

    @Test(arguments: cases)
    func target(_ target: String, _ expected: HTTPAuthzEndpoint?) {
        #expect(HTTPAuthzEndpoint(target: target) == expected)
    }

    @Test func frontDoorLabels() {
        #expect(HTTPAuthzEndpoint.envoy(originalTarget: "/").frontDoor == .httpEnvoy)
        #expect(HTTPAuthzEndpoint.forwardAuth.frontDoor == .forwardAuth)
        #expect(HTTPAuthzEndpoint.authRequest.frontDoor == .forwardAuth)
    }

    @Test func unknownPathIs404AndNotChecked() throws {
        let service = try checkService()
        let (answer, result) = HTTPAuthzService(service: service).answer(HTTPAuthzRequest(method: "GET", target: "/orders", headers: []))
        #expect(answer.status == 404)
        #expect(result == nil)
        #expect(service.metrics.checks(through: .forwardAuth, allowed: false) == 0)
    }
}
