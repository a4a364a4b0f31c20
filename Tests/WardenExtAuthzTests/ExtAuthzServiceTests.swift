import Foundation
import Testing
import WardenAuthz
import WardenCrypto
import WardenExtAuthz
import WardenJSON
import WardenJWKS
import WardenJWT
import WardenPolicy

/// The whole ext_authz edge without a socket: serialized CheckRequest in → CheckService → serialized
/// CheckResponse out, as the gRPC server hands it over (swift-nio's EmbeddedChannel, for Envoy's wire).
@Suite struct ExtAuthzServiceTests {
    static let now: Double = 1_767_225_600
    static let key = Array("0123456789abcdef0123456789abcdef".utf8)
    static let policies = """
    apiVersion: security.istio.io/v1
    kind: RequestAuthentication
    metadata: {name: jwt, namespace: default}
    spec:
      jwtRules:
      - issuer: https://idp.example
        audiences: [api]
        jwks: '{"keys":[{"kty":"oct","kid":"k1","alg":"HS256","k":"\(Base64URL.encode(key))"}]}'
        outputClaimToHeaders: [{header: x-sub, claim: sub}]
    ---
    apiVersion: security.istio.io/v1
    kind: AuthorizationPolicy
    metadata: {name: orders, namespace: default}
    spec:
      rules:
      - from: [{source: {requestPrincipals: ["https://idp.example/*"]}}]
        to: [{operation: {paths: ["/orders*"]}}]
    """

    static func token(exp: Double = now + 300, aud: String = "api") -> String {
        let claims: JSONValue = .object(["iss": .string("https://idp.example"), "sub": .string("alice"), "aud": .string(aud), "exp": .number(exp)])
        let input = Base64URL.encode(Array(#"{"alg":"HS256","kid":"k1"}"#.utf8)) + "." + Base64URL.encode(Array(claims.serialized.utf8))
        return input + "." + Base64URL.encode(HMACKey(key).authenticationCode(for: Array(input.utf8), digest: .sha256))
    }

    static func service() throws -> ExtAuthzService {
        ExtAuthzService(service: CheckService(policies: try PolicySet.parse(yaml: policies), scope: WorkloadScope(), keyStore: JWKSStore(),
                                              tokenCache: (100, 1 << 20), clock: { now }))
    }

    static func request(_ path: String, _ headers: [String: String] = [:]) -> [UInt8] {
        var all = [":authority": "api.example.com", ":path": path, ":method": "GET", "x-request-id": "r-1"]
        all.merge(headers) { $1 }
        let http = AttributeContext.HttpRequest(id: "42", method: "GET", headers: all, path: path, host: "api.example.com", scheme: "https")
        return CheckRequest(attributes: AttributeContext(request: .init(http: http))).serializedBytes()
    }

    /// One row: request → (HTTP status, body, a header Envoy applies, the record's reason code).
    struct Row: Sendable, CustomTestStringConvertible {
        let name: String
        let path: String
        let headers: [String: String]
        let status: Int
        let body: String?
        let header: (String, String)?
        let reason: ReasonCode
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(name: "valid token, allowed path", path: "/orders/1", headers: ["authorization": "Bearer \(token())"], status: 200, body: nil,
            header: ("x-sub", "alice"), reason: .allowed),
        Row(name: "no token: no principal, no ALLOW match", path: "/orders/1", headers: [:], status: 403, body: "RBAC: access denied",
            header: nil, reason: .noAllowPolicyMatched),
        Row(name: "expired token: jwt_authn's 401", path: "/orders/1", headers: ["authorization": "Bearer \(token(exp: now - 3600))"],
            status: 401, body: "Jwt is expired",
            header: ("www-authenticate", "Bearer realm=\"https://api.example.com/orders/1\", error=\"invalid_token\""), reason: .jwtExpired),
        Row(name: "wrong audience: 403", path: "/orders/1", headers: ["authorization": "Bearer \(token(aud: "other"))"], status: 403,
            body: "Audiences in Jwt are not allowed", header: nil, reason: .jwtAudienceMismatch),
        Row(name: "valid token, path outside the rule", path: "/admin", headers: ["authorization": "Bearer \(token())"], status: 403,
            body: "RBAC: access denied", header: nil, reason: .noAllowPolicyMatched),
    ]

    static func answer(_ ext: ExtAuthzService, _ bytes: [UInt8]) -> (ExtAuthzService.Answer, CheckResult?) {
        let box = Box()
        ext.check(bytes) { box.value = ($0, $1) }
        return box.value!
    }

    final class Box: @unchecked Sendable { var value: (ExtAuthzService.Answer, CheckResult?)? }

    @Test(arguments: rows)
    func decides(_ row: Row) throws {
        let ext = try Self.service()
        let (answer, result) = Self.answer(ext, Self.request(row.path, row.headers))
        guard case .response(let bytes) = answer else { Issue.record("not a response: \(answer)"); return }
        let response = try CheckResponse(serializedBytes: bytes)
        #expect(result?.record.reasonCode == row.reason)
        if row.status == 200 {
            #expect(response.status.code == 0)
            let ok = try #require(response.okResponse)
            if let (name, value) = row.header {
                #expect(ok.headers.contains { $0.header.key == name && $0.header.value == value })
            }
            #expect(ok.headersToRemove.contains("authorization"))
        } else {
            let denied = try #require(response.deniedResponse)
            #expect(Int(denied.status.code.rawValue) == row.status)
            #expect(response.status.code == (row.status == 401 ? 16 : 7))
            if let body = row.body { #expect(denied.body == body) }
            if let (name, value) = row.header {
                #expect(denied.headers.contains { $0.header.key == name && $0.header.value == value })
            }
        }
        #expect(ext.service.metrics.checks(row.reason) == 1)
    }

    @Test(arguments: [[0xFF], [0x0A, 0x05, 0x01], Array("not protobuf at all".utf8)] as [[UInt8]])
    func malformedRequestIsInvalidArgumentAndCounted(_ bytes: [UInt8]) throws {
        let ext = try Self.service()
        let (answer, result) = Self.answer(ext, bytes)
        guard case .invalidArgument(let message) = answer else { Issue.record("expected INVALID_ARGUMENT, got \(answer)"); return }
        #expect(message.hasPrefix("malformed CheckRequest"))
        #expect(result == nil)
        var page = PrometheusText()
        ext.service.renderMetrics(into: &page)
        #expect(page.text.contains("warden_invalid_requests_total 1\n"))
    }

    /// The stream id is the request id only when the request has no `x-request-id`.
    @Test func requestIDPrefersXRequestID() throws {
        var attrs = RequestAttributes(try CheckRequestEssentials(serializedBytes: Self.request("/orders")))
        #expect(attrs.requestID == "r-1" && attrs.streamID == "42")
        attrs.headers["x-request-id"] = nil
        #expect(attrs.requestID == "42")
    }
}
