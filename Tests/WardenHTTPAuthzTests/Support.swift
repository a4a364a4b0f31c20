import Foundation
import WardenAuthz
import WardenCrypto
import WardenHTTPAuthz
import WardenJSON
import WardenJWKS
import WardenJWT
import WardenPolicy

/// Fixed clock (2026-01-01T00:00:00Z), an HS256 inline key, and the policies every test here decides on.
let testNow: Double = 1_767_225_600
let issuer = "https://idp.example"
let secret = Array("0123456789abcdef0123456789abcdef".utf8)
let jwks = #"{"keys":[{"kty":"oct","kid":"k1","alg":"HS256","k":"\#(Base64URL.encode(secret))"}]}"#

func token(_ claims: [String: JSONValue] = [:], key: [UInt8] = secret) -> String {
    var all: [String: JSONValue] = ["iss": .string(issuer), "sub": .string("alice"), "aud": .string("api"), "exp": .number(testNow + 300)]
    for (k, v) in claims { all[k] = v }
    let h = #"{"alg":"HS256","typ":"JWT","kid":"k1"}"#
    let signingInput = Base64URL.encode(Array(h.utf8)) + "." + Base64URL.encode(Array(JSONValue.object(all).serialized.utf8))
    return signingInput + "." + Base64URL.encode(HMACKey(key).authenticationCode(for: Array(signingInput.utf8), digest: .sha256))
}

/// A token is required except on /public; /admin needs scope admin; /internal only from 10.0.0.0/8
/// (source.ip, which only a trusted `x-warden-client-address` provides); tokens in `x-forwarded-token` are forwarded.
let policyYAML = """
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: default}
spec:
  jwtRules:
  - issuer: "\(issuer)"
    audiences: [api]
    jwks: '\(jwks)'
    outputClaimToHeaders:
    - {header: x-sub, claim: sub}
  - issuer: "\(issuer)/forwarded"
    jwks: '\(jwks)'
    fromHeaders: [{name: x-forwarded-token}]
    forwardOriginalToken: true
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: require-jwt, namespace: default}
spec:
  action: DENY
  rules:
  - from: [{source: {notRequestPrincipals: ["*"]}}]
    to: [{operation: {notPaths: ["/public*"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: app, namespace: default}
spec:
  action: ALLOW
  rules:
  - to: [{operation: {paths: ["/public*", "/orders*"]}}]
  - to: [{operation: {paths: ["/admin*"]}}]
    when: [{key: "request.auth.claims[scope]", values: [admin]}]
  - to: [{operation: {paths: ["/internal*"]}}]
    from: [{source: {ipBlocks: ["10.0.0.0/8"]}}]
"""

func checkService() throws -> CheckService {
    CheckService(policies: try PolicySet.parse(yaml: policyYAML), scope: WorkloadScope(), keyStore: JWKSStore(),
                 options: AuthzOptions(), tokenCache: (0, 0), clock: { testNow })
}

final class Box<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T?
    func set(_ v: T) { lock.withLock { value = v } }
    func get() -> T? { lock.withLock { value } }
}

extension HTTPAuthzService {
    /// One request, answered synchronously (inline keys never defer the completion).
    func answer(_ request: HTTPAuthzRequest) -> (HTTPAuthzResponse, CheckResult?) {
        let box = Box<(HTTPAuthzResponse, CheckResult?)>()
        check(request) { box.set(($0, $1)) }
        return box.get()!
    }
}

extension CheckService {
    func decide(_ request: RequestAttributes) -> CheckResult {
        let box = Box<CheckResult>()
        check(request) { box.set($0) }
        return box.get()!
    }
}

/// A forward-auth request for the original `method` `uri` at `host`, plus the client's headers.
func forwardAuth(_ method: String, _ uri: String, host: String = "shop.example", headers: [(String, String)] = []) -> HTTPAuthzRequest {
    HTTPAuthzRequest(method: "GET", target: "/forward-auth",
                     headers: [("host", "warden:9192"), ("x-forwarded-method", method), ("x-forwarded-uri", uri),
                               ("x-forwarded-host", host), ("x-forwarded-proto", "https")] + headers.map { ($0.0, $0.1) })
}

/// An Envoy `http_service` request (path_prefix /envoy) for the original `method` `uri` at `host`.
func envoyHTTP(_ method: String, _ uri: String, host: String = "shop.example", headers: [(String, String)] = []) -> HTTPAuthzRequest {
    HTTPAuthzRequest(method: method, target: "/envoy" + uri,
                     headers: [("host", host), ("x-forwarded-proto", "https")] + headers.map { ($0.0, $0.1) })
}

/// What the gRPC path sees for the same original request.
func grpcAttributes(_ method: String, _ uri: String, host: String = "shop.example", headers: [(String, String)] = []) -> RequestAttributes {
    var r = RequestAttributes()
    r.method = method
    r.path = uri
    r.host = host
    r.scheme = "https"
    r.headers = [":method": method, ":path": uri, ":authority": host, ":scheme": "https"]
    for (k, v) in headers { r.headers[k] = v }
    return r
}
