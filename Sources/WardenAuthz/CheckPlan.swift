import WardenJWKS
import WardenPolicy
import WardenSync

/// Everything a check needs from one policy generation, compiled once when the policies are installed:
/// the server's own scope is compiled eagerly; scopes selected per route by `context_extensions` are
/// compiled on first use and kept (bounded). Every provider holds the key slot of its source, so a
/// check reads keys without looking the source up. Immutable apart from that scope cache; swapped whole
/// on reload, so a check finishes on the plan it started with.
public final class CheckPlan: Sendable {
    public let policies: PolicySet
    /// 1 at start, +1 per installed policy set.
    public let number: Int
    /// The server's own workload (`--namespace`, `--workload-labels`, `--target`).
    public let defaultScope: WorkloadScope
    /// The `metadata_context` namespaces the policies read (`PolicySet.filterMetadataNamespaces`): a front
    /// door converts only these for a check.
    public let metadataNamespaces: Set<String>
    let defaultPlan: ScopePlan
    /// The Envoy `jwt_authn` documents, compiled; every check passes each before the Istio resources.
    let jwtAuthn: [JwtAuthnPlan]
    private let options: AuthzOptions
    private let metrics: CheckMetrics
    /// Key slot per source named by any rule of `policies` (any scope: routes can select others).
    private let slots: [JWKSSource: KeySlot]
    private let otherScopes = Locked<[WorkloadScope: ScopePlan]>([:])

    init(policies: PolicySet, number: Int, defaultScope: WorkloadScope, options: AuthzOptions, keyStore: JWKSStore, metrics: CheckMetrics) {
        self.metrics = metrics
        self.policies = policies
        self.number = number
        self.defaultScope = defaultScope
        metadataNamespaces = policies.filterMetadataNamespaces
        self.options = options
        // Register every source with its fetch timeout: the `timeout` of the last rule naming the source
        // that sets one (rules sharing a `jwksUri` share one fetch), else nil = `--jwks-fetch-timeout`.
        // Every install registers again, so a reload that changes or drops a `timeout` takes effect.
        // `--jwks-file` sources are files: no timeout applies.
        let rules = policies.requestAuthentications.flatMap(\.jwtRules) + policies.jwtAuthnFilters.flatMap { $0.providers.map(\.rule) }
        var timeouts: [JWKSSource: Double] = [:]
        var durations: [JWKSSource: Double] = [:]
        var order: [JWKSSource] = []
        for rule in rules {
            let source = rule.keySource(options: options)
            if timeouts[source] == nil && !order.contains(source) { order.append(source) }
            if let timeout = rule.timeoutSeconds, source.isRemote { timeouts[source] = timeout }
            // An Envoy jwt_authn provider's `cache_duration`; the shortest wins when rules share a source.
            if let d = rule.cacheDurationSeconds, source.isRemote { durations[source] = min(durations[source] ?? d, d) }
        }
        var slots: [JWKSSource: KeySlot] = [:]
        for source in order { slots[source] = keyStore.register(source, fetchTimeout: timeouts[source], cacheDuration: durations[source]) }
        self.slots = slots
        defaultPlan = ScopePlan(effective: policies.effective(for: defaultScope), options: options, metrics: metrics) { slots[$0.keySource(options: options)]! }
        jwtAuthn = policies.jwtAuthnFilters.map { JwtAuthnPlan(filter: $0, options: options, metrics: metrics) { slots[$0.keySource(options: options)]! } }
    }

    /// Every key source the plan's rules name.
    public var sources: [JWKSSource] { Array(slots.keys) }

    /// The issuer of the first rule naming each source (metric and `/config_dump` labels).
    public var issuersBySource: [JWKSSource: String] {
        var map: [JWKSSource: String] = [:]
        let rules = policies.requestAuthentications.flatMap(\.jwtRules) + policies.jwtAuthnFilters.flatMap { $0.providers.map(\.rule) }
        for rule in rules where map[rule.keySource(options: options)] == nil {
            map[rule.keySource(options: options)] = rule.issuer
        }
        return map
    }

    /// The compiled policies for `scope` (the default scope without hashing it).
    func plan(for scope: WorkloadScope) -> ScopePlan {
        if scope == defaultScope { return defaultPlan }
        if let hit = otherScopes.withLock({ $0[scope] }) { return hit }
        let compiled = ScopePlan(effective: policies.effective(for: scope), options: options, metrics: metrics) { [slots, options] in
            slots[$0.keySource(options: options)]!
        }
        otherScopes.withLock { cache in
            if cache.count >= options.maxCachedScopes { cache.removeAll(keepingCapacity: true) }
            cache[scope] = compiled
        }
        return compiled
    }
}
