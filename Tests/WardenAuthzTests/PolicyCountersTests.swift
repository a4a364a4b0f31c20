import Testing
@testable import WardenAuthz
import WardenJSON
import WardenPolicy

/// `warden_policy_decisions_total{namespace,name,action,result}`: what each AuthorizationPolicy did,
/// counted in Istio's evaluation order, dry-run policies apart.
@Suite("Per-policy decision counters")
struct PolicyCountersTests {
    static func policy(_ name: String, _ action: String, path: String, dryRun: Bool = false) -> String {
        """
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: \(name)
          namespace: default
        \(dryRun ? "  annotations: {istio.io/dry-run: \"true\"}" : "")
        spec:
          action: \(action)
          rules:
          - to: [{operation: {paths: ["\(path)"]}}]
        """
    }

    static let set = [
        policy("deny-admin", "DENY", path: "/admin"),
        policy("allow-public", "ALLOW", path: "/public"),
        policy("allow-health", "ALLOW", path: "/healthz"),
        policy("audit-public", "AUDIT", path: "/public"),
        policy("would-deny-public", "DENY", path: "/public", dryRun: true),
    ].joined(separator: "\n---\n")

    struct Row: Sendable, CustomTestStringConvertible {
        var path: String
        var status: Int
        /// name → result, for every counter that must read 1; every other counter reads 0.
        var counted: [String: String]
        var testDescription: String { path }
    }

    static let rows: [Row] = [
        Row(path: "/admin", status: 403, counted: ["deny-admin": "matched", "audit-public": "not_matched",
                                                   "would-deny-public": "dry_run_not_matched"]),
        // ALLOW policies are evaluated in namespace/name order: allow-health before allow-public.
        Row(path: "/public", status: 200, counted: ["deny-admin": "not_matched", "allow-health": "not_matched", "allow-public": "matched",
                                                    "audit-public": "matched", "would-deny-public": "dry_run_matched"]),
        Row(path: "/healthz", status: 200, counted: ["deny-admin": "not_matched", "allow-health": "matched",
                                                     "audit-public": "not_matched", "would-deny-public": "dry_run_not_matched"]),
        Row(path: "/other", status: 403, counted: ["deny-admin": "not_matched", "allow-public": "not_matched",
                                                   "allow-health": "not_matched", "audit-public": "not_matched",
                                                   "would-deny-public": "dry_run_not_matched"]),
    ]

    @Test(arguments: rows)
    func counts(_ row: Row) throws {
        let p = pipeline(try PolicySet.parse(yaml: Self.set))
        let result = p.decide(request("GET", row.path))
        #expect(result.decision.httpStatus == row.status)
        let actions = ["deny-admin": "DENY", "allow-public": "ALLOW", "allow-health": "ALLOW", "audit-public": "AUDIT",
                       "would-deny-public": "DENY"]
        let samples = p.metrics.policyDecisions.samples
        #expect(samples.count == row.counted.count)
        for (name, result) in row.counted {
            #expect(p.metrics.policyDecisions.value(["default", name, actions[name]!, result]) == 1, "\(name) \(result)")
        }
    }

    /// Counters outlive a reload (a counter never goes back), and /metrics renders them.
    @Test func survivesReloadAndRenders() throws {
        let p = pipeline(try PolicySet.parse(yaml: Self.set))
        _ = p.decide(request("GET", "/public"))
        p.install(try PolicySet.parse(yaml: Self.set))
        _ = p.decide(request("GET", "/public"))
        #expect(p.metrics.policyDecisions.value(["default", "allow-public", "ALLOW", "matched"]) == 2)
        var text = PrometheusText()
        p.renderMetrics(into: &text)
        #expect(text.text.contains(#"warden_policy_decisions_total{namespace="default",name="allow-public",action="ALLOW",result="matched"} 2"#))
        #expect(text.text.contains(#"warden_policy_decisions_total{namespace="default",name="would-deny-public",action="DENY",result="dry_run_matched"} 2"#))
    }
}
