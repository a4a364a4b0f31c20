import Testing
@testable import WardenPolicy

struct ScopeCase: Sendable, CustomTestStringConvertible {
    var name: String
    var scope: WorkloadScope
    var expected: [String]
    var testDescription: String { name }
}

/// Policies: ns-wide in foo, selector app=web in foo, root-wide, root with selector app=web,
/// bar-wide, and targetRefs to Gateway foo/edge.
let scopingYAML = ap("foo-wide", "rules:\n- {}")
    + ap("foo-web", "selector:\n  matchLabels: {app: web}\nrules:\n- {}")
    + ap("mesh-wide", "rules:\n- {}", namespace: "istio-system")
    + ap("mesh-web", "selector:\n  matchLabels: {app: web, tier: front}\nrules:\n- {}", namespace: "istio-system")
    + ap("bar-wide", "rules:\n- {}", namespace: "bar")
    + ap("edge", "targetRefs:\n- kind: Gateway\n  group: gateway.networking.k8s.io\n  name: edge\nrules:\n- {}")

let scopeCases: [ScopeCase] = [
    ScopeCase(name: "namespace-wide and root-wide apply; selectors need matching labels",
              scope: WorkloadScope(namespace: "foo", labels: ["app": "api"]), expected: ["foo/foo-wide", "istio-system/mesh-wide"]),
    ScopeCase(name: "selector is a subset of the workload labels",
              scope: WorkloadScope(namespace: "foo", labels: ["app": "web", "tier": "front", "x": "y"]),
              expected: ["foo/foo-web", "foo/foo-wide", "istio-system/mesh-web", "istio-system/mesh-wide"]),
    ScopeCase(name: "other namespace", scope: WorkloadScope(namespace: "bar"), expected: ["bar/bar-wide", "istio-system/mesh-wide"]),
    ScopeCase(name: "custom root namespace", scope: WorkloadScope(namespace: "bar", rootNamespace: "mesh-root"), expected: ["bar/bar-wide"]),
    ScopeCase(name: "targetRefs apply to the named target",
              scope: WorkloadScope(namespace: "foo", targets: [TargetRef(kind: "Gateway", name: "edge")]),
              expected: ["foo/edge", "foo/foo-wide", "istio-system/mesh-wide"]),
    ScopeCase(name: "targetRefs need the same namespace",
              scope: WorkloadScope(namespace: "foo", targets: [TargetRef(kind: "Gateway", name: "edge", namespace: "bar")]),
              expected: ["foo/foo-wide", "istio-system/mesh-wide"]),
    ScopeCase(name: "targetRefs for another kind do not apply",
              scope: WorkloadScope(namespace: "foo", targets: [TargetRef(kind: "Service", name: "edge")]),
              expected: ["foo/foo-wide", "istio-system/mesh-wide"]),
    ScopeCase(name: "context_extensions select namespace and labels",
              scope: WorkloadScope(namespace: "bar").applying(contextExtensions: ["namespace": "foo", "label.app": "web", "other": "x"]),
              expected: ["foo/foo-web", "foo/foo-wide", "istio-system/mesh-wide"]),
]

@Suite struct ScopingTests {
    @Test(arguments: scopeCases)
    func applicablePolicies(_ c: ScopeCase) throws {
        let eff = try PolicySet.parse(yaml: scopingYAML).effective(for: c.scope)
        #expect(eff.allowPolicies.map(\.ref.description) == c.expected)
    }

    @Test func targetRefsWithoutTargetsAreSkippedWithAWarning() throws {
        let eff = try PolicySet.parse(yaml: scopingYAML).effective(for: WorkloadScope(namespace: "foo"))
        #expect(!eff.allowPolicies.contains { $0.ref.name == "edge" })
        #expect(eff.notes.map(\.description) == ["warning: foo/edge: skipped: uses targetRefs (Gateway/edge) but no target is configured"])
    }

    @Test func requestAuthenticationsAreScopedTooAndGiveJWTRules() throws {
        let yaml = """
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata: {name: mesh, namespace: istio-system}
            spec:
              jwtRules: [{issuer: https://mesh.example}]
            ---
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata: {name: web, namespace: foo}
            spec:
              selector: {matchLabels: {app: web}}
              jwtRules: [{issuer: https://web.example}]
            """
        let set = try PolicySet.parse(yaml: yaml)
        #expect(set.effective(for: WorkloadScope(namespace: "foo", labels: ["app": "web"])).jwtRules.map(\.issuer).sorted()
                == ["https://mesh.example", "https://web.example"])
        #expect(set.effective(for: WorkloadScope(namespace: "foo")).jwtRules.map(\.issuer) == ["https://mesh.example"])
    }

    @Test func selectorAndTargetRefsAreExclusive() {
        #expect(throws: PolicyLoadFailure.self) {
            try PolicySet.parse(yaml: ap("x", "selector:\n  matchLabels: {a: b}\ntargetRefs:\n- {kind: Gateway, name: g}\nrules:\n- {}"))
        }
    }
}

@Suite struct DemoPolicyTests {
    /// The repository's demo policies load and give the documented answers.
    @Test func demoPoliciesBehaveAsDocumented() throws {
        let root = fixturesDirectory().replacing("/Tests/WardenPolicyTests/Fixtures", with: "")
        let set = try PolicySource(paths: [root + "/deploy/demo/policies"]).load()
        let eff = set.effective(for: WorkloadScope())
        #expect(eff.jwtRules.map(\.issuer) == ["https://demo.warden.local"])
        let writer = identity("https://demo.warden.local", sub: "u", aud: ["orders-api"], claims: ["scope": .string("orders:read orders:write")])
        let reader = identity("https://demo.warden.local", sub: "u", aud: ["orders-api"], claims: ["scope": .string("orders:read")])
        func allowed(_ r: Req, _ id: RequestIdentity?) -> Bool { AuthorizationEvaluator.evaluate(eff, request: r.attributes, identity: id).isAllowed }
        #expect(allowed(Req(path: "/healthz"), nil))
        #expect(!allowed(Req(path: "/orders"), nil))
        #expect(allowed(Req(path: "/orders"), reader))
        #expect(!allowed(Req(method: "POST", path: "/orders"), reader))
        #expect(allowed(Req(method: "POST", path: "/orders/7"), writer))
        #expect(TargetRef(flag: "Gateway/edge") == TargetRef(kind: "Gateway", name: "edge"))
        #expect(TargetRef(flag: "Service/foo/api") == TargetRef(kind: "Service", name: "api", namespace: "foo"))
        #expect(TargetRef(flag: "Gateway") == nil)
    }
}

/// Without `--target`, targetRefs resources in the workload's (or root) namespace are named as errors (the
/// set is refused by serve); other namespaces' are not, and a stated target clears them.
@Test(arguments: [
    (WorkloadScope(namespace: "foo"), ["foo/edge"]),
    (WorkloadScope(namespace: "bar"), []),
    (WorkloadScope(namespace: "foo", targets: [TargetRef(kind: "Gateway", name: "edge")]), []),
] as [(WorkloadScope, [String])])
func untargetedResourcesAreNamed(_ scope: WorkloadScope, _ named: [String]) throws {
    let set = try PolicySet.parse(yaml: scopingYAML)
    let errors = set.untargetedResources(for: scope)
    #expect(errors.count == named.count)
    for (e, name) in zip(errors, named) {
        #expect(e.message.contains("AuthorizationPolicy \(name) uses targetRefs") && e.message.contains("--target none"))
        #expect(e.fieldPath == "spec.targetRefs" && e.line > 0)
    }
}
