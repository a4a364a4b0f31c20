import Testing
import WardenAuthz
import WardenJSON
import WardenJWKS
import WardenPolicy

// envoyproxy/gateway authorization_types.go `JWTPrincipal.Provider`: "the name of the JWT provider that used to
// verify the JWT token". Envoy Gateway's requirement is any one of the SecurityPolicy's providers (jwt.go), so a
// token of the shared issuer with audience `b` is verified by provider `pb`, one with audience `a` by `pa`; the
// rule for `pb` holds for the first only. An Istio RequestAuthentication of the same issuer verifies tokens of its
// own audience: those are no SecurityPolicy provider's.

func securityPolicyPipeline(istio: Bool) throws -> CheckService {
    let ra = """
        apiVersion: security.istio.io/v1
        kind: RequestAuthentication
        metadata: {name: aaa-istio, namespace: default}
        spec:
          jwtRules:
          - {issuer: "\(issuer)", audiences: [api], jwks: '\(jwks)'}
        ---

        """
    let sp = """
        apiVersion: gateway.envoyproxy.io/v1alpha1
        kind: SecurityPolicy
        metadata: {name: sp, namespace: default}
        spec:
          targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: backend}]
          jwt:
            optional: true
            providers:
            - {name: pa, issuer: "\(issuer)", audiences: [a], localJWKS: {type: Inline, inline: '\(jwks)'}}
            - {name: pb, issuer: "\(issuer)", audiences: [b], localJWKS: {type: Inline, inline: '\(jwks)'}}
          authorization:
            rules:
            - {action: Allow, principal: {jwt: {provider: pb, claims: [{name: role, values: [admin]}]}}}
        """
    let set = try PolicySet.parse(yaml: (istio ? ra : "") + sp)
    return CheckService(policies: set, scope: WorkloadScope(namespace: "default", targets: [TargetRef(kind: "HTTPRoute", name: "backend")]),
                        keyStore: JWKSStore(), clock: { testNow })
}

@Suite struct SecurityPolicyProviderTests {
    @Test(arguments: [
        (false, "b", ReasonCode.allowed),            // pa refuses the audience; pb, the SecurityPolicy's other provider of the issuer, verifies it
        (false, "a", .noAllowPolicyMatched),               // verified by pa: the rule names pb
        (false, "c", .jwtAudienceMismatch),          // no provider accepts the audience (403, as jwt_authn)
        (true, "api", .noAllowPolicyMatched),              // verified by the Istio RequestAuthentication: before, `requestPrincipals: [iss/*]` allowed it
        (true, "b", .jwtAudienceMismatch),           // the Istio rule (first for the issuer) refuses it, as Istio's own jwt filter would
    ] as [(Bool, String, ReasonCode)])
    func theRuleHoldsForTheProviderThatVerified(_ istio: Bool, _ audience: String, _ reason: ReasonCode) throws {
        let service = try securityPolicyPipeline(istio: istio)
        let t = token(["aud": .string(audience), "role": .string("admin")])
        let result = service.decide(request(headers: ["authorization": "Bearer \(t)"]))
        #expect(result.record.reasonCode == reason)
        #expect(result.decision.httpStatus == (reason == .allowed ? 200 : 403))
        if reason == .allowed {
            #expect(result.record.identities.map(\.verifiedBy) == ["default/sp/pb"])
        }
    }
}
