import Testing
import WardenAuthz
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

