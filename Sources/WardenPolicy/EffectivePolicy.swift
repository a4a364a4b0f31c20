/// The resources that apply to one `WorkloadScope`, grouped for evaluation. Cache it per scope.
public final class EffectivePolicy: Sendable {
    public let scope: WorkloadScope
    /// Applicable, enforced RequestAuthentications (sorted by namespace/name).
    public let requestAuthentications: [RequestAuthentication]
    /// Applicable `istio.io/dry-run` RequestAuthentications: evaluated (`enforcingDryRun`), never enforced.
    public let dryRunRequestAuthentications: [RequestAuthentication]
    /// The JWT rules Istio's jwt filter verifies with, in order; a token is accepted by any of them. An Envoy
    /// Gateway SecurityPolicy's providers are not among them: its RequestAuthentication only scopes its own
    /// jwt_authn requirement (`JwtAuthnFilter.onlyWith`), a filter of its own that verifies for its stage alone.
    public let jwtRules: [JWTRule]
    /// Enforced policies by action (dry-run ones are only in `dryRunPolicies`).
    public let allowPolicies: [AuthorizationPolicy]
    public let denyPolicies: [AuthorizationPolicy]
    public let auditPolicies: [AuthorizationPolicy]
    /// CUSTOM policies are listed but ignored: Warden is the CUSTOM provider.
    public let customPolicies: [AuthorizationPolicy]
    /// `istio.io/dry-run` policies: evaluated and reported, never enforced.
    public let dryRunPolicies: [AuthorizationPolicy]
    /// The enforced ALLOW and DENY policies as the separate RBAC filters that decide them, in order: the Istio
    /// policies first, then one stage per Envoy Gateway SecurityPolicy. Envoy Gateway's RBAC filter and Istio's
    /// are distinct filters on the request path, so a request must pass every stage (AND); ORing a
    /// SecurityPolicy's ALLOW rules with Istio's would lose its `defaultAction: Deny`.
    public let stages: [AuthorizationStage]
    /// Skipped targetRefs resources, ignored CUSTOM policies, …
    public let notes: [PolicyNote]
    /// Applicable, enforced Warden `TokenPolicy` resources (sorted by namespace/name).
    public let tokenPolicies: [TokenPolicy]
    /// Applicable `istio.io/dry-run` TokenPolicies: evaluated (`enforcingDryRun`), never enforced.
    public let dryRunTokenPolicies: [TokenPolicy]
    /// Their rules by issuer (compared byte for byte): every rule for a token's issuer applies.
    public let tokenRulesByIssuer: [ExactKey: [TokenRule]]
    /// Exchange rules of the enforced TokenPolicies, in policy (namespace/name) then rule order.
    public let exchanges: [ExchangeRule]
    /// Claims split on spaces per issuer (`scope`, `scp`, `permission` + `spaceDelimitedClaims`); issuers
    /// and claim names compared byte for byte.
    let spaceDelimitedByIssuer: [ExactKey: Set<ExactKey>]

    /// Every applicable AuthorizationPolicy as given (for `enforcingDryRun`).
    private let authorizationPolicies: [AuthorizationPolicy]
    private let inputNotes: [PolicyNote]

    static let defaultSpaceDelimited: Set<ExactKey> = ["scope", "scp", "permission"]

    public init(scope: WorkloadScope, requestAuthentications: [RequestAuthentication], authorizationPolicies: [AuthorizationPolicy],
                tokenPolicies: [TokenPolicy] = [], notes: [PolicyNote] = []) {
        self.scope = scope
        self.requestAuthentications = requestAuthentications.filter { !$0.dryRun }
        dryRunRequestAuthentications = requestAuthentications.filter(\.dryRun)
        self.tokenPolicies = tokenPolicies.filter { !$0.dryRun }
        dryRunTokenPolicies = tokenPolicies.filter(\.dryRun)
        self.authorizationPolicies = authorizationPolicies
        var byIssuer: [ExactKey: [TokenRule]] = [:]
        for p in self.tokenPolicies { for r in p.rules { byIssuer[ExactKey(r.issuer), default: []].append(r) } }
        tokenRulesByIssuer = byIssuer
        exchanges = self.tokenPolicies.flatMap(\.exchanges)
        let rules = self.requestAuthentications.filter { !GatewayPrecedence.isSecurityPolicy($0.origin) }.flatMap(\.jwtRules)
        self.jwtRules = rules
        let enforced = authorizationPolicies.filter { !$0.dryRun }
        allowPolicies = enforced.filter { $0.action == .allow }
        denyPolicies = enforced.filter { $0.action == .deny }
        auditPolicies = enforced.filter { $0.action == .audit }
        customPolicies = enforced.filter { $0.action == .custom }
        stages = AuthorizationStage.split(allow: allowPolicies, deny: denyPolicies)
        dryRunPolicies = authorizationPolicies.filter { $0.dryRun && $0.action != .custom }
        var allNotes = notes
        for p in customPolicies {
            allNotes.append(PolicyNote(level: .info, location: p.ref.description,
                                       message: "CUSTOM policy (provider \(p.provider ?? "")) ignored: Warden is the external authorizer"))
        }
        self.notes = allNotes
        self.inputNotes = notes
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

    /// The dry-run RequestAuthentications and TokenPolicies (with the enforced ones), as if enforced: what a
    /// dry-run check evaluates to tell what Warden would have answered. The AuthorizationPolicies are the
    /// same (dry-run ones stay dry-run). nil when no dry-run token resource applies.
    public func enforcingDryRun() -> EffectivePolicy? {
        guard !dryRunRequestAuthentications.isEmpty || !dryRunTokenPolicies.isEmpty else { return nil }
        func enforced<T>(_ items: [T], _ flag: WritableKeyPath<T, Bool>) -> [T] {
            items.map { var x = $0; x[keyPath: flag] = false; return x }
        }
        let ras = (requestAuthentications + enforced(dryRunRequestAuthentications, \.dryRun)).sorted { $0.ref < $1.ref }
        let tps = (tokenPolicies + enforced(dryRunTokenPolicies, \.dryRun)).sorted { $0.ref < $1.ref }
        return EffectivePolicy(scope: scope, requestAuthentications: ras, authorizationPolicies: authorizationPolicies,
                               tokenPolicies: tps, notes: inputNotes)
    }

    /// `Kind/namespace/name` of every dry-run token resource applying here: the `resource` label of
    /// `warden_dry_run_decisions_total`.
    public var dryRunResources: [String] {
        dryRunRequestAuthentications.map { "RequestAuthentication/\($0.ref)" } + dryRunTokenPolicies.map { "\(TokenPolicy.kind)/\($0.ref)" }
    }

    /// True when no RequestAuthentication and no enforced ALLOW/DENY policy applies.
    public var isEmpty: Bool { jwtRules.isEmpty && allowPolicies.isEmpty && denyPolicies.isEmpty }
}

/// One RBAC filter's policies: a DENY that matches denies; with no ALLOW policy the stage passes, else one
/// ALLOW must match.
public struct AuthorizationStage: Sendable {
    /// nil: the Istio policies; else the SecurityPolicy dialect label the stage was compiled from.
    public let securityPolicy: String?
    public let allowPolicies: [AuthorizationPolicy]
    public let denyPolicies: [AuthorizationPolicy]

    /// The Istio stage (always, even when empty), then one per SecurityPolicy in order of first appearance.
    static func split(allow: [AuthorizationPolicy], deny: [AuthorizationPolicy]) -> [AuthorizationStage] {
        var order: [String] = []
        var byPolicy: [String: (allow: [AuthorizationPolicy], deny: [AuthorizationPolicy])] = [:]
        for p in deny + allow {
            guard GatewayPrecedence.isSecurityPolicy(p.origin), let d = p.origin.dialect else { continue }
            if byPolicy[d] == nil { order.append(d); byPolicy[d] = ([], []) }
            if p.action == .allow { byPolicy[d]!.allow.append(p) } else { byPolicy[d]!.deny.append(p) }
        }
        let istio = AuthorizationStage(securityPolicy: nil, allowPolicies: allow.filter { !GatewayPrecedence.isSecurityPolicy($0.origin) },
                                       denyPolicies: deny.filter { !GatewayPrecedence.isSecurityPolicy($0.origin) })
        return [istio] + order.map { AuthorizationStage(securityPolicy: $0, allowPolicies: byPolicy[$0]!.allow, denyPolicies: byPolicy[$0]!.deny) }
    }
}
