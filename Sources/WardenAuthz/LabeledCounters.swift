import WardenSync

/// Counters of one metric family keyed by their label values, created on first use and kept for the
/// process's life (a policy reload does not reset them, as Prometheus expects of a counter). A check
/// holds the `CheckMetrics.Counter` it increments (looked up when its scope is compiled), so counting
/// is one relaxed atomic add; the lock is taken only to create a counter and to render.
public final class LabeledCounters: Sendable {
    /// The label names, in order.
    public let labels: [String]
    private let counters = Locked<[[String]: CheckMetrics.Counter]>([:])

    init(labels: [String]) {
        self.labels = labels
    }

    /// The counter for `values` (one per label), created at zero if new.
    func counter(_ values: [String]) -> CheckMetrics.Counter {
        counters.withLock { all in
            if let c = all[values] { return c }
            let c = CheckMetrics.Counter()
            all[values] = c
            return c
        }
    }

    /// The value for `values`, 0 if never counted.
    public func value(_ values: [String]) -> Int { counters.withLock { $0[values]?.load ?? 0 } }

    /// Every counter that counted at least once, sorted by label values.
    public var samples: [(values: [String], count: Int)] {
        counters.withLock { all in all.map { ($0.key, $0.value.load) } }
            .filter { $0.count > 0 }
            .sorted { $0.values.lexicographicallyPrecedes($1.values) }
    }
}
