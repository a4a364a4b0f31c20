import Synchronization
import WardenPolicy

/// One loaded policy set and the scopes compiled from it. Swapped as a whole on reload, so a check
/// finishes on the generation it started with.
public final class PolicyGeneration: Sendable {
    public let policies: PolicySet
    public let number: Int
    let options: AuthzOptions
    private let scopes = Mutex<[WorkloadScope: CompiledScope]>([:])

    init(policies: PolicySet, number: Int, options: AuthzOptions) {
        self.policies = policies
        self.number = number
        self.options = options
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
