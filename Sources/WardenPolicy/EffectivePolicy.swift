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
    /// Their rules by issuer (compared byte for byte): every rule for a token's issuer applies.
    public let tokenRulesByIssuer: [ExactKey: [TokenRule]]
    /// Claims split on spaces per issuer (`scope`, `scp`, `permission` + `spaceDelimitedClaims`); issuers
    /// and claim names compared byte for byte.
    let spaceDelimitedByIssuer: [ExactKey: Set<ExactKey>]

    static let defaultSpaceDelimited: Set<ExactKey> = ["scope", "scp", "permission"]

    public init(scope: WorkloadScope, requestAuthentications: [RequestAuthentication], authorizationPolicies: [AuthorizationPolicy],
                tokenPolicies: [TokenPolicy] = [], notes: [PolicyNote] = []) {
        self.scope = scope
        self.requestAuthentications = requestAuthentications
        self.tokenPolicies = tokenPolicies
        var byIssuer: [ExactKey: [TokenRule]] = [:]
        for p in tokenPolicies { for r in p.rules { byIssuer[ExactKey(r.issuer), default: []].append(r) } }
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
        var split: [ExactKey: Set<ExactKey>] = [:]
        for r in rules {
            split[ExactKey(r.issuer), default: EffectivePolicy.defaultSpaceDelimited].formUnion(r.spaceDelimitedClaims.map { ExactKey($0) })
        }
        spaceDelimitedByIssuer = split
    }

    /// Claim names whose string values are split on spaces for a token from `issuer`.
    public func spaceDelimitedClaims(issuer: String) -> Set<ExactKey> {
        spaceDelimitedByIssuer[ExactKey(issuer)] ?? EffectivePolicy.defaultSpaceDelimited
    }

    /// True when no RequestAuthentication and no enforced ALLOW/DENY policy applies.
    public var isEmpty: Bool { jwtRules.isEmpty && allowPolicies.isEmpty && denyPolicies.isEmpty }
}
