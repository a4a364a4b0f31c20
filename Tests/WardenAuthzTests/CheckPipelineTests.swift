import Testing
import WardenAuthz
import WardenJSON
import WardenPolicy

/// One request through the whole pipeline (extract → authenticate → authorize → respond), socket-free.
struct PipelineCase: CustomTestStringConvertible, Sendable {
    let name: String
    var method = "GET"
    var path = "/"
    var headers: [String: String] = [:]
    var status: Int
    var body: String? = nil
    /// Expected `www-authenticate` (nil: must be absent).
    var challenge: String? = nil
    /// The record's reason code (the log field and metric label).
    var reason: ReasonCode = .allowed
    var testDescription: String { name }
}

let good = token()
let realm = "Bearer realm=\"http://api.example.com/"
let invalid = "\", error=\"invalid_token\""

let authenticationCases: [PipelineCase] = [
    PipelineCase(name: "no token passes with no identity", status: 200),
    PipelineCase(name: "valid Bearer token", headers: ["authorization": "Bearer \(good)"], status: 200),
    PipelineCase(name: "prefix found anywhere in the value (Envoy)", headers: ["authorization": "Token x Bearer \(good)"], status: 200),
    PipelineCase(name: "lowercase bearer is no token", headers: ["authorization": "bearer \(good)"], status: 200),
    PipelineCase(name: "Basic credentials are no token", headers: ["authorization": "Basic dXNlcjpw"], status: 200),
    PipelineCase(name: "access_token query parameter", path: "/?access_token=\(good)", status: 200),
    PipelineCase(name: "expired", headers: ["authorization": "Bearer \(token(["exp": .number(testNow - 61)]))"], status: 401,
                 body: "Jwt is expired", challenge: realm + invalid, reason: .jwtExpired),
    PipelineCase(name: "expired within the 60 s skew", headers: ["authorization": "Bearer \(token(["exp": .number(testNow - 30)]))"], status: 200),
    PipelineCase(name: "not yet valid", headers: ["authorization": "Bearer \(token(["nbf": .number(testNow + 120)]))"], status: 401,
                 body: "Jwt not yet valid", challenge: realm + invalid, reason: .jwtNotYetValid),
    PipelineCase(name: "audience mismatch is 403", headers: ["authorization": "Bearer \(token(["aud": .string("other")]))"], status: 403,
                 body: "Audiences in Jwt are not allowed", challenge: realm + invalid, reason: .jwtAudienceMismatch),
    PipelineCase(name: "unknown issuer", headers: ["authorization": "Bearer \(token(["iss": .string("https://evil.example")]))"], status: 401,
                 body: "Jwt issuer is not configured", challenge: realm + invalid, reason: .jwtIssuerNotConfigured),
    PipelineCase(name: "bad signature", headers: ["authorization": "Bearer \(token(key: Array("another secret, 32 bytes long!!!".utf8)))"],
                 status: 401, body: "Jwt verification fails", challenge: realm + invalid, reason: .jwtBadSignature),
    PipelineCase(name: "unknown kid", headers: ["authorization": "Bearer \(token(kid: "k9"))"], status: 401,
                 body: "Jwks doesn't have key to match kid or alg from Jwt", challenge: realm + invalid, reason: .jwtUnknownKid),
    PipelineCase(name: "malformed", path: "/x?y=1", headers: ["authorization": "Bearer abc"], status: 401,
                 body: "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
                 challenge: "Bearer realm=\"http://api.example.com/x?y=1\", error=\"invalid_token\"", reason: .jwtMalformed),
    PipelineCase(name: "valid header + invalid query token", path: "/?access_token=abc", headers: ["authorization": "Bearer \(good)"],
                 status: 401, challenge: "Bearer realm=\"http://api.example.com/?access_token=abc\", error=\"invalid_token\"", reason: .jwtMalformed),
    PipelineCase(name: "CORS preflight skips authentication", method: "OPTIONS",
                 headers: ["authorization": "Bearer abc", "origin": "https://a.example", "access-control-request-method": "PUT"], status: 200),
    PipelineCase(name: "OPTIONS without Origin is authenticated", method: "OPTIONS", headers: ["authorization": "Bearer abc"], status: 401,
                 challenge: realm + invalid, reason: .jwtMalformed),
]

@Test(arguments: authenticationCases)
func authentication(_ c: PipelineCase) throws {
    let p = pipeline(try policies())
    let outcome = p.decide(request(c.method, c.path, headers: c.headers))
    #expect(outcome.decision.httpStatus == c.status)
    if let body = c.body { #expect(outcome.decision.deny?.body == body) }
    #expect(outcome.decision.header("www-authenticate") == c.challenge)
    #expect(outcome.reasonCode == c.reason)
}

let requireJWT = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: require, namespace: default}
spec:
  action: DENY
  rules:
  - from: [{source: {notRequestPrincipals: ["*"]}}]
    to: [{operation: {notPaths: ["/healthz"]}}]
"""

@Test(arguments: [("/orders", nil, 403), ("/healthz", nil, 200), ("/orders", "Bearer \(good)", 200)] as [(String, String?, Int)])
func missingTokenUnderRequestPrincipalsIsRBACDenied(_ path: String, _ auth: String?, _ status: Int) throws {
    let p = pipeline(try policies(requireJWT), debug: true)
    let outcome = p.decide(request("GET", path, headers: auth.map { ["authorization": $0] } ?? [:]))
    #expect(outcome.decision.httpStatus == status)
    if status == 403 {
        #expect(outcome.decision.deny?.body == "RBAC: access denied")
        #expect(outcome.decision.header("www-authenticate") == nil)
        #expect(outcome.decision.header("x-warden-denied-by") == "default/require")
        #expect(outcome.reasonCode == .policyDenied)
    }
}

@Test func debugHeadersOnlyWhenAsked() throws {
    let p = pipeline(try policies(requireJWT), debug: false)
    let outcome = p.decide(request("GET", "/orders"))
    #expect(outcome.decision.deny?.headers.isEmpty == true)
}

@Test func allowSetsClaimHeadersRemovesSpoofsAndToken() throws {
    let t = token(["org": .object(["tenant": .string("acme")])])
    let outcome = pipeline(try policies()).decide(request("GET", "/", headers: ["authorization": "Bearer \(t)", "x-sub": "mallory"]))
    let ok = try #require(outcome.decision.allow)
    #expect(ok.headersToSet.map(\.name).sorted() == ["x-payload", "x-sub", "x-tenant"])
    #expect(outcome.decision.header("x-sub") == "alice")
    #expect(outcome.decision.header("x-tenant") == "acme")
    #expect(outcome.decision.header("x-payload") == t.split(separator: ".")[1].description)
    #expect(ok.headersToRemove == ["authorization", "x-warden-decision", "x-warden-reason", "x-warden-denied-by"])
    if case .object(let claims)? = ok.dynamicMetadata["jwt_payload"] { #expect(claims["sub"] == .string("alice")) } else { Issue.record("no jwt_payload") }
    #expect(outcome.principal == "\(issuer)/alice")
}

@Test func spoofedOutputHeadersAreRemovedWithoutAToken() throws {
    let ok = try #require(pipeline(try policies()).decide(request("GET", "/", headers: ["x-sub": "mallory", "x-tenant": "x"])).decision.allow)
    #expect(ok.headersToSet.isEmpty)
    #expect(Set(ok.headersToRemove) == ["x-sub", "x-tenant", "x-payload", "x-warden-decision", "x-warden-reason", "x-warden-denied-by"])
}

@Test func spoofedWardenHeadersNeverReachTheUpstream() throws {
    // Without --debug-headers Warden sets none of its own headers, so a client's copies are removed.
    let ok = try #require(pipeline(try policies()).decide(request("GET", "/", headers: ["x-warden-decision": "allow"])).decision.allow)
    #expect(!ok.headersToSet.contains { $0.name.hasPrefix("x-warden-") })
    #expect(Set(ok.headersToRemove).isSuperset(of: ["x-warden-decision", "x-warden-reason", "x-warden-denied-by"]))
}

@Test func missingClaimHeaderIsRemovedNotSet() throws {
    let ok = try #require(pipeline(try policies()).decide(request("GET", "/", headers: ["authorization": "Bearer \(good)", "x-tenant": "spoof"])).decision.allow)
    #expect(!ok.headersToSet.contains { $0.name == "x-tenant" })
    #expect(ok.headersToRemove.contains("x-tenant"))
}

@Test func queryTokenIsRemovedByItsRawKey() throws {
    let ok = try #require(pipeline(try policies()).decide(request("GET", "/a?access%5Ftoken=\(good)&x=1")).decision.allow)
    #expect(ok.queryParametersToRemove.contains("access%5Ftoken"))
    #expect(ok.headersToRemove.contains("authorization") == false)
}

@Test func forwardOriginalTokenKeepsTheHeader() throws {
    let set = try policies(rule: "    forwardOriginalToken: true")
    let ok = try #require(pipeline(set).decide(request("GET", "/", headers: ["authorization": "Bearer \(good)"])).decision.allow)
    #expect(!ok.headersToRemove.contains("authorization"))
}

@Test func customHeaderPrefixAndCookie() throws {
    let set = try policies(rule: """
        fromHeaders: [{name: X-Token, prefix: "Tok "}]
        fromCookies: [session]
    """)
    let p = pipeline(set)
    #expect(p.decide(request("GET", "/", headers: ["x-token": "Tok \(good)"])).decision.isAllowed)
    #expect(p.decide(request("GET", "/", headers: ["x-token": "Tok abc"])).decision.httpStatus == 401)
    // Once fromHeaders/fromCookies are set, the defaults no longer apply.
    #expect(p.decide(request("GET", "/", headers: ["authorization": "Bearer abc"])).decision.isAllowed)
    let cookie = p.decide(request("GET", "/", headers: ["cookie": "a=b; session=\(good)"]))
    let ok = try #require(cookie.decision.allow)
    #expect(!ok.headersToRemove.contains("cookie"))   // Envoy leaves cookie tokens in place
    #expect(p.decide(request("GET", "/", headers: ["cookie": "session=abc"])).decision.httpStatus == 401)
}

@Test func scopeClaimsMatchPerElement() throws {
    let write = """
    apiVersion: security.istio.io/v1
    kind: AuthorizationPolicy
    metadata: {name: write, namespace: default}
    spec:
      rules:
      - when: [{key: "request.auth.claims[scope]", values: ["orders:write"]}]
      - when: [{key: "request.auth.claims[scp]", values: ["orders:write"]}]
    """
    let p = pipeline(try policies(write))
    func status(_ claims: [String: JSONValue]) -> Int {
        p.decide(request("POST", "/", headers: ["authorization": "Bearer \(token(claims))"])).decision.httpStatus
    }
    #expect(status(["scope": .string("orders:read orders:write")]) == 200)
    #expect(status(["scp": .array([.string("orders:write")])]) == 200)
    #expect(status(["scope": .string("orders:read")]) == 403)
    #expect(status(["scope": .string("orders:writer")]) == 403)
}

@Test func reloadSwapsGenerationsAtomically() throws {
    let p = pipeline(try policies())
    #expect(p.decide(request()).generation == 1)
    let denyAll = """
    apiVersion: security.istio.io/v1
    kind: AuthorizationPolicy
    metadata: {name: none, namespace: default}
    spec: {}
    """
    #expect(p.install(try policies(denyAll)) == 2)
    let outcome = p.decide(request())
    #expect(outcome.generation == 2)
    #expect(outcome.decision.httpStatus == 403)
}

@Test(arguments: [
    (["namespace": "other"], 200),
    (["namespace": "default"], 403),
    (["label.app": "api"], 403),
] as [([String: String], Int)])
func contextExtensionsScopeEachRequest(_ ext: [String: String], _ status: Int) throws {
    let scoped = """
    apiVersion: security.istio.io/v1
    kind: AuthorizationPolicy
    metadata: {name: none, namespace: default}
    spec:
      selector: {matchLabels: {}}
    """
    let p = pipeline(try policies(scoped))
    var r = request()
    r.contextExtensions = ext
    #expect(p.decide(r).decision.httpStatus == status)
}

/// Reason and policy of a decision are renderings of its record (the decision log, `x-warden-reason`, `warden explain`).
@Test(arguments: [("/orders", nil, "denied by DENY policy default/require rule[0]", "default/require rule[0]"),
                  ("/orders", "Bearer \(good)", "allowed: no ALLOW policies apply", nil)] as [(String, String?, String, String?)])
func recordExplainsThePolicyDecision(_ path: String, _ auth: String?, _ reason: String, _ policy: String?) throws {
    let outcome = pipeline(try policies(requireJWT), debug: true).decide(request("GET", path, headers: auth.map { ["authorization": $0] } ?? [:]))
    #expect(outcome.record.reason == reason)
    #expect(outcome.record.policy == policy)
    #expect(outcome.decision.header("x-warden-reason") == reason)
}

/// One location with two different tokens is ambiguous (applications disagree on which wins): 401
/// "Found multiple Jwt tokens", neither verified. The same token twice is not ambiguous. Repeated
/// `Cookie` lines reach ext_authz joined with `,`: a token in the second line is found (and checked).
@Test(arguments: [
    ("/?access_token=A&access_token=B", [:], 401, ReasonCode.jwtMultipleTokens),
    ("/?access_token=A&access_token=A", [:], 200, .allowed),
    ("/", ["cookie": "session=A; session=B"], 401, .jwtMultipleTokens),
    ("/", ["cookie": "session=A; other=1; session=A"], 200, .allowed),
    ("/", ["cookie": "other=1,session=A"], 200, .allowed),        // two Cookie lines, token in the second
    ("/", ["cookie": "other=1,session=garbage"], 401, .jwtMalformed),  // …and never missed when invalid
] as [(String, [String: String], Int, ReasonCode)])
func ambiguousAndSplitCarriers(_ path: String, _ headers: [String: String], _ status: Int, _ reason: ReasonCode) throws {
    let set = try policies(rule: """
        fromParams: [access_token]
        fromCookies: [session]
    """)
    let a = good, b = token(["sub": .string("mallory")])
    func fill(_ s: String) -> String { s.replacingAll("=A", with: "=\(a)").replacingAll("=B", with: "=\(b)") }
    let r = pipeline(set).decide(request("GET", fill(path), headers: headers.mapValues(fill)))
    #expect(r.decision.httpStatus == status)
    #expect(r.reasonCode == reason)
    if reason == .jwtMultipleTokens { #expect(r.decision.deny?.body == "Found multiple Jwt tokens") }
}
