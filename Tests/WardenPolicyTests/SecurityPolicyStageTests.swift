import Testing
import WardenJSON
@testable import WardenPolicy

// Envoy Gateway translates a SecurityPolicy's `authorization` into an RBAC filter of its own on the route
// (envoyproxy/gateway internal/xds/translator/authorization.go: `envoy.filters.http.rbac` in the route's
// per-filter config); Istio's AuthorizationPolicies are another RBAC filter. Envoy runs every HTTP filter of the
// chain, so a request must pass both: ALLOW rules of one never make up for a denial by the other.

/// Istio ALLOW for /a (plus /b for tokens of admin) and a SecurityPolicy that, by default, denies.
let andStageYAML = ap("istio-allow", "action: ALLOW\nrules:\n- to: [{operation: {paths: [/a, /b]}}]")
    + securityPolicy("""
        authorization:
          defaultAction: Deny
          rules:
          - {action: Allow, principal: {headers: [{name: x-b, values: ["yes"]}]}}
        """)

@Suite struct SecurityPolicyStageTests {
    @Test(arguments: [
        // Istio allows /a; the SecurityPolicy's default Deny still applies (before: its ALLOW was ORed away).
        (Req(path: "/a"), false),
        (Req(path: "/a", headers: ["x-b": "yes"]), true),
        // The SecurityPolicy allows; Istio's ALLOW does not match /c.
        (Req(path: "/c", headers: ["x-b": "yes"]), false),
        (Req(path: "/b", headers: ["x-b": "no"]), false),
    ] as [(Req, Bool)])
    func istioAndSecurityPolicyMustBothAllow(_ req: Req, _ allowed: Bool) throws {
        let eff = try effective(andStageYAML, scope: gatewayTarget)
        #expect(eff.stages.count == 2 && eff.stages[0].securityPolicy == nil && eff.stages[1].securityPolicy != nil)
        let d = AuthorizationEvaluator.evaluate(eff, request: req.attributes, identity: nil)
        #expect(d.isAllowed == allowed, "\(d.verdict)")
    }

    @Test func theDenyingStageIsReported() throws {
        let eff = try effective(andStageYAML, scope: gatewayTarget)
        let d = AuthorizationEvaluator.evaluate(eff, request: Req(path: "/a").attributes, identity: nil)
        guard case .deny(.noAllowPolicyMatched(let policies, _)) = d.verdict else { Issue.record("\(d.verdict)"); return }
        #expect(policies == [PolicyRef(namespace: "foo", name: "sp")])
    }

    /// A SecurityPolicy's DENY is its own stage too: an Istio DENY and an SP Deny rule each deny alone.
    @Test func aSecurityPolicyDenyRuleDeniesWhatIstioAllows() throws {
        let yaml = ap("istio-allow", "action: ALLOW\nrules:\n- {}")
            + securityPolicy("authorization:\n  defaultAction: Allow\n  rules:\n  - {action: Deny, principal: {clientCIDRs: [10.0.0.0/8]}}")
        let eff = try effective(yaml, scope: gatewayTarget)
        #expect(!AuthorizationEvaluator.evaluate(eff, request: Req(sourceIP: "10.1.1.1").attributes, identity: nil).isAllowed)
        #expect(AuthorizationEvaluator.evaluate(eff, request: Req(sourceIP: "192.0.2.1").attributes, identity: nil).isAllowed)
    }
}

/// A CheckRequest does not say which route it came by, so one Warden cannot apply route A's SecurityPolicy to
/// route A only: `--target`s that select different SecurityPolicies are refused at load (file and line).
@Suite struct SecurityPolicyTargetTests {
    let onA = securityPolicy("authorization:\n  rules:\n  - {action: Allow, principal: {clientCIDRs: [10.0.0.0/8]}}", name: "on-a", target: "kind: HTTPRoute\n    name: a")
    let onB = securityPolicy("authorization: {}", name: "on-b", target: "kind: HTTPRoute\n    name: b")
    let onGateway = securityPolicy("authorization: {}", name: "on-eg", target: "kind: Gateway\n    name: eg")

    static func targets(_ t: String...) -> [TargetRef] {
        t.map { let p = $0.split(separator: "/"); return TargetRef(kind: String(p[0]), name: String(p[1])) }
    }

    @Test(arguments: [
        (targets("HTTPRoute/a", "HTTPRoute/b"), 2),      // each route its own policy
        (targets("HTTPRoute/a", "HTTPRoute/c"), 1),      // one route with a policy, one without
        (targets("HTTPRoute/a"), 0),
        (targets("Gateway/eg", "HTTPRoute/a"), 0),       // the route's policy replaces the Gateway's: one answer
        (targets("Gateway/eg", "HTTPRoute/c"), 0),
        (targets("Gateway/eg", "HTTPRoute/a", "HTTPRoute/c"), 2),  // a → on-a, c → on-eg
        (targets("Gateway/eg", "Gateway/other"), 1),
        (targets("Service/web", "Service/api"), 0),      // no SecurityPolicy selected by either
    ] as [([TargetRef], Int)])
    func targetsSelectingDifferentPoliciesAreRefused(_ targets: [TargetRef], _ errors: Int) throws {
        let set = try PolicySet.parse(yaml: onA + onB + onGateway, file: "sp.yaml")
        let found = set.securityPolicyTargetConflicts(for: WorkloadScope(namespace: "foo", targets: targets))
        #expect(found.count == errors, "\(found)")
        for e in found {
            #expect(e.description.contains("sp.yaml:") && e.description.contains("one Warden per route target"), "\(e)")
        }
    }

    /// Repro p5: the policies live in namespace foo, Warden starts in `default`; a check whose `namespace` context
    /// extension is foo (CheckService re-scopes it) would meet both. Serve's and explain's check covers every namespace.
    @Test(arguments: [
        ("default", targets("Gateway/eg", "HTTPRoute/a"), 0),           // the route's policy replaces the Gateway's
        ("default", targets("Gateway/eg", "HTTPRoute/a", "HTTPRoute/c"), 2),
        ("default", targets("HTTPRoute/a", "HTTPRoute/b"), 2),
        ("foo", targets("HTTPRoute/a", "HTTPRoute/b"), 2),
        ("default", targets("HTTPRoute/a"), 0),
    ] as [(String, [TargetRef], Int)])
    func everyNamespaceACheckCanSelectIsChecked(_ namespace: String, _ targets: [TargetRef], _ errors: Int) throws {
        let set = try PolicySet.parse(yaml: onA + onB + onGateway, file: "sp.yaml")
        let scope = WorkloadScope(namespace: namespace, targets: targets)
        let found = set.admissionErrors(for: scope)
        #expect(found.count == errors, "\(found)")
        if namespace == "default" { #expect(set.securityPolicyTargetConflicts(for: scope).isEmpty) }  // the startup namespace alone: nothing
    }

    @Test func onePolicyOnTwoRoutesIsOneAnswer() throws {
        let both = securityPolicy("authorization: {}", name: "both", target: "kind: HTTPRoute\n    name: a\n  - group: gateway.networking.k8s.io\n    kind: HTTPRoute\n    name: b")
        let set = try PolicySet.parse(yaml: both, file: "sp.yaml")
        #expect(set.securityPolicyTargetConflicts(for: WorkloadScope(namespace: "foo", targets: Self.targets("HTTPRoute/a", "HTTPRoute/b"))).isEmpty)
    }
}

/// envoyproxy/gateway authorization_types.go `JWTPrincipal.Provider`: "the name of the JWT provider that used to
/// verify the JWT token"; authorization.go `buildJWTPredicate` matches the metadata jwt_authn wrote under that
/// provider's `payload_in_metadata` key only. So the rule holds for a token that provider verified — not for one
/// another provider of the same issuer (other audiences or keys), or an Istio RequestAuthentication, verified.
@Suite struct SecurityPolicyProviderBindingTests {
    static let yaml = securityPolicy("""
        jwt:
          optional: true
          providers:
          - {name: pa, issuer: https://issuer.example, audiences: [a], remoteJWKS: {uri: "https://issuer.example/jwks"}}
          - {name: pb, issuer: https://issuer.example, audiences: [b], remoteJWKS: {uri: "https://issuer.example/jwks"}}
        authorization:
          rules:
          - {action: Allow, principal: {jwt: {provider: pb, claims: [{name: role, values: [admin]}]}}}
        """)

    @Test(arguments: [
        ("foo/sp/pb", true),
        ("foo/sp/pa", false),    // same issuer, other provider: before, `requestPrincipals: [issuer/*]` matched
        (nil, false),            // verified by an Istio RequestAuthentication of the same issuer
        ("other/sp/pb", false),  // another SecurityPolicy's provider of that name
    ] as [(String?, Bool)])
    func theRuleHoldsForItsOwnProviderOnly(_ verifiedBy: String?, _ allowed: Bool) throws {
        let eff = try effective(Self.yaml, scope: gatewayTarget)
        var id = identity(claims: ["role": .string("admin")])
        id.verifiedBy = verifiedBy
        #expect(evaluateSecurityPolicies(eff, Req().attributes, id).isAllowed == allowed)
        // Istio's jwt filter's identity is not what the SecurityPolicy's RBAC sees: never allowed by it.
        #expect(!AuthorizationEvaluator.evaluate(eff, request: Req().attributes, identity: id).isAllowed)
    }

    @Test func providersCarryTheirBinding() throws {
        let set = try PolicySet.parse(yaml: Self.yaml)
        #expect(set.requestAuthentications.flatMap(\.jwtRules).map(\.gatewayProviderID) == ["foo/sp/pa", "foo/sp/pb"])
    }

    /// A Deny rule after an Allow rule for a provider carries the negation: another provider's token is not shadowed.
    @Test func aNegatedProviderBindingStaysBound() throws {
        let yaml = securityPolicy("""
            jwt:
              optional: true
              providers:
              - {name: pa, issuer: https://issuer.example, audiences: [a], remoteJWKS: {uri: "https://issuer.example/jwks"}}
              - {name: pb, issuer: https://issuer.example, audiences: [b], remoteJWKS: {uri: "https://issuer.example/jwks"}}
            authorization:
              defaultAction: Allow
              rules:
              - {action: Allow, principal: {jwt: {provider: pb, scopes: [admin]}}}
              - {action: Deny, principal: {clientCIDRs: [0.0.0.0/0]}}
            """)
        let eff = try effective(yaml, scope: gatewayTarget)
        for (by, allowed) in [("foo/sp/pb", true), ("foo/sp/pa", false)] {
            var id = identity(claims: ["scope": .string("admin")])
            id.verifiedBy = by
            #expect(evaluateSecurityPolicies(eff, Req().attributes, id).isAllowed == allowed, "\(by)")
        }
    }
}
