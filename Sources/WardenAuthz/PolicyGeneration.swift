import Synchronization
import WardenPolicy

/// One loaded policy set and the scopes compiled from it. Swapped as a whole on reload, so a check
/// finishes on the generation it started with.
public final class PolicyGeneration: Sendable {
    public let policies: PolicySet
    public let number: Int
    let options: AuthzOptions
    private let scopes = Mutex<[WorkloadScope: CompiledScope]>([:])
    /// The server's own workload (`--namespace`, `--workload-labels`) and its compiled policies once
    /// asked for: most checks carry no `context_extensions` and need no hashed scope lookup.
    private let defaultScope: WorkloadScope
    private let defaultSlot = Mutex<CompiledScope?>(nil)

    init(policies: PolicySet, number: Int, options: AuthzOptions, defaultScope: WorkloadScope) {
        self.policies = policies
        self.number = number
        self.options = options
        self.defaultScope = defaultScope
    }

    /// `compiled(for: defaultScope)`, without hashing the scope.
    var defaultCompiled: CompiledScope {
        if let hit = defaultSlot.withLock({ $0 }) { return hit }
        let compiled = compiled(for: defaultScope)
        defaultSlot.withLock { $0 = compiled }
        return compiled
    }

    /// The compiled policies for `scope`, cached (bounded: the cache is cleared when full).
    func compiled(for scope: WorkloadScope) -> CompiledScope {
        if let hit = scopes.withLock({ $0[scope] }) { return hit }
        let compiled = CompiledScope(effective: policies.effective(for: scope), options: options)
        scopes.withLock { cache in
            if cache.count >= options.maxCachedScopes { cache.removeAll(keepingCapacity: true) }
            cache[scope] = compiled
        }
        return compiled
    }
}
