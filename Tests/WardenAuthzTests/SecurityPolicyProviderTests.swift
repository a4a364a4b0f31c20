import Testing
import WardenAuthz
import WardenJSON
import WardenJWKS
import WardenPolicy

// The model: Istio's jwt filter + RBAC and Envoy Gateway's jwt_authn + RBAC are separate filters in one chain. Each
// jwt filter verifies tokens with its OWN providers, each RBAC sees only the identity its own jwt filter produced,
// and every filter must pass.
// - envoyproxy/gateway internal/xds/translator/jwt.go: a SecurityPolicy's jwt is one jwt_authn requirement,
//   requires_any of its providers, with `allow_missing` added for `optional: true`; `payload_in_metadata` per provider.
// - envoyproxy/envoy source/extensions/filters/http/jwt_authn/verifier.cc AnyVerifierImpl: allow_missing passes only
//   a request whose final status is JwtMissed; a present token of another issuer is JwtUnknownIssuer (401), one of the
//   provider's issuer that fails (audience, signature) that failure.
// - envoyproxy/gateway api/v1alpha1/authorization_types.go `JWTPrincipal.Provider`: "the name of the JWT provider that
//   used to verify the JWT token".
// Every case runs with the resources named both ways round (`aaa-…`/`zzz-…`): which provider verifies a token must
// not depend on resource names.

private let otherIssuer = "https://other.example"

/// - Parameters:
///   - istioAudiences: an Istio RequestAuthentication for `issuer` with these audiences (nil: none), with an ALLOW
///     on `requestPrincipals: [issuer/*]` when `istioAllow`.
///   - istioFirst: the Istio resources sort before the SecurityPolicy (`aaa-istio`, `zzz-sp`) or after.
///   - optional / spProviders: the SecurityPolicy's `jwt.optional` and its providers' `issuer|audience` pairs.
///   - spRule: the SecurityPolicy's authorization (an Allow rule on provider `pb` with claim role=admin), or none.
private func pipeline(istioAudiences: [String]?, istioAllow: String? = nil, istioFirst: Bool, optional: Bool = true,
                      spProviders: [(String, String)] = [("pa", "a"), ("pb", "b")], spIssuer: String = issuer,
                      spRule: Bool = true) throws -> CheckService {
    let istioName = istioFirst ? "aaa-istio" : "zzz-istio"
    let spName = istioFirst ? "zzz-sp" : "aaa-sp"
    var yaml = ""
    if let audiences = istioAudiences {
        yaml += """
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata: {name: \(istioName), namespace: default}
            spec:
              jwtRules:
              - {issuer: "\(issuer)", audiences: [\(audiences.joined(separator: ", "))], jwks: '\(jwks)'}
            ---

            """
    }
    if let principals = istioAllow {
        yaml += """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: \(istioName)-allow, namespace: default}
            spec:
              action: ALLOW
              rules:
              - from: [{source: {requestPrincipals: ["\(principals)"]}}]
            ---

            """
    }
    let providers = spProviders.map { name, aud in
        "    - {name: \(name), issuer: \"\(spIssuer)\", audiences: [\(aud)], localJWKS: {type: Inline, inline: '\(jwks)'}}"
    }.joined(separator: "\n")
    yaml += """
        apiVersion: gateway.envoyproxy.io/v1alpha1
        kind: SecurityPolicy
        metadata: {name: \(spName), namespace: default}
        spec:
          targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: backend}]
          jwt:
            optional: \(optional)
            providers:
        \(providers)

        """
    if spRule {
        yaml += """
              authorization:
                rules:
                - {action: Allow, principal: {jwt: {provider: pb, claims: [{name: role, values: [admin]}]}}}

            """
    }
    let set = try PolicySet.parse(yaml: yaml)
    return CheckService(policies: set, scope: WorkloadScope(namespace: "default", targets: [TargetRef(kind: "HTTPRoute", name: "backend")]),
                        keyStore: JWKSStore(), clock: { testNow })
}

private func check(_ service: CheckService, _ claims: [String: JSONValue]?) -> CheckResult {
    guard let claims else { return service.decide(request()) }
    var all = claims
    all["role"] = .string("admin")
    return service.decide(request(headers: ["authorization": "Bearer \(token(all))"]))
}

@Suite struct SecurityPolicyProviderTests {
    /// The SecurityPolicy alone: its own providers are any-of, and `principal.jwt.provider` is the one that verified.
    @Test(arguments: [true, false], [
        ("b", ReasonCode.allowed),          // pa refuses the audience; pb, the policy's other provider of the issuer, verifies it
        ("a", .noAllowPolicyMatched),       // verified by pa: the rule names pb
        ("c", .jwtAudienceMismatch),        // no provider accepts the audience (403, as jwt_authn)
    ] as [(String, ReasonCode)])
    func theRuleHoldsForTheProviderThatVerified(_ istioFirst: Bool, _ c: (audience: String, reason: ReasonCode)) throws {
        let service = try pipeline(istioAudiences: nil, istioFirst: istioFirst)
        let result = check(service, ["aud": .string(c.audience)])
        #expect(result.record.reasonCode == c.reason)
        #expect(result.decision.httpStatus == (c.reason == .allowed ? 200 : 403))
        if c.reason == .allowed {
            #expect(result.record.securityPolicyIdentities.values.flatMap { $0 }.map(\.verifiedBy) == ["default/\(istioFirst ? "zzz" : "aaa")-sp/pb"])
        }
    }

    /// Istio's RequestAuthentication (audiences api, b) and the SecurityPolicy (pa: a, pb: b) share the issuer: each
    /// filter verifies with its own providers, so a token passes only when both accept it, whatever the names.
    @Test(arguments: [true, false], [
        ("b", ReasonCode.allowed),          // Istio accepts b and its ALLOW matches; pb verifies it and the SP rule matches
        ("api", .jwtAudienceMismatch),      // Istio accepts api; neither SP provider does (the SP's jwt_authn: 403)
        ("a", .jwtAudienceMismatch),        // pa verifies it for the SP; Istio's own rule refuses the audience
    ] as [(String, ReasonCode)])
    func eachFilterVerifiesWithItsOwnProviders(_ istioFirst: Bool, _ c: (audience: String, reason: ReasonCode)) throws {
        let service = try pipeline(istioAudiences: ["api", "b"], istioAllow: "\(issuer)/*", istioFirst: istioFirst)
        let result = check(service, ["aud": .string(c.audience)])
        #expect(result.record.reasonCode == c.reason)
    }

    /// Repro p1 of the review: Istio (aud api) + ALLOW on the issuer's principals, an optional SecurityPolicy provider
    /// of the same issuer (aud a). Before, the first rule per issuer by resource name verified for both: aud-a → 200.
    @Test(arguments: [true, false], [
        ("a", ReasonCode.jwtAudienceMismatch),    // Istio's jwt filter refuses it (as Istio would)
        ("api", .jwtAudienceMismatch),            // the SecurityPolicy's jwt_authn refuses it (present, not verified: no allow_missing pass)
    ] as [(String, ReasonCode)])
    func aSharedIssuerIsVerifiedByBothFilters(_ istioFirst: Bool, _ c: (audience: String, reason: ReasonCode)) throws {
        let service = try pipeline(istioAudiences: ["api"], istioAllow: "\(issuer)/*", istioFirst: istioFirst, spProviders: [("pa", "a")],
                                   spRule: false)
        #expect(check(service, ["aud": .string(c.audience)]).record.reasonCode == c.reason)
    }

    /// Repro p2: an Istio ALLOW on any request principal, no Istio RequestAuthentication, an optional SecurityPolicy
    /// provider. The SecurityPolicy's verified token is no `request.auth.principal` for Istio's RBAC: 403 (before: 200).
    @Test(arguments: [true, false])
    func aSecurityPolicyTokenIsNoIstioPrincipal(_ istioFirst: Bool) throws {
        let service = try pipeline(istioAudiences: nil, istioAllow: "*", istioFirst: istioFirst, spProviders: [("pb", "b")], spRule: false)
        let result = check(service, ["aud": .string("b")])
        #expect(result.record.reasonCode == .noAllowPolicyMatched)
        #expect(result.record.securityPolicyIdentities.values.flatMap { $0 }.count == 1)  // the SecurityPolicy did verify it
        #expect(result.record.identities.isEmpty)
    }

    /// Repro p6: `optional: true` is requires_any[providers…, allow_missing]: no token passes; a present token none of the
    /// policy's providers verifies is 401 even when Istio's RequestAuthentication verifies it (before: 200).
    @Test(arguments: [true, false], [
        (nil, ReasonCode.allowed),                                  // no token: allow_missing
        (["aud": .string("api")], .jwtIssuerNotConfigured),         // Istio verifies it; the SP's provider is another issuer's
        (["iss": .string(otherIssuer), "aud": .string("b")], .jwtIssuerNotConfigured),   // the SP verifies it; Istio knows no such issuer
    ] as [([String: JSONValue]?, ReasonCode)])
    func anOptionalPolicyStillRefusesATokenItsProvidersDoNotVerify(_ istioFirst: Bool, _ c: (claims: [String: JSONValue]?, reason: ReasonCode)) throws {
        let service = try pipeline(istioAudiences: ["api"], istioFirst: istioFirst, spProviders: [("pb", "b")], spIssuer: otherIssuer, spRule: false)
        let result = check(service, c.claims)
        #expect(result.record.reasonCode == c.reason)
        #expect(result.decision.httpStatus == (c.reason == .allowed ? 200 : 401))
    }

    /// `optional: false` (the default): no token is 401 `Jwt is missing`, as before.
    @Test func aRequiredPolicyRefusesARequestWithoutToken() throws {
        let service = try pipeline(istioAudiences: nil, istioFirst: true, optional: false, spRule: false)
        #expect(check(service, nil).record.reasonCode == .jwtMissing)
        #expect(check(service, ["aud": .string("b")]).record.reasonCode == .allowed)
    }
}
