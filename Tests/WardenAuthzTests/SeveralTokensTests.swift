import Testing
import WardenAuthz
import WardenJSON
import WardenJWT
import WardenPolicy

// Several valid tokens from different rules (issue 14), socket-free; test_policy_several_tokens.py runs the
// same layouts through Envoy beside Envoy's own jwt_authn + RBAC.
//
// - Every verified token's identity reaches the AuthorizationPolicies: a DENY on either token's principal
//   denies, whichever token comes first (it was skipped when the denied token came second).
// - As Envoy's jwt_authn under istiod's requirements: several tokens pass only when some rule finds only its
//   own issuer's tokens at its locations; when every rule finding a token also finds another issuer's, 401.

let issuerA = "https://a.example", issuerB = "https://b.example"

/// Rules for issuers A and B (one key, `k1`); `shared`: both read `Authorization: Bearer` and cookie
/// `session`; else A reads the header and B the cookie. DENY for B's `mallory` and for A's `bob`.
func severalRules(shared: Bool) throws -> PolicySet {
    let header = "fromHeaders: [{name: authorization, prefix: \"Bearer \"}]"
    let cookie = "fromCookies: [session]"
    return try PolicySet.parse(yaml: """
    apiVersion: security.istio.io/v1
    kind: RequestAuthentication
    metadata: {name: jwt, namespace: default}
    spec:
      jwtRules:
      - {issuer: "\(issuerA)", jwks: '\(jwks)', \(header)\(shared ? ", " + cookie : "")}
      - {issuer: "\(issuerB)", jwks: '\(jwks)', \(cookie)\(shared ? ", " + header : "")}
    ---
    apiVersion: security.istio.io/v1
    kind: AuthorizationPolicy
    metadata: {name: deny, namespace: default}
    spec:
      action: DENY
      rules:
      - from: [{source: {requestPrincipals: ["\(issuerB)/mallory", "\(issuerA)/bob"]}}]
    """)
}

@Test(arguments: [
    // (shared locations, header token, cookie token, status, reason)
    (false, "A alice", "B mallory", 403, ReasonCode.policyDenied),      // the DENY is on the second token
    (false, "A bob", "B carol", 403, .policyDenied),                    // … on the first
    (false, "A alice", "B carol", 200, .allowed),
    (false, "B mallory", "A alice", 401, .jwtIssuerNotConfigured),      // swapped: neither rule reads its token there
    (true, "A alice", "B mallory", 401, .jwtMixedIssuers),              // Envoy: every provider sees a foreign token
    (true, "B mallory", "A alice", 401, .jwtMixedIssuers),
    (true, "A alice", "B carol", 401, .jwtMixedIssuers),
    (true, "A alice", "A bob", 403, .policyDenied),                     // one issuer: rule A owns both; bob is denied
    (true, "A bob", "A alice", 403, .policyDenied),
    (true, "A alice", "A carol", 200, .allowed),
    (true, "B mallory", "", 403, .policyDenied),
] as [(Bool, String, String, Int, ReasonCode)])
func everyIdentityReachesThePolicies(_ shared: Bool, _ inHeader: String, _ inCookie: String, _ status: Int, _ reason: ReasonCode) throws {
    func mint(_ who: String) -> String {
        let parts = who.split(separator: " ")
        return token(["iss": .string(parts[0] == "A" ? issuerA : issuerB), "sub": .string(String(parts[1]))])
    }
    var headers: [String: String] = [:]
    if !inHeader.isEmpty { headers["authorization"] = "Bearer \(mint(inHeader))" }
    if !inCookie.isEmpty { headers["cookie"] = "session=\(mint(inCookie))" }
    let r = pipeline(try severalRules(shared: shared), debug: true).decide(request("GET", "/", headers: headers))
    #expect(r.decision.httpStatus == status)
    #expect(r.reasonCode == reason)
    if reason == .jwtMixedIssuers {
        #expect(r.decision.deny?.body == "Jwt issuer is not configured")
        #expect(r.decision.header("www-authenticate")?.hasSuffix("error=\"invalid_token\"") == true)
    }
}

/// The record says which identity a denial is about: the log's principal and the reason name it.
@Test func recordNamesTheDeniedIdentity() throws {
    let a = token(["iss": .string(issuerA), "sub": .string("alice")]), b = token(["iss": .string(issuerB), "sub": .string("mallory")])
    let r = pipeline(try severalRules(shared: false), debug: true)
        .decide(request("GET", "/", headers: ["authorization": "Bearer \(a)", "cookie": "session=\(b)"]))
    #expect(r.record.identities.map(\.principal) == ["\(issuerA)/alice", "\(issuerB)/mallory"])
    #expect(r.principal == "\(issuerB)/mallory")
    #expect(r.record.reason == "denied by DENY policy default/deny rule[0] (identity 2 of 2, \"\(issuerB)/mallory\")")
    #expect(r.decision.header("x-warden-reason") == r.record.reason)
}

/// Tokens rejected together keep their own traces (each verified); the record carries the rejection.
@Test func mixedIssuersKeepEachTokensVerification() throws {
    let a = token(["iss": .string(issuerA)]), b = token(["iss": .string(issuerB)])
    let r = pipeline(try severalRules(shared: true)).decide(request("GET", "/", headers: ["authorization": "Bearer \(a)", "cookie": "session=\(b)"]))
    #expect(r.record.tokens.allSatisfy { $0.verified != nil })
    #expect(r.record.identities.isEmpty && r.principal == nil && r.record.authorization == nil)
    guard case .mixedIssuers(let location, let iss, let rule)? = r.record.rejection?.error else {
        Issue.record("\(r.record.reason)")
        return
    }
    #expect(location == "cookie session" && iss == issuerB && rule == issuerA)
}
