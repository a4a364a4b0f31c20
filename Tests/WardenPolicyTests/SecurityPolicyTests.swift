import Testing
import WardenJSON
@testable import WardenPolicy

// Envoy Gateway SecurityPolicy semantics, quoted from envoyproxy/gateway (api/v1alpha1 at d32f282):
// - authorization_types.go `Authorization.Rules`: "These rules are evaluated in order, the first matching rule
//   will be applied, and the rest will be skipped." `DefaultAction`: "If not specified, the default action is
//   Deny." / "if neither `Rules` nor `DefaultAction` is specified, the default action is to deny all requests."
// - `Principal`: "If there are multiple principal types, all principals must match for the rule to match."
//   `ClientCIDRs`: "one of the CIDR ranges must match the client IP ... inferred from the X-Forwarded-For header".
// - `AuthorizationHeaderMatch.Values`: "the rule will match if any of the values match." (exact only)
// - `JWTPrincipal`: "Claims and scopes are And-ed together"; `Claims`: "all claims must match".
//   `JWTClaim.Values`: "If the claim is a string type, the specified value must match exactly. If the claim is
//   a string array type, the specified value must match one of the values in the array." Nested: "organization.department".
//   `Scopes`: "a space delimited string that is expected in the scope (or scp) claim ... all scopes must match".
// - internal/xds/translator/authorization.go `buildJWTPredicate`: String → StringMatcher (a list never matches),
//   StringArray → ListMatcher oneOf (a bare string never matches); jwt.go normalizes `scope` and `scp` into lists.
// - jwt_types.go `JWT.Optional`: "whether a missing JWT is acceptable, defaulting to false".

let gatewayTarget = WorkloadScope(namespace: "foo", targets: [TargetRef(kind: "HTTPRoute", name: "backend")])

func securityPolicy(_ spec: String, name: String = "sp", target: String = "kind: HTTPRoute\n    name: backend") -> String {
    """
    apiVersion: gateway.envoyproxy.io/v1alpha1
    kind: SecurityPolicy
    metadata:
      name: \(name)
      namespace: foo
    spec:
      targetRefs:
      - group: gateway.networking.k8s.io
        \(target)
    \(spec.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n"))
    ---

    """
}

let gatewayJWT = """
    jwt:
      providers:
      - name: example
        issuer: https://issuer.example
        audiences: [api]
        remoteJWKS: {uri: "https://issuer.example/jwks"}
        claimToHeaders: [{header: x-sub, claim: sub}]
        extractFrom:
          headers: [{name: x-token, valuePrefix: "Bearer "}]
          cookies: [tok]
          params: [t]
    """

struct GatewayCase: Sendable, CustomTestStringConvertible {
    var name: String
    var spec: String
    var request: Req = Req()
    var identity: RequestIdentity? = nil
    var allowed: Bool
    var testDescription: String { name }
}

let optionalJWT = gatewayJWT + "\n  optional: true"

/// A token the SecurityPolicy's provider `example` verified (`RequestIdentity.verifiedBy`, set by the authenticator).
func spIdentity(_ iss: String = "https://issuer.example", provider: String = "foo/sp/example", claims: [String: JSONValue] = [:]) -> RequestIdentity {
    var id = identity(iss, claims: claims)
    id.verifiedBy = provider
    return id
}

let gatewayCases: [GatewayCase] = [
    GatewayCase(name: "jwt required by default: a verified token passes", spec: gatewayJWT, identity: identity(), allowed: true),
    GatewayCase(name: "jwt optional: no token passes", spec: optionalJWT, allowed: true),
    GatewayCase(name: "no rules, no defaultAction: deny all", spec: "authorization: {}", allowed: false),
    GatewayCase(name: "defaultAction Allow, no rules", spec: "authorization: {defaultAction: Allow}", allowed: true),
    GatewayCase(name: "CIDR allow rule matches the XFF client", spec: """
        authorization:
          rules:
          - {action: Allow, principal: {clientCIDRs: [192.168.1.0/24]}}
        """, request: Req(headers: ["x-forwarded-for": "192.168.1.7"]), allowed: true),
    GatewayCase(name: "CIDR allow rule: other client falls to default Deny", spec: """
        authorization:
          rules:
          - {action: Allow, principal: {clientCIDRs: [192.168.1.0/24, 10.1.0.0/16]}}
        """, request: Req(headers: ["x-forwarded-for": "192.168.2.7"]), allowed: false),
    GatewayCase(name: "defaultAction Allow with a Deny CIDR rule", spec: """
        authorization:
          defaultAction: Allow
          rules:
          - {action: Deny, principal: {clientCIDRs: [10.0.0.0/8]}}
        """, request: Req(sourceIP: "10.0.0.1"), allowed: false),
    GatewayCase(name: "first match: Deny before Allow, both match → denied", spec: """
        authorization:
          rules:
          - {action: Deny, principal: {headers: [{name: X-Tenant, values: [evil]}]}}
          - {action: Allow, principal: {clientCIDRs: [0.0.0.0/0]}}
        """, request: Req(headers: ["x-tenant": "evil"]), allowed: false),
    // authorization_types.go `Operation.Methods`: "all specified methods are allowed or denied, based on the action".
    GatewayCase(name: "operation methods: a GET from the CIDR is allowed", spec: """
        authorization:
          rules:
          - {action: Allow, operation: {methods: [GET, HEAD]}, principal: {clientCIDRs: [10.0.0.0/8]}}
        """, request: Req(method: "GET", headers: ["x-forwarded-for": "10.1.2.3"]), allowed: true),
    GatewayCase(name: "operation methods: a POST from the CIDR falls to default Deny", spec: """
        authorization:
          rules:
          - {action: Allow, operation: {methods: [GET, HEAD]}, principal: {clientCIDRs: [10.0.0.0/8]}}
        """, request: Req(method: "POST", headers: ["x-forwarded-for": "10.1.2.3"]), allowed: false),
    GatewayCase(name: "operation methods: an Allow for GET shadows a later Deny for the CIDR", spec: """
        authorization:
          defaultAction: Allow
          rules:
          - {action: Allow, operation: {methods: [GET]}, principal: {clientCIDRs: [10.0.0.0/8]}}
          - {action: Deny, principal: {clientCIDRs: [10.0.0.0/8]}}
        """, request: Req(method: "GET", headers: ["x-forwarded-for": "10.1.2.3"]), allowed: true),
    GatewayCase(name: "operation methods: a DELETE meets the Deny", spec: """
        authorization:
          defaultAction: Allow
          rules:
          - {action: Allow, operation: {methods: [GET]}, principal: {clientCIDRs: [10.0.0.0/8]}}
          - {action: Deny, principal: {clientCIDRs: [10.0.0.0/8]}}
        """, request: Req(method: "DELETE", headers: ["x-forwarded-for": "10.1.2.3"]), allowed: false),
    // internal/xds/translator/authorization.go buildMethodsPredicate: `:method` is matched with ignore_case, so a
    // lower-case method (an HTTP/2 client can send any) meets the Deny rule for DELETE…
    GatewayCase(name: "operation methods ignore case: delete meets a Deny for DELETE", spec: """
        authorization:
          defaultAction: Allow
          rules:
          - {action: Deny, operation: {methods: [DELETE]}, principal: {clientCIDRs: [0.0.0.0/0]}}
        """, request: Req(method: "delete", headers: ["x-forwarded-for": "10.1.2.3"]), allowed: false),
    // …and an earlier Allow rule's negation (notMethods) ignores case too.
    GatewayCase(name: "operation methods ignore case: get is shadowed by an Allow for GET", spec: """
        authorization:
          defaultAction: Allow
          rules:
          - {action: Allow, operation: {methods: [GET]}, principal: {clientCIDRs: [10.0.0.0/8]}}
          - {action: Deny, principal: {clientCIDRs: [10.0.0.0/8]}}
        """, request: Req(method: "get", headers: ["x-forwarded-for": "10.1.2.3"]), allowed: true),
    // An Allow rule before a Deny rule (first match wins: the Allow shadows the Deny for what both match).
    GatewayCase(name: "first match: Allow before Deny, both match → allowed", spec: """
        authorization:
          rules:
          - {action: Allow, principal: {clientCIDRs: [10.0.0.0/8], headers: [{name: x-team, values: [ops]}]}}
          - {action: Deny, principal: {clientCIDRs: [10.1.0.0/16]}}
          - {action: Allow, principal: {clientCIDRs: [10.0.0.0/7]}}
        """, request: Req(headers: ["x-forwarded-for": "10.1.2.3", "x-team": "ops"]), allowed: true),
    GatewayCase(name: "first match: the Allow's header differs → the Deny decides", spec: """
        authorization:
          rules:
          - {action: Allow, principal: {clientCIDRs: [10.0.0.0/8], headers: [{name: x-team, values: [ops]}]}}
          - {action: Deny, principal: {clientCIDRs: [10.1.0.0/16]}}
          - {action: Allow, principal: {clientCIDRs: [10.0.0.0/7]}}
        """, request: Req(headers: ["x-forwarded-for": "10.1.2.3", "x-team": "dev"]), allowed: false),
    GatewayCase(name: "first match: the Allow's CIDR differs → the Deny decides", spec: """
        authorization:
          rules:
          - {action: Allow, principal: {clientCIDRs: [10.0.0.0/8], headers: [{name: x-team, values: [ops]}]}}
          - {action: Deny, principal: {clientCIDRs: [10.1.0.0/16]}}
          - {action: Allow, principal: {clientCIDRs: [10.0.0.0/7]}}
        """, request: Req(headers: ["x-forwarded-for": "10.1.2.3"]), allowed: false),
    GatewayCase(name: "first match: neither earlier rule → the last Allow", spec: """
        authorization:
          rules:
          - {action: Allow, principal: {clientCIDRs: [10.0.0.0/8], headers: [{name: x-team, values: [ops]}]}}
          - {action: Deny, principal: {clientCIDRs: [10.1.0.0/16]}}
          - {action: Allow, principal: {clientCIDRs: [10.0.0.0/7]}}
        """, request: Req(headers: ["x-forwarded-for": "11.2.3.4"]), allowed: true),
    GatewayCase(name: "first match: nothing matches → default Deny", spec: """
        authorization:
          rules:
          - {action: Allow, principal: {clientCIDRs: [10.0.0.0/8], headers: [{name: x-team, values: [ops]}]}}
          - {action: Deny, principal: {clientCIDRs: [10.1.0.0/16]}}
          - {action: Allow, principal: {clientCIDRs: [10.0.0.0/7]}}
        """, request: Req(headers: ["x-forwarded-for": "12.2.3.4"]), allowed: false),
    GatewayCase(name: "first match under default Allow: a jwt Allow shadows a later Deny", spec: optionalJWT + """

        authorization:
          defaultAction: Allow
          rules:
          - {action: Allow, principal: {jwt: {provider: example, claims: [{name: role, values: [admin]}]}}}
          - {action: Deny, principal: {clientCIDRs: [0.0.0.0/0]}}
        """, request: Req(headers: ["x-forwarded-for": "1.2.3.4"]), identity: spIdentity(claims: ["role": .string("admin")]), allowed: true),
    GatewayCase(name: "first match under default Allow: without the claim the Deny decides", spec: optionalJWT + """

        authorization:
          defaultAction: Allow
          rules:
          - {action: Allow, principal: {jwt: {provider: example, claims: [{name: role, values: [admin]}]}}}
          - {action: Deny, principal: {clientCIDRs: [0.0.0.0/0]}}
        """, request: Req(headers: ["x-forwarded-for": "1.2.3.4"]), identity: spIdentity(claims: ["role": .string("user")]), allowed: false),
    GatewayCase(name: "first match under default Allow: no token, the Deny decides", spec: optionalJWT + """

        authorization:
          defaultAction: Allow
          rules:
          - {action: Allow, principal: {jwt: {provider: example, claims: [{name: role, values: [admin]}]}}}
          - {action: Deny, principal: {clientCIDRs: [0.0.0.0/0]}}
        """, request: Req(headers: ["x-forwarded-for": "1.2.3.4"]), allowed: false),
    GatewayCase(name: "first match: Deny does not match, Allow does", spec: """
        authorization:
          rules:
          - {action: Deny, principal: {headers: [{name: X-Tenant, values: [evil]}]}}
          - {action: Allow, principal: {clientCIDRs: [0.0.0.0/0]}}
        """, request: Req(headers: ["x-tenant": "good"]), allowed: true),
    GatewayCase(name: "trailing Deny under default Deny is dropped (same decision)", spec: """
        authorization:
          rules:
          - {action: Allow, principal: {headers: [{name: x-a, values: ["1", "2"]}]}}
          - {action: Deny, principal: {headers: [{name: x-b, values: ["1"]}]}}
        """, request: Req(headers: ["x-a": "2", "x-b": "1"]), allowed: true),
    GatewayCase(name: "all principal kinds must match (CIDR ok, header not)", spec: """
        authorization:
          rules:
          - action: Allow
            principal:
              clientCIDRs: [10.0.0.0/8]
              headers: [{name: x-a, values: ["1"]}]
        """, request: Req(headers: ["x-a": "0"]), allowed: false),
    GatewayCase(name: "String claim equal", spec: optionalJWT + """

        authorization:
          rules:
          - {action: Allow, principal: {jwt: {provider: example, claims: [{name: role, values: [admin, root]}]}}}
        """, identity: spIdentity(claims: ["role": .string("root")]), allowed: true),
    GatewayCase(name: "String claim never matches a list element", spec: optionalJWT + """

        authorization:
          rules:
          - {action: Allow, principal: {jwt: {provider: example, claims: [{name: role, values: [admin]}]}}}
        """, identity: spIdentity(claims: ["role": .array([.string("admin")])]), allowed: false),
    GatewayCase(name: "StringArray claim: one element equal", spec: optionalJWT + """

        authorization:
          rules:
          - {action: Allow, principal: {jwt: {provider: example, claims: [{name: groups, valueType: StringArray, values: [ops]}]}}}
        """, identity: spIdentity(claims: ["groups": .array([.string("dev"), .string("ops")])]), allowed: true),
    GatewayCase(name: "StringArray claim never matches a bare string", spec: optionalJWT + """

        authorization:
          rules:
          - {action: Allow, principal: {jwt: {provider: example, claims: [{name: groups, valueType: StringArray, values: [ops]}]}}}
        """, identity: spIdentity(claims: ["groups": .string("ops")]), allowed: false),
    GatewayCase(name: "nested claim with dots", spec: optionalJWT + """

        authorization:
          rules:
          - {action: Allow, principal: {jwt: {provider: example, claims: [{name: organization.department, values: [eng]}]}}}
        """, identity: spIdentity(claims: ["organization": .object(["department": .string("eng")])]), allowed: true),
    GatewayCase(name: "all scopes must be in scope", spec: optionalJWT + """

        authorization:
          rules:
          - {action: Allow, principal: {jwt: {provider: example, scopes: [read, write]}}}
        """, identity: spIdentity(claims: ["scope": .string("read write admin")]), allowed: true),
    GatewayCase(name: "a missing scope falls to default Deny", spec: optionalJWT + """

        authorization:
          rules:
          - {action: Allow, principal: {jwt: {provider: example, scopes: [read, write]}}}
        """, identity: spIdentity(claims: ["scope": .string("read")]), allowed: false),
    GatewayCase(name: "scopes from a space-delimited scp string", spec: optionalJWT + """

        authorization:
          rules:
          - {action: Allow, principal: {jwt: {provider: example, scopes: [read]}}}
        """, identity: spIdentity(claims: ["scp": .string("read")]), allowed: true),
    GatewayCase(name: "a jwt principal does not match without a token", spec: optionalJWT + """

        authorization:
          defaultAction: Allow
          rules:
          - {action: Deny, principal: {jwt: {provider: example, claims: [{name: role, values: [banned]}]}}}
        """, allowed: true),
    GatewayCase(name: "a jwt principal needs the named provider's token", spec: optionalJWT + """

        authorization:
          rules:
          - {action: Allow, principal: {jwt: {provider: example, claims: [{name: role, values: [admin]}]}}}
        """, identity: identity("https://other.example", claims: ["role": .string("admin")]), allowed: false),
]

/// The SecurityPolicy stages' view: `identity` is what each one's own jwt_authn requirement verified (its RBAC reads that
/// filter's metadata only); Istio's jwt filter verified nothing.
func evaluateSecurityPolicies(_ eff: EffectivePolicy, _ request: RequestAttributes, _ identity: RequestIdentity?) -> AuthorizationDecision {
    var stages: [String: [RequestIdentity]] = [:]
    for sp in eff.stages.compactMap(\.securityPolicy) { stages[sp] = identity.map { [$0] } ?? [] }
    return AuthorizationEvaluator.evaluate(eff, request: request, identity: nil, stageIdentities: stages)
}

@Suite struct SecurityPolicyTests {
    @Test(arguments: gatewayCases)
    func decidesAsEnvoyGateway(_ c: GatewayCase) throws {
        let eff = try effective(securityPolicy(c.spec), scope: gatewayTarget)
        let d = evaluateSecurityPolicies(eff, c.request.attributes, c.identity)
        #expect(d.isAllowed == c.allowed, "\(d.verdict)")
    }

    @Test func providersCompileToJWTRules() throws {
        let eff = try effective(securityPolicy(gatewayJWT), scope: gatewayTarget)
        // The policy's own RequestAuthentication carries them; Istio's jwt filter (`jwtRules`) never verifies with them.
        #expect(eff.jwtRules.isEmpty)
        let rules = eff.requestAuthentications.flatMap(\.jwtRules)
        let rule = try #require(rules.first)
        #expect(rules.count == 1)
        #expect(rule.issuer == "https://issuer.example" && rule.audiences == ["api"] && rule.jwksUri == "https://issuer.example/jwks")
        #expect(rule.fromHeaders == [JWTHeader(name: "x-token", prefix: "Bearer ")])
        #expect(rule.fromCookies == ["tok"] && rule.fromParams == ["t"])
        #expect(rule.outputClaimToHeaders == [ClaimToHeader(header: "x-sub", claim: "sub")])
    }

    @Test func scopedByTargetRefs() throws {
        let yaml = securityPolicy(gatewayJWT)
        #expect(try effective(yaml, scope: gatewayTarget).requestAuthentications.count == 1)
        let other = WorkloadScope(namespace: "foo", targets: [TargetRef(kind: "HTTPRoute", name: "elsewhere")])
        #expect(try effective(yaml, scope: other).requestAuthentications.isEmpty)
        #expect(try effective(yaml, scope: other).allowPolicies.isEmpty && effective(yaml, scope: other).denyPolicies.isEmpty)
        // The RequestAuthentication (its required-JWT requirement goes wherever it goes).
        #expect(try PolicySet.parse(yaml: yaml).untargetedResources(for: WorkloadScope(namespace: "foo")).count == 1)
    }

    /// jwt_types.go `JWT.Optional`: "whether a missing JWT is acceptable, defaulting to false". Envoy Gateway
    /// compiles the providers into a jwt_authn requirement (any one of them), so a request without a token is
    /// 401 `Jwt is missing`; `optional: true` adds `allow_missing` to the same requires_any (a present token none of
    /// the providers verifies is still 401, verifier.cc AnyVerifierImpl).
    @Test func aRequiredJWTIsAJwtAuthnRequirementScopedWithThePolicy() throws {
        let required = try PolicySet.parse(yaml: securityPolicy(gatewayJWT), file: "sp.yaml")
        let f = try #require(required.jwtAuthnFilters.first)
        #expect(f.onlyWith == PolicyRef(namespace: "foo", name: "sp"))
        #expect(f.rules.map(\.requires) == [.provider("example", audiences: nil)])
        // jwt.go buildJWTProvider: `forward: true`, `payload_in_metadata: <provider name>`, scope/scp normalized.
        #expect(f.providers.first?.rule.forwardOriginalToken == true && f.providers.first?.payloadInMetadata == "example")
        #expect(f.providers.first?.spaceDelimitedInMetadata == ["scope", "scp"])
        #expect(f.rules.first?.match.matches(path: "/any/path?x", headers: [:]) == true)
        #expect(f.providers.first?.rule.issuer == "https://issuer.example")
        let optional = try #require(try PolicySet.parse(yaml: securityPolicy(optionalJWT), file: "sp.yaml").jwtAuthnFilters.first)
        #expect(optional.rules.map(\.requires) == [.any([.provider("example", audiences: nil), .allowMissing])])
        #expect(optional.allowsMissingToken && !f.allowsMissingToken)
    }

    @Test func ignoredFieldsAreNoted() throws {
        let set = try PolicySet.parse(yaml: securityPolicy("""
            jwt:
              providers:
              - name: p
                issuer: https://i
                recomputeRoute: true
                remoteJWKS: {uri: "https://i/jwks", backendRefs: [{name: idp, port: 443}]}
            """), file: "sp.yaml")
        #expect(set.notes.map(\.message).contains { $0.contains("recomputeRoute ignored") })
        #expect(set.notes.map(\.message).contains { $0.contains("remoteJWKS.backendRefs ignored") })
    }

    /// What Warden cannot compile exactly is refused with file and line, never approximated.
    @Test(arguments: [
        ("authorization:\n  rules:\n  - {action: Allow, operation: {methods: [FETCH]}, principal: {clientCIDRs: [10.0.0.0/8]}}", "sp.yaml:13", "FETCH is not one of"),
        ("authorization:\n  rules:\n  - {action: Allow, operation: {paths: [/a]}, principal: {clientCIDRs: [10.0.0.0/8]}}", "sp.yaml:13", "unknown field"),
        ("authorization:\n  rules:\n  - {action: Allow, operation: {methods: [GET]}}", "sp.yaml:13", "principal is required"),
        ("authorization:\n  rules:\n  - {action: Allow, cel: \"true\"}", "sp.yaml:13", "unknown field"),
        ("authorization:\n  rules:\n  - {action: Allow, principal: {jwt: {provider: nope, scopes: [a]}}}", "sp.yaml:13", "provider must name one"),
        ("authorization:\n  rules:\n  - {action: Maybe, principal: {clientCIDRs: [10.0.0.0/8]}}", "sp.yaml:13", "action must be Allow or Deny"),
        ("jwt:\n  providers:\n  - {name: p, remoteJWKS: {uri: \"https://i/jwks\"}}", "sp.yaml:13", "an issuer is required"),
        ("jwt:\n  failOpen: true\n  providers: []", "sp.yaml:12", "unknown field"),
        ("basicAuth: {users: {name: u}}", "sp.yaml:11", "unknown field"),
    ])
    func unsupportedIsALoadError(_ spec: String, _ location: String, _ message: String) {
        do {
            _ = try PolicySet.parse(yaml: securityPolicy(spec), file: "sp.yaml")
            Issue.record("loaded")
        } catch {
            #expect(error.description.contains(location), "\(error)")
            #expect(error.description.contains(message), "\(error)")
        }
    }

    /// Envoy Gateway applies only the older of two SecurityPolicies on one target (creationTimestamp), which a
    /// file cannot tell: both together would OR their ALLOW rules, so the set is refused (fail closed).
    @Test func twoPoliciesOnOneTargetAreRefused() {
        let yaml = securityPolicy("authorization:\n  rules:\n  - {action: Allow, principal: {clientCIDRs: [10.0.0.0/8]}}", name: "first")
            + securityPolicy("authorization:\n  rules:\n  - {action: Allow, principal: {clientCIDRs: [10.9.0.0/16]}}", name: "second")
        do {
            _ = try PolicySet.parse(yaml: yaml, file: "sp.yaml")
            Issue.record("two SecurityPolicies on one HTTPRoute loaded")
        } catch {
            #expect(error.description.contains("both target HTTPRoute backend"), "\(error)")
        }
    }

    /// The same with policies that hold only `jwt` (a RequestAuthentication and requirement, no ALLOW policy): still
    /// two SecurityPolicies on one target, of which Envoy Gateway applies one (the docs' policy attachment:
    /// gateway.envoyproxy.io/docs/concepts/introduction/gateway_api_extensions/security-policy, "When multiple
    /// policies target the same resource…"; Gateway API GEP-713: the oldest by creation timestamp wins).
    @Test(arguments: [
        (gatewayJWT, optionalJWT),
        (optionalJWT, "authorization: {defaultAction: Allow}\n" + optionalJWT),
        (gatewayJWT, "authorization:\n  rules:\n  - {action: Allow, principal: {clientCIDRs: [10.0.0.0/8]}}"),
    ])
    func twoPoliciesOnOneTargetAreRefusedWhateverTheyHold(_ first: String, _ second: String) {
        do {
            _ = try PolicySet.parse(yaml: securityPolicy(first, name: "first") + securityPolicy(second, name: "second"), file: "sp.yaml")
            Issue.record("two SecurityPolicies on one HTTPRoute loaded")
        } catch {
            #expect(error.errors.count == 1, "\(error)")
            #expect(error.description.contains("both target HTTPRoute backend") && error.description.contains("sp.yaml:"), "\(error)")
        }
    }

    @Test func targetRefsAreRequired() {
        #expect(throws: PolicyLoadFailure.self) {
            try PolicySet.parse(yaml: "apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: sp}\nspec: {}\n")
        }
    }
}

/// securitypolicy_types.go `mergeType`: "If unset, no merging occurs, and only the most specific configuration
/// takes effect" — a route's SecurityPolicy replaces the Gateway's; Istio kinds still apply beside it.
@Suite struct SecurityPolicyPrecedenceTests {
    let yaml = securityPolicy("authorization:\n  rules:\n  - {action: Allow, principal: {clientCIDRs: [10.0.0.0/8]}}", name: "gateway-allows", target: "kind: Gateway\n    name: eg")
        + securityPolicy("authorization:\n  rules:\n  - {action: Allow, principal: {clientCIDRs: [10.9.0.0/16]}}", name: "route-denies")
        + ap("istio-deny", "action: DENY\nrules:\n- to: [{operation: {paths: [/admin]}}]")

    @Test(arguments: [
        ([TargetRef(kind: "Gateway", name: "eg")], "/", true),
        ([TargetRef(kind: "Gateway", name: "eg"), TargetRef(kind: "HTTPRoute", name: "backend")], "/", false),
        ([TargetRef(kind: "HTTPRoute", name: "backend")], "/", false),
        ([TargetRef(kind: "Gateway", name: "eg")], "/admin", false),
    ])
    func routePolicyReplacesGatewayPolicy(_ targets: [TargetRef], _ path: String, _ allowed: Bool) throws {
        let eff = try effective(yaml, scope: WorkloadScope(namespace: "foo", targets: targets))
        #expect(AuthorizationEvaluator.evaluate(eff, request: Req(path: path).attributes, identity: nil).isAllowed == allowed)
    }
}

/// `warden convert --to istio`: the printed Istio documents load and decide as the SecurityPolicy does where
/// Istio can say it; what it cannot is listed.
@Suite struct IstioConversionTests {
    static let spec = gatewayJWT + """

        authorization:
          rules:
          - {action: Deny, principal: {headers: [{name: x-tenant, values: [evil]}]}}
          - {action: Allow, principal: {clientCIDRs: [10.0.0.0/8]}}
        """

    @Test(arguments: [
        (Req(), identity(), true),
        (Req(), nil, false),
        (Req(headers: ["x-tenant": "evil"]), identity(), false),
        (Req(sourceIP: "192.168.0.1"), identity(), false),
    ] as [(Req, RequestIdentity?, Bool)])
    func convertedDocumentsDecideTheSame(_ req: Req, _ id: RequestIdentity?, _ allowed: Bool) throws {
        // Istio policies cannot target an HTTPRoute (a gap of its own), so this one is attached to a Gateway.
        let set = try PolicySet.parse(yaml: securityPolicy(Self.spec, target: "kind: Gateway\n    name: eg"))
        let conversion = IstioConversion(set)
        #expect(!conversion.gaps.contains { $0.contains("cannot target a route") })
        #expect(conversion.documents.count == 4)  // RA, .deny, ALLOW, jwt-required
        let istio = try PolicySet.parse(yaml: conversion.documents.joined(separator: "\n---\n"))
        #expect(istio.requestAuthentications.allSatisfy { $0.origin.dialect == nil })
        for s in [set, istio] {
            let eff = s.effective(for: WorkloadScope(namespace: "foo", targets: [TargetRef(kind: "Gateway", name: "eg")]))
            // The SecurityPolicy's required JWT is a jwt_authn requirement (the token step), not a policy.
            let tokenStepPasses = id != nil || !s.jwtAuthnFilters.contains { $0.onlyWith != nil }
            #expect((tokenStepPasses && AuthorizationEvaluator.evaluate(eff, request: req.attributes, identity: id).isAllowed) == allowed)
        }
        #expect(istio.requestAuthentications.first?.jwtRules == set.requestAuthentications.first?.jwtRules.map {
            var r = $0; r.source = istio.requestAuthentications.first!.ref; r.jwtAuthnProvider = nil; r.gatewayProviderID = nil; return r
        })
        #expect(conversion.gaps.contains { $0.contains("foo/sp.jwt-required") && $0.contains("401 Jwt is missing") })
    }

    /// First-match order with an Allow before a Deny converts to DENY rules carrying the earlier Allow's negation
    /// (notRemoteIpBlocks, notValues), which Istio's own reading decides the same way.
    @Test(arguments: [
        (["x-forwarded-for": "10.1.2.3", "x-team": "ops"], true),
        (["x-forwarded-for": "10.1.2.3", "x-team": "dev"], false),
        (["x-forwarded-for": "10.1.2.3"], false),
        (["x-forwarded-for": "11.2.3.4"], true),
        (["x-forwarded-for": "12.2.3.4"], false),
    ] as [([String: String], Bool)])
    func convertedFirstMatchDecidesTheSame(_ headers: [String: String], _ allowed: Bool) throws {
        let spec = """
            authorization:
              rules:
              - {action: Allow, principal: {clientCIDRs: [10.0.0.0/8], headers: [{name: x-team, values: [ops]}]}}
              - {action: Deny, principal: {clientCIDRs: [10.1.0.0/16]}}
              - {action: Allow, principal: {clientCIDRs: [10.0.0.0/7]}}
            """
        let set = try PolicySet.parse(yaml: securityPolicy(spec, target: "kind: Gateway\n    name: eg"))
        let istio = try PolicySet.parse(yaml: IstioConversion(set).documents.joined(separator: "\n---\n"))
        #expect(istio.authorizationPolicies.contains { p in p.rules.contains { r in r.from.contains { !$0.notRemoteIpBlocks.isEmpty } } })
        for s in [set, istio] {
            let eff = s.effective(for: WorkloadScope(namespace: "foo", targets: [TargetRef(kind: "Gateway", name: "eg")]))
            #expect(AuthorizationEvaluator.evaluate(eff, request: Req(headers: headers).attributes, identity: nil).isAllowed == allowed)
        }
    }

    @Test func typedClaimsAndScopesAreGaps() throws {
        let set = try PolicySet.parse(yaml: securityPolicy(optionalJWT + """

            authorization:
              rules:
              - {action: Allow, principal: {jwt: {provider: example, claims: [{name: groups, valueType: StringArray, values: [ops]}], scopes: [read]}}}
            """))
        let gaps = IstioConversion(set).gaps
        #expect(gaps.contains { $0.contains("claim groups (valueType StringArray)") && $0.contains("bare string") })
        #expect(gaps.contains { $0.contains("scope read") && $0.contains("scope only") })
        #expect(gaps.contains { $0.contains("HTTPRoute/backend") && $0.contains("cannot target a route") })
    }
}

extension IstioConversionTests {
    @Test func attachmentGapOnlyWithGatewayAndRoutePolicies() throws {
        let route = securityPolicy("authorization: {}", name: "r")
        let gateway = securityPolicy("authorization: {}", name: "g", target: "kind: Gateway\n    name: eg")
        #expect(!IstioConversion(try PolicySet.parse(yaml: route)).gaps.contains { $0.contains("attachment") })
        #expect(IstioConversion(try PolicySet.parse(yaml: route + gateway)).gaps.contains { $0.contains("attachment") })
    }
}
