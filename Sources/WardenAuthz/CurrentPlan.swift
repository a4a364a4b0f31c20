import WardenSync

/// The plan new checks run on: one reference behind one uncontended lock, read once per check (about
/// 50 instructions of a ~99k cached check; callgrind). Installing swaps the reference; a check in
/// flight keeps the plan it loaded, and the old plan is freed when its last check finishes.
///
/// A thread-local snapshot (Envoy's model) saved those 50 instructions but kept superseded plans
/// alive in glibc's thread-specific data, which LeakSanitizer cannot see, so every sanitized run
/// reported them; not worth it.
final class CurrentPlan: Sendable {
    private let latest: Locked<CheckPlan>

    init(_ plan: CheckPlan) {
        latest = Locked(plan)
    }

    func load() -> CheckPlan { latest.withLock { $0 } }

    func store(_ plan: CheckPlan) {
        let old = latest.withLock { current -> CheckPlan in
            defer { current = plan }
            return current
        }
        _ = old  // released after the lock
    }
}
