import Synchronization
import WardenIntrospection
import WardenJSON
import WardenJWKS
import WardenPolicy

/// The policies that apply to one workload scope, compiled for checks: the effective policies, the
/// token extractor, one provider per issuer with a direct reference to its key slot, and the headers
/// whose client copies are always removed. Immutable; part of one `CheckPlan`.
final class ScopePlan: Sendable {
    let effective: EffectivePolicy
    let extractor: TokenExtractor
    /// Provider per issuer (compared byte for byte, as Envoy's `findByIssuer`); the first rule naming an
    /// issuer wins.
    let providers: [ExactKey: JWTProvider]
    /// The rules without issuer, in rule order: they take a token whose `iss` no rule names (Envoy's
    /// `findByIssuer` falls back to the first provider without issuer), at their own locations.
    let anyIssuer: [JWTProvider]
    /// Some rule has `presence: REQUIRED`: a request with no token at all is rejected (`JWTError.missing`).
    let requiredBy: JWTProvider?
    /// One provider per rule, in rule order (Envoy's providers, which istiod makes one per rule).
    let rules: [JWTProvider]
    /// Token exchange rules with their endpoints (client secrets read at plan build), in order.
    let exchanges: [(rule: ExchangeRule, endpoint: IntrospectionEndpoint)]
    /// Providers whose issuer introspects opaque tokens (RFC 7662), in rule order.
    let introspecting: [JWTProvider]
    /// Every header any applicable rule outputs, to strip client-supplied copies.
    let outputHeaders: [String]
    /// The provider that introspects an opaque token found at `location`: the first rule in order that
    /// reads that location and whose issuer has an introspection endpoint.
    func introspector(at location: TokenLocation) -> JWTProvider? {
        introspecting.first { $0.reads(location) }
    }

    /// An exchange rule for an allowed request, the index of its subject token and its place in `exchanges`;
    /// `undecided` names the unreported connection facts its `to` would need (then the check is refused).
    typealias ExchangeChoice = (rule: ExchangeRule, endpoint: IntrospectionEndpoint, token: Int, index: Int, undecided: [ConnectionFact])

    /// The first exchange rule that applies to an allowed request: its issuer's verified token (the first
    /// such token) and its `to` matching the request. A rule whose `to` can match only on a connection fact
    /// the front door did not report (`to.ports` at the HTTP front door) is returned with `undecided` set:
    /// whether it or a later rule applies is unknown, and skipping it would send the request on unexchanged.
    func exchange(for tokens: [TokenTrace], request: RequestAttributes) -> ExchangeChoice? {
        for (i, x) in exchanges.enumerated() {
            guard let index = tokens.firstIndex(where: { $0.verified?.issuer?.bytesEqual(x.rule.issuer) == true }) else { continue }
            switch AuthorizationEvaluator.match(x.rule.to, request: request, effective: effective) {
            case .matches: return (x.rule, x.endpoint, index, i, [])
            case .undecided(let facts): return (x.rule, x.endpoint, index, i, facts.sorted())
            case .noMatch: continue
            }
        }
        return nil
    }

    /// The provider for a token of `issuer` found at `location`: the rule naming that issuer if the
    /// location is one of the locations declared for it, else the first rule without issuer that reads
    /// this location (Envoy's `JwtIssuerChecker` allows every issuer at a location such a rule names).
    func provider(for issuer: String, at location: TokenLocation) -> JWTProvider? {
        if let p = providers[ExactKey(issuer)], extractor.accepts(issuer, at: location) { return p }
        return anyIssuer.first { $0.rule.tokenLocations.contains(location) || (location == .dpopAuthorization && $0.rule.tokenLocations.contains(.bearerAuthorization)) }
    }

    /// Unique for the process's life (answer keys name the compiled scope by it).
    let serial = Serials.next()
    /// `warden_policy_decisions_total` counters of this scope's AuthorizationPolicies.
    let policyCounters: PolicyCounters
    /// The scope with its `istio.io/dry-run` RequestAuthentications and TokenPolicies enforced
    /// (`EffectivePolicy.enforcingDryRun`): every check here is also run on it, never waiting for keys, to
    /// tell what Warden would have answered. nil when no dry-run token resource applies.
    let dryRun: ScopePlan?
    /// `Kind/namespace/name` of each dry-run token resource (the `resource` label).
    let dryRunResources: [String]
    /// `ns/name rule[i]` of every rule of the enforced DENY and ALLOW policies, formatted once here: the log
    /// line and the span name the deciding rule per check (interpolating it cost ~2.3k instructions, callgrind).
    private let ruleLabels: [(ref: PolicyRef, labels: [String])]

    init(effective: EffectivePolicy, options: AuthzOptions, metrics: CheckMetrics, slots: (JWTRule) -> KeySlot) {
        self.effective = effective
        policyCounters = PolicyCounters(effective, registry: metrics.policyDecisions)
        dryRun = effective.enforcingDryRun().map { ScopePlan(effective: $0, options: options, metrics: metrics, slots: slots) }
        dryRunResources = effective.dryRunResources
        ruleLabels = (effective.denyPolicies + effective.allowPolicies).map { p in
            (p.ref, p.rules.indices.map { "\(p.ref) rule[\($0)]" })
        }
        let all = effective.jwtRules.map {
            JWTProvider(rule: $0, options: options, slot: slots($0), tokenRules: effective.tokenRulesByIssuer[ExactKey($0.issuer)] ?? [])
        }
        var providers: [ExactKey: JWTProvider] = [:]
        for p in all where !p.rule.issuer.isEmpty && providers[ExactKey(p.rule.issuer)] == nil { providers[ExactKey(p.rule.issuer)] = p }
        self.providers = providers
        anyIssuer = all.filter { $0.rule.issuer.isEmpty }
        requiredBy = all.first { $0.rule.presence == .required }
        rules = all
        introspecting = all.filter { $0.introspection != nil }
        exchanges = effective.exchanges.map { ($0, IntrospectionEndpoint(exchange: $0)) }
        extractor = TokenExtractor(rules: all.map { (issuer: $0.rule.issuer, locations: $0.locations) })
        var seen = Set<String>()
        outputHeaders = all.flatMap(\.outputHeaders).filter { seen.insert($0).inserted }
    }
}

extension ScopePlan {
    /// `ns/name rule[i]` of a matched enforced rule.
    func label(for m: PolicyMatch) -> String {
        for entry in ruleLabels where entry.ref == m.policy && entry.labels.indices.contains(m.ruleIndex) {
            return entry.labels[m.ruleIndex]
        }
        return "\(m.policy) rule[\(m.ruleIndex)]"
    }
}

/// Process-wide serial numbers: never reused, unlike object addresses.
enum Serials {
    private static let counter = Atomic<UInt64>(0)
    static func next() -> UInt64 { counter.wrappingAdd(1, ordering: .relaxed).newValue }
}
