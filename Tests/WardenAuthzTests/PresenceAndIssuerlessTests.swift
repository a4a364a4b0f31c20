import Testing
import WardenAuthz
import WardenJSON
import WardenJWT
import WardenPolicy

/// `jwtRules[].presence` (Istio API v1.31) and a jwtRule with `jwksUri` or keys and no `issuer` (Envoy's
/// provider without issuer), through the socket-free Check path.
@Suite struct PresenceAndIssuerlessTests {
    /// One RequestAuthentication in `default` with the given rules (YAML list items under `jwtRules:`).
    func set(_ rules: String, _ extra: String = "") throws -> PolicySet {
        try PolicySet.parse(yaml: """
        apiVersion: security.istio.io/v1
        kind: RequestAuthentication
        metadata: {name: ra, namespace: default}
        spec:
          jwtRules:
        \(rules)
        ---
        \(extra)
        """)
    }

    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var rules: String
        var headers: [String: String]
        var method = "GET"
        var status: Int?          // nil: allowed
        var code: ReasonCode
        var body: String? = nil
        var testDescription: String { name }
    }

    static let required = "  - issuer: \"\(issuer)\"\n    jwks: '\(jwks)'\n    presence: REQUIRED"
    static let optional = "  - issuer: \"\(issuer)\"\n    jwks: '\(jwks)'"
    static let other = "  - issuer: https://other.example\n    jwks: '\(jwks)'\n    fromHeaders: [{name: x-other}]"

    static let rows: [Row] = [
        Row(name: "REQUIRED, no token → 401 Jwt is missing", rules: required, headers: [:], status: 401, code: .jwtMissing, body: "Jwt is missing"),
        Row(name: "REQUIRED, a valid token → allowed", rules: required, headers: ["authorization": "Bearer \(token())"], status: nil, code: .allowed),
        Row(name: "REQUIRED, a bad token → its own failure", rules: required, headers: ["authorization": "Bearer x.y.z"], status: 401, code: .jwtMalformed),
        Row(name: "OPTIONAL (default), no token → passes with no identity", rules: optional, headers: [:], status: nil, code: .allowed),
        Row(name: "presence: OPTIONAL written out, no token → passes", rules: optional + "\n    presence: OPTIONAL", headers: [:], status: nil, code: .allowed),
        Row(name: "REQUIRED, CORS preflight → not authenticated (bypass_cors_preflight)", rules: required,
            headers: ["origin": "https://app.example", "access-control-request-method": "POST"], method: "OPTIONS", status: nil, code: .allowed),
        Row(name: "REQUIRED beside an OPTIONAL rule, no token anywhere → 401", rules: required + "\n" + other, headers: [:], status: 401, code: .jwtMissing),
        Row(name: "REQUIRED beside an OPTIONAL rule, the other rule's valid token → allowed (Envoy's any{P1, P2, …})",
            rules: required + "\n" + other, headers: ["x-other": token(["iss": .string("https://other.example")])], status: nil, code: .allowed),
    ]

    @Test(arguments: rows)
    func presence(_ row: Row) throws {
        let service = pipeline(try set(row.rules))
        let result = service.decide(request(row.method, "/", headers: row.headers))
        #expect(result.reasonCode == row.code, "\(result.record.reason)")
        #expect(result.decision.deny?.status == row.status)
        if let body = row.body {
            #expect(result.decision.deny?.body == body)
            // No error code without a token (RFC 6750 §3.1; Envoy's JwtMissed answer).
            #expect(result.decision.header("www-authenticate") == "Bearer realm=\"http://api.example.com/\"")
            #expect(result.record.reason.contains("presence: REQUIRED"), "\(result.record.reason)")
            #expect(result.record.authorization == nil)
        }
    }

    /// A rule without issuer verifies any `iss` with its keys; a rule naming the issuer still wins.
    @Test func ruleWithoutIssuerAcceptsAnyIssuer() throws {
        let doc = """
        apiVersion: security.istio.io/v1
        kind: RequestAuthentication
        metadata: {name: ra, namespace: default}
        spec:
          jwtRules:
          - issuer: "\(issuer)"
            jwks: '\(jwks)'
        """
        var set = try PolicySet.parse(yaml: doc)
        // The decoder accepts an issuer-less rule only with a jwksUri (Istio's rule); the Check path's semantics
        // are the same for inline keys, so the model gets an issuer-less twin of the rule with the inline keys.
        var ra = set.requestAuthentications[0]
        var anyIssuer = ra.jwtRules[0]
        anyIssuer.issuer = ""
        anyIssuer.fromHeaders = [JWTHeader(name: "x-any")]
        ra.jwtRules.append(anyIssuer)
        set = PolicySet(requestAuthentications: [ra], authorizationPolicies: [], tokenPolicies: [])
        let service = pipeline(set)
        // Any iss at the issuer-less rule's location: verified with its keys, principal from the token's iss.
        let foreign = service.decide(request(headers: ["x-any": token(["iss": .string("https://anyone.example")])]))
        #expect(foreign.reasonCode == .allowed, "\(foreign.record.reason)")
        #expect(foreign.principal == "https://anyone.example/alice")
        // A foreign iss where only the named rule reads: still not configured.
        let bearer = service.decide(request(headers: ["authorization": "Bearer \(token(["iss": .string("https://anyone.example")]))"]))
        #expect(bearer.reasonCode == .jwtIssuerNotConfigured)
        // A bad signature at the issuer-less location fails as any other.
        let forged = service.decide(request(headers: ["x-any": token(["iss": .string("https://anyone.example")], key: Array("x".utf8))]))
        #expect(forged.reasonCode == .jwtBadSignature)
    }
}
