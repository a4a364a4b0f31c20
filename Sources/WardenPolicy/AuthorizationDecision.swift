/// A policy and the index of its rule that matched.
public struct PolicyMatch: Sendable, Hashable, CustomStringConvertible {
    public var policy: PolicyRef
    public var action: PolicyAction
    public var ruleIndex: Int
    /// Metadata namespaces the rule's `experimental.envoy.filters.*` conditions needed but Envoy did not
    /// send, so they were assumed to match (DENY and AUDIT rules fail closed); empty for a plain match.
    public var unsentMetadata: [String]
    /// Connection facts the rule needed but the front door did not report, so the parts on them were
    /// assumed to match (DENY and AUDIT rules fail closed); empty for a plain match.
    public var unreportedFacts: [ConnectionFact]

    public init(policy: PolicyRef, action: PolicyAction, ruleIndex: Int, unsentMetadata: [String] = [],
                unreportedFacts: [ConnectionFact] = []) {
        self.policy = policy
        self.action = action
        self.ruleIndex = ruleIndex
        self.unsentMetadata = unsentMetadata
        self.unreportedFacts = unreportedFacts
    }

    public var description: String {
        "\(action.rawValue) \(policy) rule[\(ruleIndex)]" + notes
    }

    /// What the match assumed, in parentheses; empty for a plain match.
    var notes: String {
        var parts: [String] = []
        if !unsentMetadata.isEmpty { parts.append(Self.unsentNote(unsentMetadata)) }
        if !unreportedFacts.isEmpty { parts.append(Self.unreportedNote(unreportedFacts)) }
        return parts.isEmpty ? "" : " (\(parts.joined(separator: "; ")))"
    }

    /// Why a rule matched without a connection fact, for reasons and logs.
    static func unreportedNote(_ facts: [ConnectionFact]) -> String {
        "fail closed: \(facts.map(\.rawValue).joined(separator: ", ")) not reported by this front door; "
            + "trust the proxy's header with --http-trusted-headers, or decide it at a front door that reports it"
    }

    /// Why a rule matched without its metadata, for reasons and logs.
    static func unsentNote(_ namespaces: [String]) -> String {
        "fail closed: metadata namespace \(namespaces.joined(separator: ", ")) not sent by Envoy; "
            + "list it in the ext_authz filter's metadata_context_namespaces"
    }
}

/// How a dry-run policy would have matched.
public struct DryRunResult: Sendable, Hashable, CustomStringConvertible {
    public var policy: PolicyRef
    public var action: PolicyAction
    /// The first matching rule, or nil when the policy did not match.
    public var matchedRule: Int?

    public var description: String {
        "dry-run \(action.rawValue) \(policy): " + (matchedRule.map { "rule[\($0)] matched" } ?? "no match")
    }
}

/// The outcome of authorization for one request, with its reason. A value, never thrown.
public struct AuthorizationDecision: Sendable, Hashable, CustomStringConvertible {
    public enum AllowReason: Sendable, Hashable {
        /// An ALLOW policy matched.
        case allowPolicyMatched(PolicyMatch)
        /// No enforced ALLOW policy applies to the workload (and no DENY matched).
        case noAllowPolicies
    }

    public enum DenyReason: Sendable, Hashable {
        /// A DENY policy matched.
        case denyPolicyMatched(PolicyMatch)
        /// ALLOW policies apply but none matched; `summary` says why, per policy.
        case noAllowPolicyMatched(policies: [PolicyRef], summary: String)
        /// The request path cannot be normalized (Envoy rejects such paths with 400).
        case invalidPath(String)
    }

    public enum Verdict: Sendable, Hashable {
        case allow(AllowReason)
        case deny(DenyReason)
    }

    public var verdict: Verdict
    /// AUDIT policies that matched (logged; they never change the verdict).
    public var auditMatches: [PolicyMatch]
    /// Results of `istio.io/dry-run` policies.
    public var dryRun: [DryRunResult]
    /// With several identities (one per verified token): which one's evaluation `verdict` is, and how many
    /// there were. nil with one identity or none.
    public var decidingIdentity: DecidingIdentity?
    /// The ALLOW policy matches of each stage evaluated (`EffectivePolicy.stages`: Istio's, then each
    /// SecurityPolicy's), for per-policy counters; the verdict names the first.
    public var allowMatches: [PolicyMatch] = []

    /// The identity a decision over several was reached for.
    public struct DecidingIdentity: Sendable, Hashable {
        /// Its index among the identities evaluated (extraction order of their tokens).
        public var index: Int
        /// How many identities were evaluated.
        public var count: Int
        /// Its request principal, `iss/sub`.
        public var principal: String

        public init(index: Int, count: Int, principal: String) {
            self.index = index
            self.count = count
            self.principal = principal
        }
    }

    public init(verdict: Verdict, auditMatches: [PolicyMatch] = [], dryRun: [DryRunResult] = [],
                decidingIdentity: DecidingIdentity? = nil) {
        self.verdict = verdict
        self.auditMatches = auditMatches
        self.dryRun = dryRun
        self.decidingIdentity = decidingIdentity
    }

    public var isAllowed: Bool {
        if case .allow = verdict { return true }
        return false
    }

    /// `namespace/name` of the policy responsible for a denial (for `x-warden-denied-by`): the DENY
    /// policy that matched, or the applicable ALLOW policies (comma-separated) when none matched.
    public var deniedBy: String? {
        switch verdict {
        case .allow: return nil
        case .deny(.denyPolicyMatched(let m)): return m.policy.description
        case .deny(.noAllowPolicyMatched(let policies, _)): return policies.map(\.description).joined(separator: ",")
        case .deny(.invalidPath): return nil
        }
    }

    /// One line for logs and `explain`; with several identities, it names the one it is about.
    public var reason: String {
        let text: String
        switch verdict {
        case .allow(.allowPolicyMatched(let m)): text = "allowed by ALLOW policy \(m.policy) rule[\(m.ruleIndex)]"
        case .allow(.noAllowPolicies): text = "allowed: no ALLOW policies apply"
        case .deny(.denyPolicyMatched(let m)):
            text = "denied by DENY policy \(m.policy) rule[\(m.ruleIndex)]" + m.notes
        case .deny(.noAllowPolicyMatched(_, let summary)): text = "denied: no ALLOW policy matched (\(summary))"
        case .deny(.invalidPath(let p)): return "denied: invalid request path \"\(p)\""
        }
        guard let who = decidingIdentity else { return text }
        let identity = "identity \(who.index + 1) of \(who.count), \"\(who.principal)\""
        return isAllowed ? "\(text) (\(identity); every identity is allowed)" : "\(text) (\(identity))"
    }

    public var description: String {
        var parts = [reason]
        if !auditMatches.isEmpty { parts.append("audit: " + auditMatches.map(\.description).joined(separator: ", ")) }
        if !dryRun.isEmpty { parts.append(dryRun.map(\.description).joined(separator: ", ")) }
        return parts.joined(separator: "; ")
    }
}

/// Evaluation settings.
public struct EvaluationOptions: Sendable, Hashable {
    /// Trusted proxy hops in `x-forwarded-for` (Istio's `numTrustedProxies`): `remote.ip` is the
    /// (N+1)-th address from the right, or the connection peer when there are not that many.
    public var numTrustedProxies: Int

    public init(numTrustedProxies: Int = 0) {
        self.numTrustedProxies = numTrustedProxies
    }
}
