/// The resources that apply to one `WorkloadScope`, grouped for evaluation. Cache it per scope.
public final class EffectivePolicy: Sendable {
    public let scope: WorkloadScope
    /// Applicable RequestAuthentications (sorted by namespace/name).
    public let requestAuthentications: [RequestAuthentication]
    /// Their JWT rules, in order; a token is accepted by any of them.
    public let jwtRules: [JWTRule]
    /// Enforced policies by action (dry-run ones are only in `dryRunPolicies`).
    public let allowPolicies: [AuthorizationPolicy]
    public let denyPolicies: [AuthorizationPolicy]
    public let auditPolicies: [AuthorizationPolicy]
    /// CUSTOM policies are listed but ignored: Warden is the CUSTOM provider.
    public let customPolicies: [AuthorizationPolicy]
    /// `istio.io/dry-run` policies: evaluated and reported, never enforced.
    public let dryRunPolicies: [AuthorizationPolicy]
    /// Skipped targetRefs resources, ignored CUSTOM policies, …
    public let notes: [PolicyNote]
    /// Applicable Warden `TokenPolicy` resources (sorted by namespace/name).
    public let tokenPolicies: [TokenPolicy]
    /// Their rules by issuer: every rule for a token's issuer applies.
    public let tokenRulesByIssuer: [String: [TokenRule]]
    /// Claims split on spaces per issuer (`scope`, `scp`, `permission` + `spaceDelimitedClaims`).
    let spaceDelimitedByIssuer: [String: Set<String>]

    static let defaultSpaceDelimited: Set<String> = ["scope", "scp", "permission"]

    public init(scope: WorkloadScope, requestAuthentications: [RequestAuthentication], authorizationPolicies: [AuthorizationPolicy],
                tokenPolicies: [TokenPolicy] = [], notes: [PolicyNote] = []) {
        self.scope = scope
        self.requestAuthentications = requestAuthentications
        self.tokenPolicies = tokenPolicies
        var byIssuer: [String: [TokenRule]] = [:]
        for p in tokenPolicies { for r in p.rules { byIssuer[r.issuer, default: []].append(r) } }
        tokenRulesByIssuer = byIssuer
        let rules = requestAuthentications.flatMap(\.jwtRules)
        self.jwtRules = rules
        let enforced = authorizationPolicies.filter { !$0.dryRun }
        allowPolicies = enforced.filter { $0.action == .allow }
        denyPolicies = enforced.filter { $0.action == .deny }
        auditPolicies = enforced.filter { $0.action == .audit }
        customPolicies = enforced.filter { $0.action == .custom }
        dryRunPolicies = authorizationPolicies.filter { $0.dryRun && $0.action != .custom }
        var allNotes = notes
        for p in customPolicies {
            allNotes.append(PolicyNote(level: .info, location: p.ref.description,
                                       message: "CUSTOM policy (provider \(p.provider ?? "")) ignored: Warden is the external authorizer"))
        }
        self.notes = allNotes
        var split: [String: Set<String>] = [:]
        for r in rules { split[r.issuer, default: EffectivePolicy.defaultSpaceDelimited].formUnion(r.spaceDelimitedClaims) }
        spaceDelimitedByIssuer = split
    }

    /// Claim names whose string values are split on spaces for a token from `issuer`.
    public func spaceDelimitedClaims(issuer: String) -> Set<String> {
        spaceDelimitedByIssuer[issuer] ?? EffectivePolicy.defaultSpaceDelimited
    }

    /// True when no RequestAuthentication and no enforced ALLOW/DENY policy applies.
    public var isEmpty: Bool { jwtRules.isEmpty && allowPolicies.isEmpty && denyPolicies.isEmpty }
}
