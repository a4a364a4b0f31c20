import Testing
@testable import WardenAuthz
import WardenExtAuthz
import WardenJSON
import WardenPolicy

@Test func checkRequestBecomesRequestAttributes() {
    let http = AttributeContext.HttpRequest(id: "7", method: "POST", headers: [":path": "/p?q=1", "x-forwarded-for": "1.2.3.4", "x-request-id": "r-1"],
                                            path: "/p?q=1", host: "Api.Example.com", scheme: "https")
    let attrs = AttributeContext(
        source: .init(address: Address(.socketAddress(SocketAddress(address: "10.1.2.3", portValue: 5555))),
                      principal: "spiffe://cluster.local/ns/a/sa/b"),
        destination: .init(address: Address(.socketAddress(SocketAddress(address: "10.9.9.9", portValue: 8080)))),
        request: .init(http: http), contextExtensions: ["namespace": "shop"], tlsSession: .init(sni: "api.example.com"))
    let r = RequestAttributes(CheckRequest(attributes: attrs))
    #expect(r.method == "POST" && r.path == "/p?q=1" && r.host == "Api.Example.com" && r.scheme == "https")
    #expect(r.sourceIP == "10.1.2.3" && r.sourcePort == 5555)          // the peer, not x-forwarded-for
    #expect(r.destinationIP == "10.9.9.9" && r.destinationPort == 8080)
    #expect(r.sourcePrincipal == "spiffe://cluster.local/ns/a/sa/b")
    #expect(r.sni == "api.example.com")
    #expect(r.contextExtensions == ["namespace": "shop"])
    #expect(r.requestID == "r-1")
    #expect(r.originalURI == "https://Api.Example.com/p?q=1")
}

@Test func rawHeaderMapIsJoinedWithCommas() {
    var http = AttributeContext.HttpRequest(method: "GET", path: "/")
    http.headerMap = HeaderMap(headers: [HeaderValue(key: "X-A", value: "", rawValue: Array("1".utf8)),
                                         HeaderValue(key: "x-a", value: "2")])
    let r = RequestAttributes(CheckRequest(attributes: AttributeContext(request: .init(http: http))))
    #expect(r.headers["x-a"] == "1,2")
}

@Test func allowBecomesOkResponseWithOverwrite() {
    var ok = AllowResponse()
    ok.headersToSet = [HTTPHeader("x-sub", "alice")]
    ok.headersToRemove = ["authorization"]
    ok.queryParametersToRemove = ["access_token"]
    ok.dynamicMetadata = ["jwt_payload": .object(["sub": .string("alice")])]
    let response = CheckResponse(Decision.allow(ok))
    #expect(response.status.code == 0)
    let r = response.okResponse
    #expect(r?.headers.map(\.header.key) == ["x-sub"])
    #expect(r?.headers.first?.appendAction == .overwriteIfExistsOrAdd)
    #expect(r?.headersToRemove == ["authorization"])
    #expect(r?.queryParametersToRemove == ["access_token"])
    #expect(response.dynamicMetadata.fields["jwt_payload"] != nil)
}

@Test(arguments: [(401, 16), (403, 7)])
func denyBecomesDeniedResponse(_ status: Int, _ grpc: Int32) {
    let response = CheckResponse(Decision.deny(DenyResponse(status: status, body: "nope", headers: [HTTPHeader("www-authenticate", "Bearer realm=\"x\"")])))
    #expect(response.status.code == grpc)
    #expect(response.deniedResponse?.status.code.rawValue == Int32(status))
    #expect(response.deniedResponse?.body == "nope")
    #expect(response.deniedResponse?.headers.first?.header.value == "Bearer realm=\"x\"")
}

@Test(arguments: [
    (JSONValue.string("acme"), "acme" as String?),
    (.string(""), nil),
    (.bool(true), "true"),
    (.number(42), "42"),
    (.number(1.5), "1.500000"),
    (.number(-3), "-3.000000"),
    (.number(12_345_678_901_234_567_168), "12345678901234567168"),  // 12345678901234567890 as a Double
    (.number(18_000_000_000_000_000_000), "18000000000000000000"),   // below 2^64: still an integer
    (.number(18_446_744_073_709_551_616), "18446744073709551616.000000"),  // 2^64: Envoy 1.40's %f
    (.number(-1e20), "-100000000000000000000.000000"),
    (.number(0.0000005), "0.000000"),  // %f rounds the binary value (4.99999…e-7)
    (.number(-0.0), "0"),
    (.null, nil),
    (.array([.string("a"), .string("b")]), "WyJhIiwiYiJd"),
    (.array([.number(1e-7), .number(100), .number(1.0 / 3), .string("<é>")]), "WzFlLTA3LDEwMCwwLjMzMzMzMzMzMzMzMzMzMzMxLCJcdTAwM2PDqVx1MDAzZSJd"),
    (.object(["b": .bool(false), "a": .null]), "eyJhIjpudWxsLCJiIjpmYWxzZX0="),
])
func claimHeaderText(_ value: JSONValue, _ expected: String?) {
    #expect(ClaimText.headerValue(value) == expected)
}

@Test func nestedClaimLookup() {
    let claims: [String: JSONValue] = ["org": .object(["team": .object(["name": .string("core")])]), "a.b": .string("literal")]
    #expect(ClaimText.lookup("org.team.name", in: claims) == .string("core"))
    #expect(ClaimText.lookup("org.missing", in: claims) == nil)
    #expect(ClaimText.lookup("a.b", in: claims) == nil)  // Envoy walks objects only: a dotted name is not found
    let both: [String: JSONValue] = ["a.b": .string("literal"), "a": .object(["b": .string("nested")])]
    #expect(ClaimText.lookup("a.b", in: both) == .string("nested"))
}

@Test(arguments: [
    ("Bearer abc.def.ghi", "Bearer ", "abc.def.ghi" as String?),
    ("Bearer abc Bearer def", "Bearer ", "abc Bearer def"),
    ("Bearer ab\u{301}c.d", "Bearer ", "ab\u{301}c.d"),
    ("Bearer \u{e9}abc", "Bearer ", "abc"),
    ("Bearer:abc", "Bearer:", "abc"),
    ("xBearer abc", "Bearer ", "abc"),
    ("Bearer   \"abc", "Bearer ", "abc"),
    ("bearer abc", "Bearer ", nil),
    ("Bearer ", "Bearer ", "Bearer "),
    ("Token abc", "Bearer ", nil),
])
func headerPrefixExtraction(_ value: String, _ prefix: String, _ expected: String?) {
    #expect(TokenExtractor.afterPrefix(value, prefix) == expected)
}

@Test func queryRawKeys() {
    #expect(QueryString.rawKeys(named: "access_token", in: "/a?access%5Ftoken=1&access_token=2&x=3") == ["access%5Ftoken", "access_token"])
    #expect(QueryString.rawKeys(named: "access_token", in: "/a") == [])
}
