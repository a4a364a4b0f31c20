import Synchronization

/// Process-wide counters rendered in the Prometheus text format by /metrics.
final class Metrics: Sendable {
    static let latencyBuckets: [Double] = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1, 5]

    private struct State {
        var checks: [CheckKey: Int] = [:]
        var latencyCounts = [Int](repeating: 0, count: Metrics.latencyBuckets.count)
        var latencySum = 0.0
        var latencyCount = 0
        var reloads: [String: Int] = ["ok": 0, "failed": 0]
        var invalidRequests = 0
    }

    private struct CheckKey: Hashable {
        let allowed: Bool
        let reason: String
    }

    private let state = Mutex(State())
    let inFlight = Atomic<Int>(0)

    func recordCheck(allowed: Bool, reason: String, seconds: Double) {
        state.withLock { s in
            s.checks[CheckKey(allowed: allowed, reason: reason), default: 0] += 1
            if let i = Metrics.latencyBuckets.firstIndex(where: { seconds <= $0 }) { s.latencyCounts[i] += 1 }
            s.latencySum += seconds
            s.latencyCount += 1
        }
    }

    func recordInvalidRequest() { state.withLock { $0.invalidRequests += 1 } }

    func recordReload(ok: Bool) { state.withLock { $0.reloads[ok ? "ok" : "failed", default: 0] += 1 } }

    /// The check-related families; the caller appends the others.
    func render(into out: inout String) {
        let s = state.withLock { $0 }
        out += "# HELP warden_checks_total Checks answered, by decision and reason.\n# TYPE warden_checks_total counter\n"
        // Sorted as before the key was a struct: "allowed" < "denied", then by reason.
        for (key, count) in s.checks.sorted(by: { ($0.key.allowed ? 0 : 1, $0.key.reason) < ($1.key.allowed ? 0 : 1, $1.key.reason) }) {
            out += "warden_checks_total{decision=\"\(key.allowed ? "allowed" : "denied")\",reason=\"\(Metrics.escape(key.reason))\"} \(count)\n"
        }
        out += "# HELP warden_invalid_requests_total Check calls rejected as malformed (INVALID_ARGUMENT).\n# TYPE warden_invalid_requests_total counter\n"
        out += "warden_invalid_requests_total \(s.invalidRequests)\n"
        out += "# HELP warden_check_duration_seconds Time from request decoded to answer sent.\n# TYPE warden_check_duration_seconds histogram\n"
        var cumulative = 0
        for (i, b) in Metrics.latencyBuckets.enumerated() {
            cumulative += s.latencyCounts[i]
            out += "warden_check_duration_seconds_bucket{le=\"\(b)\"} \(cumulative)\n"
        }
        out += "warden_check_duration_seconds_bucket{le=\"+Inf\"} \(s.latencyCount)\n"
        out += "warden_check_duration_seconds_sum \(s.latencySum)\nwarden_check_duration_seconds_count \(s.latencyCount)\n"
        out += "# HELP warden_inflight_checks Checks being decided now.\n# TYPE warden_inflight_checks gauge\n"
        out += "warden_inflight_checks \(inFlight.load(ordering: .relaxed))\n"
        out += "# HELP warden_policy_reloads_total Policy reloads by result.\n# TYPE warden_policy_reloads_total counter\n"
        for r in ["failed", "ok"] { out += "warden_policy_reloads_total{result=\"\(r)\"} \(s.reloads[r] ?? 0)\n" }
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }
}
