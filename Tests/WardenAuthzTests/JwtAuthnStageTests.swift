import Testing
import WardenAuthz
import WardenJSON
import WardenJWT
import WardenPolicy

/// The Envoy jwt_authn stage on the socket-free Check path (issue 20): first-match rules, Envoy's verifier tree,
/// the answer's headers and metadata, and the Istio resources running after it. The same semantics are checked
/// against Envoy 1.40 itself in Tests/IntegrationTests/test_jwt_authn_oracle.py; these rows also run under the
/// sanitizers (`make test-sanitize`).
@Suite struct JwtAuthnStageTests {
    static let other = "https://other.example"

    static func document(_ extra: String = "") -> String {
        """
        name: envoy.filters.http.jwt_authn
        typed_config:
          providers:
            a:
              issuer: "\(issuer)"
              local_jwks: {inline_string: '\(jwks)'}
              forward_payload_header: x-jwt-payload
              claim_to_headers: [{header_name: x-sub, claim_name: sub}]
              payload_in_metadata: a_payload
            b:
              issuer: "\(other)"
              local_jwks: {inline_string: '\(jwks)'}
              from_headers: [{name: x-b}]
              forward: true
          rules:
          - match: {path: /status}
          - match: {prefix: /public/}
            requires: {allow_missing_or_failed: {}}
          - match: {prefix: /docs}
            requires: {requires_any: {requirements: [{provider_name: a}, {allow_missing: {}}]}}
          - match: {prefix: /both}
            requires: {requires_all: {requirements: [{provider_name: a}, {provider_name: b}]}}
          - match: {prefix: /either}
            requires: {requires_any: {requirements: [{provider_name: a}, {provider_name: b}]}}
          - match: {prefix: /}
            requires: {provider_name: a}
        \(extra)
        """
    }

    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var path: String
        var headers: [String: String]
        var status: Int?      // nil: allowed
        var body: String? = nil
        var testDescription: String { name }
    }

    static let a = token()
    static let aExpired = token(["exp": .number(testNow - 3600)])
    static let b = token(["iss": .string(other)])

    static let rows: [Row] = [
        Row(name: "a rule without requires: a bad token passes", path: "/status", headers: ["authorization": "Bearer \(aExpired)"], status: nil),
        Row(name: "first match: /status/x falls to /", path: "/status/x", headers: [:], status: 401, body: "Jwt is missing"),
        Row(name: "provider: valid", path: "/api", headers: ["authorization": "Bearer \(a)"], status: nil),
        Row(name: "provider: expired", path: "/api", headers: ["authorization": "Bearer \(aExpired)"], status: 401, body: "Jwt is expired"),
        Row(name: "provider: another issuer's token at its location", path: "/api", headers: ["authorization": "Bearer \(b)"],
            status: 401, body: "Jwt issuer is not configured"),
        Row(name: "allow_missing_or_failed: an expired token passes", path: "/public/x", headers: ["authorization": "Bearer \(aExpired)"], status: nil),
        Row(name: "any{a, allow_missing}: missing passes", path: "/docs", headers: [:], status: nil),
        Row(name: "any{a, allow_missing}: invalid fails", path: "/docs", headers: ["authorization": "Bearer \(aExpired)"], status: 401,
            body: "Jwt is expired"),
        Row(name: "all{a, b}: both", path: "/both", headers: ["authorization": "Bearer \(a)", "x-b": b], status: nil),
        Row(name: "all{a, b}: b missing", path: "/both", headers: ["authorization": "Bearer \(a)"], status: 401, body: "Jwt is missing"),
        Row(name: "any{a, b}: b alone", path: "/either", headers: ["x-b": b], status: nil),
        Row(name: "any{a, b}: none", path: "/either", headers: [:], status: 401, body: "Jwt is missing"),
        Row(name: "any{a, b}: a expired, b missing → the real error wins over missing", path: "/either",
            headers: ["authorization": "Bearer \(aExpired)"], status: 401, body: "Jwt is expired"),
    ]

    @Test(arguments: rows)
    func decides(_ row: Row) throws {
        let service = pipeline(try PolicySet.parse(yaml: Self.document()))
        let result = service.decide(request("GET", row.path, headers: row.headers))
        #expect(result.decision.deny?.status == row.status, "\(result.record.reason)")
        if let body = row.body { #expect(result.decision.deny?.body == body) }
        #expect(result.record.jwtAuthn.count == 1)
    }

    @Test func theAllowCarriesHeadersMetadataAndStripsSpoofedCopies() throws {
        let service = pipeline(try PolicySet.parse(yaml: Self.document()))
        let result = service.decide(request("GET", "/api", headers: ["authorization": "Bearer \(Self.a)", "x-sub": "spoofed"]))
        let ok = try #require(result.decision.allow)
        #expect(ok.headersToSet.first { $0.name == "x-sub" }?.value == "alice")
        #expect(ok.headersToSet.first { $0.name == "x-jwt-payload" }?.value == Self.a.split(separator: ".")[1].description)
        #expect(ok.headersToRemove.contains("authorization"))    // forward: false
        #expect(ok.dynamicMetadata["a_payload"]?["sub"] == .string("alice"))
        // An unmatched route still never lets a client's copy of an output header through.
        let open = service.decide(request("GET", "/status", headers: ["x-jwt-payload": "spoofed"]))
        #expect(open.decision.allow?.headersToRemove.contains("x-jwt-payload") == true)
    }

    @Test func theIstioResourcesRunAfterIt() throws {
        let set = try PolicySet.parse(yaml: Self.document() + """

            ---
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: no-delete, namespace: default}
            spec:
              action: DENY
              rules: [{to: [{operation: {methods: [DELETE]}}]}]
            """)
        let service = pipeline(set)
        #expect(service.decide(request("DELETE", "/api", headers: ["authorization": "Bearer \(Self.a)"])).decision.deny?.status == 403)
        // The jwt_authn requirement answers first: no token is 401, not the DENY's 403.
        #expect(service.decide(request("DELETE", "/api")).decision.deny?.body == "Jwt is missing")
    }

    @Test func aRouteChoosesANamedRequirementOrTurnsItOff() throws {
        let set = try PolicySet.parse(yaml: Self.document("""
              requirement_map:
                needs_b: {provider_name: b}
            """))
        let service = pipeline(set)
        var r = request("GET", "/api", headers: ["x-b": Self.b])
        r.contextExtensions = ["jwt_authn.requirement_name": "needs_b"]
        #expect(service.decide(r).decision.allow != nil)
        r.contextExtensions = ["jwt_authn.requirement_name": "undefined"]
        // Envoy's findPerRouteVerifier: 403, the known names sorted, no challenge.
        let wrong = service.decide(r).decision.deny
        #expect(wrong?.status == 403 && wrong?.body == "Failed JWT authentication: Wrong requirement_name: undefined. It should be one of [needs_b]")
        #expect(wrong?.headers.contains { $0.name == "www-authenticate" } == false)
        var off = request("GET", "/api")
        off.contextExtensions = ["jwt_authn.disabled": "true"]
        #expect(service.decide(off).decision.allow != nil)
    }
}
