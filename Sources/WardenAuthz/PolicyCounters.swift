import WardenPolicy

/// The `warden_policy_decisions_total{namespace,name,action,result}` counters of one compiled scope, one
/// pair per AuthorizationPolicy that applies there, looked up once when the scope is compiled. What each
/// check counts is read off its `AuthorizationDecision`, in Istio's order: the DENY policies up to the
/// one that matched (all, when none did); then, if no DENY matched, the ALLOW policies up to the one that
/// matched (all, when none did); every AUDIT policy; every dry-run policy. A policy the evaluation never
/// reached (an ALLOW after a DENY matched) is not counted. `result` is `matched` / `not_matched`, and
/// `dry_run_matched` / `dry_run_not_matched` for `istio.io/dry-run` policies — so the counts of one
/// policy before and after removing its annotation compare directly.
struct PolicyCounters: Sendable {
    struct Pair: Sendable {
        let matched: CheckMetrics.Counter
        let notMatched: CheckMetrics.Counter
        func count(_ match: Bool) { (match ? matched : notMatched).add() }
    }

    static let labels = ["namespace", "name", "action", "result"]

    let deny: [Pair]
    let allow: [Pair]
    let audit: [Pair]
    let dryRun: [Pair]

    init(_ effective: EffectivePolicy, registry: LabeledCounters) {
        func pairs(_ policies: [AuthorizationPolicy], dryRun: Bool) -> [Pair] {
            policies.map { p in
                let prefix = dryRun ? "dry_run_" : ""
                let labels = [p.ref.namespace, p.ref.name, p.action.rawValue]
                return Pair(matched: registry.counter(labels + [prefix + "matched"]),
                            notMatched: registry.counter(labels + [prefix + "not_matched"]))
            }
        }
        deny = pairs(effective.denyPolicies, dryRun: false)
        allow = pairs(effective.allowPolicies, dryRun: false)
        audit = pairs(effective.auditPolicies, dryRun: false)
        dryRun = pairs(effective.dryRunPolicies, dryRun: true)
    }

    var isEmpty: Bool { deny.isEmpty && allow.isEmpty && audit.isEmpty && dryRun.isEmpty }

    /// Counts one evaluation of `effective` (the policies these counters were made for).
    func count(_ decision: AuthorizationDecision, _ effective: EffectivePolicy) {
        for (i, p) in effective.auditPolicies.enumerated() {
            audit[i].count(decision.auditMatches.contains { $0.policy == p.ref && $0.action == .audit })
        }
        for (i, r) in decision.dryRun.enumerated() where i < dryRun.count { dryRun[i].count(r.matchedRule != nil) }
        switch decision.verdict {
        case .deny(.invalidPath):
            return  // nothing was matched against a path that cannot be normalized
        case .deny(.denyPolicyMatched(let m)):
            countUpTo(m, effective.denyPolicies, deny)
        case .allow(.allowPolicyMatched(let m)) where decision.allowMatches.count <= 1:
            for d in deny { d.count(false) }
            countUpTo(m, effective.allowPolicies, allow)
        case .allow(.allowPolicyMatched):
            // Several stages (Istio's, a SecurityPolicy's) each had a matching ALLOW policy.
            for d in deny { d.count(false) }
            for (i, p) in effective.allowPolicies.enumerated() { allow[i].count(decision.allowMatches.contains { $0.policy == p.ref }) }
        case .allow(.noAllowPolicies):
            for d in deny { d.count(false) }
        case .deny(.noAllowPolicyMatched):
            // An earlier stage's ALLOW may have matched before a later stage found none.
            for d in deny { d.count(false) }
            for (i, p) in effective.allowPolicies.enumerated() { allow[i].count(decision.allowMatches.contains { $0.policy == p.ref }) }
        }
    }

    /// The policies before the one that matched did not match; it did.
    private func countUpTo(_ m: PolicyMatch, _ policies: [AuthorizationPolicy], _ counters: [Pair]) {
        for (i, p) in policies.enumerated() {
            if p.ref == m.policy {
                counters[i].count(true)
                return
            }
            counters[i].count(false)
        }
    }
}
