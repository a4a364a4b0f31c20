import Synchronization

/// The Check path's counters: per reason code, a latency histogram, checks in flight, malformed
/// requests, reloads. Lock-free: each is an atomic, updated with relaxed increments (a scrape may see
/// one check in the count before its latency, never a torn value).
public final class CheckMetrics: Sendable {
    /// Histogram bucket bounds in seconds.
    public static let latencyBuckets: [Double] = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1, 5]
    private static let bucketNanos: [UInt64] = latencyBuckets.map { UInt64(($0 * 1e9).rounded()) }

    /// One atomic, in an array (`Atomic` cannot be copied into one itself).
    final class Counter: Sendable {
        let value = Atomic<Int>(0)
        func add(_ n: Int = 1) { value.add(n, ordering: .relaxed) }
        var load: Int { value.load(ordering: .relaxed) }
    }

    let byReason = ReasonCode.allCases.map { _ in Counter() }
    /// Per front door: allowed, denied.
    let byFrontDoor = FrontDoor.allCases.map { _ in (allowed: Counter(), denied: Counter()) }
    /// Per bucket (not cumulative); the last counts checks slower than every bound.
    let latency = (0...CheckMetrics.latencyBuckets.count).map { _ in Counter() }
    let latencyNanos = Counter()
    let inFlight = Counter()
    let invalidRequests = Counter()
    let reloadsOK = Counter()
    let reloadsFailed = Counter()
    let droppedHeaders = Counter()
    let shed = Counter()
    let cancelled = Counter()
    /// `warden_policy_decisions_total{namespace,name,action,result}` (`PolicyCounters`).
    public let policyDecisions = LabeledCounters(labels: PolicyCounters.labels)
    /// `warden_dry_run_decisions_total{resource,would}`: per dry-run token resource in scope, what each
    /// check would have been answered (`allow`, `deny_401`, `deny_403`, …).
    public let dryRunDecisions = LabeledCounters(labels: ["resource", "would"])

    public init() {}

    /// Counts one answered check.
    func record(_ record: DecisionRecord) {
        byReason[record.reasonCode.index].add()
        let door = byFrontDoor[record.frontDoor.index]
        (record.reasonCode.isAllowed ? door.allowed : door.denied).add()
        let nanos = record.decidedAt &- record.receivedAt
        var bucket = 0
        while bucket < Self.bucketNanos.count, nanos > Self.bucketNanos[bucket] { bucket += 1 }
        latency[bucket].add()
        latencyNanos.add(Int(truncatingIfNeeded: nanos))
        if !record.droppedHeaders.isEmpty { droppedHeaders.add(record.droppedHeaders.count) }
    }

    /// Counts a request a front door could not decode (answered INVALID_ARGUMENT / 400).
    public func recordInvalidRequest() { invalidRequests.add() }

    /// Counts a check not started because its deadline was too close (overload).
    public func recordShed() { shed.add() }

    /// Counts a call the caller cancelled before it was answered.
    public func recordCancelled() { cancelled.add() }

    /// Checks shed so far.
    public var checksShed: Int { shed.load }

    /// Counts a policy reload.
    public func recordReload(ok: Bool) { (ok ? reloadsOK : reloadsFailed).add() }

    /// Checks answered with `reason` so far.
    public func checks(_ reason: ReasonCode) -> Int { byReason[reason.index].load }

    /// Checks answered through `frontDoor` so far, allowed or denied.
    public func checks(through frontDoor: FrontDoor, allowed: Bool) -> Int {
        let door = byFrontDoor[frontDoor.index]
        return (allowed ? door.allowed : door.denied).load
    }

    /// Checks being decided now.
    public var checksInFlight: Int { inFlight.load }
}
