#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import WardenSync

/// The plan new checks run on, read with one atomic load per check (Envoy's model: thread-local
/// snapshots of the configuration). Each thread keeps the last plan it used; a check compares that
/// plan's number with the current one and takes the lock only on the first check after a reload.
/// Installing is a locked store plus an atomic increment; a check in flight keeps its own plan.
final class CurrentPlan: Sendable {
    private let number: Atomic<Int>
    private let latest: Locked<CheckPlan>
    /// Unique per instance for the process's life (an address could be reused by a later instance).
    private let id = CurrentPlan.ids.wrappingAdd(1, ordering: .relaxed).newValue
    private static let ids = Atomic<UInt64>(0)

    init(_ plan: CheckPlan) {
        number = Atomic(plan.number)
        latest = Locked(plan)
    }

    func load() -> CheckPlan {
        let n = number.load(ordering: .acquiring)
        let local = ThreadPlans.current
        if let plan = local.plan(for: id), plan.number == n { return plan }
        let plan = latest.withLock { $0 }
        local.store(plan, for: id)
        return plan
    }

    func store(_ plan: CheckPlan) {
        latest.withLock { $0 = plan }
        number.store(plan.number, ordering: .releasing)
    }
}

/// One thread's last-used plans, for the few `CurrentPlan`s a process has (a server has one; tests
/// make more): at most `capacity`, the oldest replaced. Owned by its thread, freed when it exits.
private final class ThreadPlans {
    static let capacity = 4
    private var entries: [(id: UInt64, plan: CheckPlan)] = []

    func plan(for id: UInt64) -> CheckPlan? {
        for e in entries where e.id == id { return e.plan }
        return nil
    }

    func store(_ plan: CheckPlan, for id: UInt64) {
        if let i = entries.firstIndex(where: { $0.id == id }) {
            entries[i].plan = plan
        } else {
            if entries.count >= Self.capacity { entries.removeFirst() }
            entries.append((id, plan))
        }
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let rc = pthread_key_create(&key) { raw in
            if let raw { Unmanaged<ThreadPlans>.fromOpaque(raw).release() }
        }
        precondition(rc == 0, "pthread_key_create failed: \(rc)")
        return key
    }()

    /// The calling thread's table, created on its first check.
    static var current: ThreadPlans {
        if let raw = pthread_getspecific(key) { return Unmanaged<ThreadPlans>.fromOpaque(raw).takeUnretainedValue() }
        let table = ThreadPlans()
        pthread_setspecific(key, Unmanaged.passRetained(table).toOpaque())
        return table
    }
}
