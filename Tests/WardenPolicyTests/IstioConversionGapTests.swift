import Testing
import WardenJSON
@testable import WardenPolicy

/// `warden convert --to istio` never prints Istio that allows more than its source: what Istio cannot say is
/// listed as a gap (exit 3), and the printed documents load as Istio (`warden validate`'s checks) and decide
/// as the source where they are printed.
@Suite struct IstioConversionGapTests {
    static let eg = WorkloadScope(namespace: "foo", targets: [TargetRef(kind: "Gateway", name: "eg")])
    static let onGateway = "kind: Gateway\n    name: eg"

    /// Loads the printed documents (Istio's validation applies: a route targetRef would be a load error).
    static func istio(_ c: IstioConversion) throws -> PolicySet {
        try PolicySet.parse(yaml: c.documents.joined(separator: "\n---\n"), file: "converted.yaml")
    }

    static func decide(_ set: PolicySet, _ req: Req, _ id: RequestIdentity?, scope: WorkloadScope = eg) -> Bool {
        AuthorizationEvaluator.evaluate(set.effective(for: scope), request: req.attributes, identity: id).isAllowed
    }

    // MARK: requires_all

    /// jwt_authn `requires_all` of two providers needs a token of each; Istio has one request principal per
    /// request, so "no principal of a" and "no principal of b" as DENY rules would deny every request.
    @Test func requiresAllOfSeveralIsAGapNotADenyAll() throws {
        let yaml = """
            providers:
              a: {issuer: https://a.example, local_jwks: {inline_string: '{"keys":[]}'}}
              b: {issuer: https://b.example, local_jwks: {inline_string: '{"keys":[]}'}}
            rules:
            - match: {prefix: /both}
              requires: {requires_all: {requirements: [{provider_name: a}, {provider_name: b}]}}
            - match: {prefix: /a}
              requires: {provider_name: a}
            """
        let c = IstioConversion(try PolicySet.parse(yaml: yaml, file: "j.yaml"))
        #expect(c.gaps.contains { $0.contains("rules[0]") && $0.contains("no Istio equivalent") }, "\(c.gaps)")
        #expect(!c.gaps.contains { $0.contains("rules[1]") })
        let istio = try Self.istio(c)
        let scope = WorkloadScope(namespace: "default")
        // A token of a on /both is not denied by a printed rule (the gap); /a still needs a's token.
        #expect(Self.decide(istio, Req(path: "/both"), identity("https://a.example"), scope: scope))
        #expect(Self.decide(istio, Req(path: "/a"), identity("https://a.example"), scope: scope))
        #expect(!Self.decide(istio, Req(path: "/a"), identity("https://b.example"), scope: scope))
    }

    // MARK: `*` in exact values

    @Test(arguments: [
        // Allow rule with a starred header value only: the rule is not printed (allows nothing more).
        ("- {action: Allow, principal: {headers: [{name: x-team, values: [\"ops*\"]}]}}", ["x-team": "ops-anything"], false, "the rule is not printed"),
        ("- {action: Allow, principal: {headers: [{name: x-team, values: [\"ops*\"]}]}}", ["x-team": "ops*"], false, "the rule is not printed"),
        // Starred and plain values: the plain one still allows.
        ("- {action: Allow, principal: {headers: [{name: x-team, values: [\"ops*\", dev]}]}}", ["x-team": "dev"], true, "left out"),
        ("- {action: Allow, principal: {headers: [{name: x-team, values: [\"ops*\", dev]}]}}", ["x-team": "ops-x"], false, "left out"),
    ] as [(String, [String: String], Bool, String)])
    func starredValuesNeverWidenAnAllow(_ rules: String, _ headers: [String: String], _ istioAllows: Bool, _ gap: String) throws {
        let set = try PolicySet.parse(yaml: securityPolicy("authorization:\n  rules:\n  " + rules.replacingOccurrences(of: "\n", with: "\n  "),
                                                           target: Self.onGateway))
        let c = IstioConversion(set)
        #expect(c.gaps.contains { $0.contains("ops*") && $0.contains(gap) }, "\(c.gaps)")
        let istio = try Self.istio(c)
        #expect(Self.decide(istio, Req(headers: headers), nil) == istioAllows)
        // Never more permissive than the SecurityPolicy itself.
        #expect(!istioAllows || Self.decide(set, Req(headers: headers), nil))
    }

    /// An Allow rule with a starred value before a Deny rule: its negation (`notValues`) in the DENY would exempt
    /// every wildcard match; it is left out, so the DENY covers more (never less) than Envoy Gateway's.
    @Test func aStarredValueInANegationIsLeftOutOfTheDeny() throws {
        let spec = """
            authorization:
              defaultAction: Allow
              rules:
              - {action: Allow, principal: {headers: [{name: x-team, values: ["ops*"]}]}}
              - {action: Deny, principal: {clientCIDRs: [0.0.0.0/0]}}
            """
        let set = try PolicySet.parse(yaml: securityPolicy(spec, target: Self.onGateway))
        let c = IstioConversion(set)
        #expect(c.gaps.contains { $0.contains("ops*") && $0.contains("wider DENY") }, "\(c.gaps)")
        let istio = try Self.istio(c)
        #expect(!Self.decide(istio, Req(headers: ["x-team": "ops-evil"]), nil))
        #expect(!Self.decide(set, Req(headers: ["x-team": "ops-evil"]), nil))
    }

    // MARK: methods

    /// Envoy Gateway matches `:method` ignoring case (authorization.go buildMethodsPredicate); Istio's methods
    /// exactly. The printed lists hold every spelling, so `delete` meets the DENY as in Envoy Gateway.
    @Test(arguments: [("DELETE", false), ("delete", false), ("DeLeTe", false), ("GET", true), ("get", true)])
    func methodsKeepEnvoyGatewaysIgnoreCase(_ method: String, _ allowed: Bool) throws {
        let spec = """
            authorization:
              defaultAction: Allow
              rules:
              - {action: Deny, operation: {methods: [DELETE]}, principal: {clientCIDRs: [0.0.0.0/0]}}
            """
        let set = try PolicySet.parse(yaml: securityPolicy(spec, target: Self.onGateway))
        let istio = try Self.istio(IstioConversion(set))
        for s in [set, istio] { #expect(Self.decide(s, Req(method: method), nil) == allowed) }
        #expect(IstioConversion.caseVariants("GET").count == 8 && IstioConversion.caseVariants("OPTIONS").count == 128)
    }

    // MARK: JWT

    /// `.jwt-required` names this policy's issuers: a token another RequestAuthentication verified is not one of
    /// its providers', and Envoy Gateway refuses it (401); the printed DENY refuses it too (403, a listed gap).
    @Test(arguments: [
        ("https://issuer.example", true), ("https://other.example", false),
    ])
    func aRequiredJWTNamesThisPolicysIssuers(_ iss: String, _ allowed: Bool) throws {
        let set = try PolicySet.parse(yaml: securityPolicy(gatewayJWT + "\nauthorization: {defaultAction: Allow}", target: Self.onGateway))
        let istio = try Self.istio(IstioConversion(set))
        #expect(Self.decide(istio, Req(), identity(iss)) == allowed)
        #expect(!Self.decide(istio, Req(), nil))
    }

    @Test(arguments: [
        ("https://issuer.example", true), ("https://other.example", false),
    ])
    func anOptionalJWTStillRefusesAnotherIssuersToken(_ iss: String, _ allowed: Bool) throws {
        let set = try PolicySet.parse(yaml: securityPolicy(optionalJWT, target: Self.onGateway))
        let c = IstioConversion(set)
        #expect(c.gaps.contains { $0.contains("foo/sp.jwt-issuers") }, "\(c.gaps)")
        let istio = try Self.istio(c)
        #expect(Self.decide(istio, Req(), identity(iss)) == allowed)
        #expect(Self.decide(istio, Req(), nil))
    }

    /// `principal.jwt.provider` prints as the provider's issuer and audiences (Istio cannot name the provider);
    /// another provider of the same issuer in the policy is a gap.
    @Test func aProviderPrincipalPrintsIssuerAndAudiences() throws {
        let spec = optionalJWT + """

            authorization:
              rules:
              - {action: Allow, principal: {jwt: {provider: example, claims: [{name: role, values: [admin]}]}}}
            """
        let set = try PolicySet.parse(yaml: securityPolicy(spec, target: Self.onGateway))
        let c = IstioConversion(set)
        #expect(!c.gaps.contains { $0.contains("shares issuer") })
        let istio = try Self.istio(c)
        let admin: [String: JSONValue] = ["role": .string("admin")]
        #expect(Self.decide(istio, Req(), identity(claims: admin)))
        #expect(!Self.decide(istio, Req(), identity(aud: ["other"], claims: admin)))
        let shared = securityPolicy("""
            jwt:
              optional: true
              providers:
              - {name: pa, issuer: https://issuer.example, audiences: [a], remoteJWKS: {uri: "https://issuer.example/jwks"}}
              - {name: pb, issuer: https://issuer.example, audiences: [b], remoteJWKS: {uri: "https://issuer.example/jwks"}}
            authorization:
              rules:
              - {action: Allow, principal: {jwt: {provider: pb, scopes: [x]}}}
            """, target: Self.onGateway)
        #expect(IstioConversion(try PolicySet.parse(yaml: shared)).gaps.contains { $0.contains("foo/sp/pb shares issuer") })
    }

    // MARK: ALLOWs that Istio ORs

    /// Repro p3: Envoy Gateway's RBAC filter is a filter of its own (`defaultAction: Deny` holds whatever Istio allows),
    /// but Istio ORs every ALLOW in a workload's scope: a printed SecurityPolicy ALLOW beside another ALLOW is a gap.
    @Test(arguments: [
        (ap("istio-allow", "targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: eg}]\naction: ALLOW\nrules:\n- to: [{operation: {paths: [/public/*]}}]"), true),
        (ap("istio-allow", "action: ALLOW\nrules:\n- {}"), true),                                 // namespace-wide: applies to the Gateway too
        (ap("istio-allow", "action: ALLOW\nrules:\n- {}", namespace: "istio-system"), true),      // the root namespace: every workload
        (ap("istio-allow", "action: ALLOW\nrules:\n- {}", namespace: "elsewhere"), false),        // another namespace's workloads
        (ap("istio-allow", "targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: other}]\naction: ALLOW\nrules:\n- {}"), false),
        (ap("istio-deny", "action: DENY\nrules:\n- to: [{operation: {paths: [/x]}}]"), false),   // DENYs are ANDed in Istio too
        (securityPolicy("authorization:\n  rules:\n  - {action: Allow, principal: {clientCIDRs: [192.0.2.0/24]}}", name: "sp2",
                        target: "kind: HTTPRoute\n    name: r"), true),   // another SecurityPolicy's ALLOW, on a route of the Gateway (--gateway eg)
        ("", false),
    ] as [(String, Bool)])
    func anAllowBesideAnotherAllowIsAGap(_ other: String, _ gap: Bool) throws {
        let sp = securityPolicy("authorization:\n  defaultAction: Deny\n  rules:\n  - {action: Allow, principal: {clientCIDRs: [10.0.0.0/8]}}",
                                target: Self.onGateway)
        var builder = PolicySetBuilder()
        builder.add(yaml: Array(sp.utf8), file: "sp.yaml", limits: .default)
        if !other.isEmpty { builder.add(yaml: Array(other.utf8), file: "other.yaml", limits: .default) }
        let c = IstioConversion(try builder.finish(), routeGateway: "eg")
        #expect(c.gaps.contains { $0.hasPrefix("foo/sp:") && $0.contains("Istio ORs it") } == gap, "\(c.gaps)")
    }

    /// Istio has one jwt filter: a printed SecurityPolicy RequestAuthentication and an input one naming the same issuer
    /// verify that issuer's tokens for each other (a token of the input's audience passes `.jwt-required`), where
    /// Envoy Gateway's jwt_authn holds it to the policy's providers only. A gap when their scopes may meet.
    @Test(arguments: [
        ("jwtRules:\n- {issuer: https://issuer.example, audiences: [other], jwksUri: https://issuer.example/jwks}", true),
        ("jwtRules:\n- {issuer: https://another.example, jwksUri: https://another.example/jwks}", false),
        ("targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: other}]\n"
            + "jwtRules:\n- {issuer: https://issuer.example, jwksUri: https://issuer.example/jwks}", false),
    ] as [(String, Bool)])
    func anIssuerAnotherRequestAuthenticationVerifiesIsAGap(_ istio: String, _ gap: Bool) throws {
        for jwt in [gatewayJWT, optionalJWT] {
            let yaml = securityPolicy(jwt, target: Self.onGateway) + ra("istio", istio)
            let c = IstioConversion(try PolicySet.parse(yaml: yaml))
            #expect(c.gaps.contains { $0.hasPrefix("foo/sp:") && $0.contains("also verified by foo/istio") } == gap, "\(c.gaps)")
        }
    }

    // MARK: names and targets

    @Test func aPrintedNameTakenInTheInputIsAGap() throws {
        let yaml = securityPolicy(gatewayJWT, target: Self.onGateway) + ap("sp.jwt-required", "action: DENY\nrules:\n- to: [{operation: {paths: [/x]}}]")
        let c = IstioConversion(try PolicySet.parse(yaml: yaml, file: "in.yaml"))
        #expect(c.gaps.contains { $0.contains("AuthorizationPolicy foo/sp.jwt-required") && $0.contains("rename") }, "\(c.gaps)")
    }

    @Test func twoJwtAuthnFilesOfOneNameAreAGap() throws {
        let doc = "providers:\n  a: {issuer: https://a.example, local_jwks: {inline_string: '{\"keys\":[]}'}}\nrules:\n- match: {prefix: /}\n  requires: {provider_name: a}\n"
        var builder = PolicySetBuilder()
        builder.add(yaml: Array(doc.utf8), file: "one/jwt.yaml", limits: .default)
        builder.add(yaml: Array(doc.utf8), file: "two/jwt.yaml", limits: .default)
        let c = IstioConversion(try builder.finish())
        #expect(c.gaps.contains { $0.contains("RequestAuthentication default/jwt") && $0.contains("rename") }, "\(c.gaps)")
    }

    /// Istio policies cannot target a route (istiod's `validatePolicyTargetReference`; Warden's load check): without
    /// `--gateway` nothing is printed for it; with it, the documents target that Gateway, load, and decide as the
    /// SecurityPolicy does on its route.
    @Test func aRouteTargetNeedsTheGateway() throws {
        let spec = gatewayJWT + "\nauthorization:\n  rules:\n  - {action: Allow, principal: {clientCIDRs: [10.0.0.0/8]}}"
        let set = try PolicySet.parse(yaml: securityPolicy(spec))
        let without = IstioConversion(set)
        #expect(without.documents.isEmpty)
        #expect(without.gaps.contains { $0.contains("HTTPRoute/backend") && $0.contains("--gateway") }, "\(without.gaps)")
        let with = IstioConversion(set, routeGateway: "eg")
        #expect(with.gaps.contains { $0.contains("attached to Gateway eg instead") })
        let istio = try Self.istio(with)
        #expect(istio.authorizationPolicies.allSatisfy { $0.targetRefs == [TargetRef(group: "gateway.networking.k8s.io", kind: "Gateway", name: "eg")] })
        for (req, id, allowed) in [(Req(), identity(), true), (Req(sourceIP: "192.0.2.1"), identity(), false), (Req(), nil, false)] as [(Req, RequestIdentity?, Bool)] {
            #expect(Self.decide(istio, req, id) == allowed)
            // The SecurityPolicy on its route: a missing token is its jwt_authn requirement (a 401 there).
            #expect((id != nil && Self.decide(set, req, id, scope: gatewayTarget)) == allowed)
        }
    }
}
