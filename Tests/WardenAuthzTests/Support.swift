import Foundation
import WardenAuthz
import WardenCrypto
import WardenJSON
import WardenJWKS
import WardenJWT
import WardenPolicy

/// Fixed clock for every pipeline test (2026-01-01T00:00:00Z).
let testNow: Double = 1_767_225_600
let issuer = "https://idp.example"
let secret = Array("0123456789abcdef0123456789abcdef".utf8)
let jwks = #"{"keys":[{"kty":"oct","kid":"k1","alg":"HS256","k":"\#(Base64URL.encode(secret))"}]}"#

/// An HS256 token signed with the inline key (`kid` k1), claims as given (plus iss/sub/aud/exp defaults).
func token(_ claims: [String: JSONValue] = [:], kid: String = "k1", key: [UInt8] = secret, header: String? = nil) -> String {
    var all: [String: JSONValue] = ["iss": .string(issuer), "sub": .string("alice"), "aud": .string("api"),
                                    "exp": .number(testNow + 300)]
    for (k, v) in claims { all[k] = v }
    let h = header ?? #"{"alg":"HS256","typ":"JWT","kid":"\#(kid)"}"#
    let signingInput = Base64URL.encode(Array(h.utf8)) + "." + Base64URL.encode(Array(JSONValue.object(all).serialized.utf8))
    let mac = HMACKey(key).authenticationCode(for: Array(signingInput.utf8), digest: .sha256)
    return signingInput + "." + Base64URL.encode(mac)
}

/// RequestAuthentication (inline JWKS, claim/payload output) + the given AuthorizationPolicy YAML, in namespace `default`.
func policies(rule extra: String = "", _ authorizationPolicies: String = "") throws -> PolicySet {
    let yaml = """
    apiVersion: security.istio.io/v1
    kind: RequestAuthentication
    metadata: {name: jwt, namespace: default}
    spec:
      jwtRules:
      - issuer: "\(issuer)"
        audiences: [api]
        jwks: '\(jwks)'
        outputPayloadToHeader: x-payload
        outputClaimToHeaders:
        - {header: x-sub, claim: sub}
        - {header: x-tenant, claim: org.tenant}
    \(extra)
    ---
    \(authorizationPolicies)
    """
    return try PolicySet.parse(yaml: yaml)
}

/// A Check path over an inline key: no sockets, no fetches; `check` completes on the calling thread.
func pipeline(_ set: PolicySet, debug: Bool = false, tokenCache: (Int, Int) = (0, 0),
              clock: @escaping @Sendable () -> Double = { testNow }) -> CheckService {
    var options = AuthzOptions()
    options.debugHeaders = debug
    return CheckService(policies: set, scope: WorkloadScope(), keyStore: JWKSStore(), options: options,
                        tokenCache: tokenCache, clock: clock)
}

extension CheckService {
    /// Runs one check synchronously (inline keys never defer the completion).
    func decide(_ request: RequestAttributes) -> CheckResult {
        let box = ResultBox()
        check(request) { box.set($0) }
        return box.get()!
    }
}

extension CheckResult {
    var reasonCode: ReasonCode { record.reasonCode }
    var principal: String? { record.principal }
    var generation: Int { record.generation }
}

final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: CheckResult?
    func set(_ v: CheckResult) { lock.withLock { value = v } }
    func get() -> CheckResult? { lock.withLock { value } }
}

func request(_ method: String = "GET", _ path: String = "/", headers: [String: String] = [:], host: String = "api.example.com") -> RequestAttributes {
    var r = RequestAttributes()
    r.method = method
    r.path = path
    r.host = host
    r.scheme = "http"
    r.headers = [":method": method, ":path": path, ":authority": host]
    for (k, v) in headers { r.headers[k.lowercased()] = v }
    r.sourceIP = "10.0.0.1"
    return r
}

extension Decision {
    var allow: AllowResponse? { if case .allow(let a) = self { return a }; return nil }
    var deny: DenyResponse? { if case .deny(let d) = self { return d }; return nil }
    func header(_ name: String) -> String? {
        switch self {
        case .allow(let a): return a.headersToSet.first { $0.name == name }?.value
        case .deny(let d): return d.headers.first { $0.name == name }?.value
        }
    }
}
