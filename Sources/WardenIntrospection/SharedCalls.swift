import Foundation
import WardenSync

/// Answers by key kept until they expire (at most `capacity`), and calls for keys not answered yet: one call
/// per key however many callers wait for it (at most 1024 each), at most `maxInFlight` calls at once, each on
/// its own thread (libcurl blocks; a check's thread never does). The introspection and token-exchange clients
/// are both this, with their own request and answer.
final class SharedCalls<Answer: Sendable, Outcome: Sendable>: Sendable {
    typealias Completion = @Sendable (Outcome) -> Void

    enum Step {
        /// A kept answer: no call.
        case cached(Answer)
        /// Nothing kept and the caller may not start a call (`cachedOnly`).
        case miss
        /// The caller's completion waits for a call already running for the key.
        case joined
        /// A call was started for the key; the caller's completion waits for it.
        case started
        /// Refused at once: too many calls, or too many callers of one.
        case busy
    }

    private struct State {
        var answers: [String: (answer: Answer, until: Double)] = [:]
        var order: [String] = []
        var inFlight: [String: [Completion]] = [:]
        var hits = 0, calls = 0, busy = 0
    }

    let capacity: Int
    let maxInFlight: Int
    private let threadName: String
    private let state = Locked(State())

    init(capacity: Int, maxInFlight: Int, threadName: String) {
        self.capacity = max(1, capacity)
        self.maxInFlight = max(1, maxInFlight)
        self.threadName = threadName
    }

    /// Kept answers handed out, calls started, callers refused.
    var counters: (hits: Int, calls: Int, busy: Int) { state.withLock { ($0.hits, $0.calls, $0.busy) } }

    /// Counts an answer a caller found in a memo of its own.
    func countHit() { state.withLock { $0.hits += 1 } }

    /// The kept answer for `key`, or `completion` registered for a call: joining one, or starting `call` (which
    /// returns the outcome for every waiter and what to keep, with until when) on its own thread.
    func answer(_ key: String, now: Double, cachedOnly: Bool, completion: @escaping Completion,
                call: @escaping @Sendable () -> (Outcome, keep: (Answer, until: Double)?)) -> Step {
        let step = state.withLock { s -> Step in
            if let kept = s.answers[key], kept.until > now {
                s.hits += 1
                return .cached(kept.answer)
            }
            if cachedOnly { return .miss }
            if var waiters = s.inFlight[key] {
                guard waiters.count < 1024 else { s.busy += 1; return .busy }
                waiters.append(completion)
                s.inFlight[key] = waiters
                return .joined
            }
            guard s.inFlight.count < maxInFlight else { s.busy += 1; return .busy }
            s.inFlight[key] = [completion]
            s.calls += 1
            return .started
        }
        if case .started = step {
            let thread = Thread { [self] in
                let (outcome, keep) = call()
                finish(key, outcome, keep: keep, now: now)
            }
            thread.name = threadName
            thread.start()
        }
        return step
    }

    private func finish(_ key: String, _ outcome: Outcome, keep: (Answer, until: Double)?, now: Double) {
        let waiters = state.withLock { s -> [Completion] in
            let waiters = s.inFlight.removeValue(forKey: key) ?? []
            if let (answer, until) = keep, until > now {
                if s.answers[key] == nil {
                    if s.answers.count >= capacity { evict(&s, now: now) }
                    s.order.append(key)
                }
                s.answers[key] = (answer, until)
            }
            return waiters
        }
        for w in waiters { w(outcome) }
    }

    /// Drops expired answers, then the older half if still full (amortized).
    private func evict(_ s: inout State, now: Double) {
        s.order.removeAll { key in
            guard let kept = s.answers[key], kept.until > now else { s.answers[key] = nil; return true }
            return false
        }
        if s.answers.count >= capacity {
            let drop = max(1, s.order.count / 2)
            for key in s.order[..<drop] { s.answers[key] = nil }
            s.order.removeFirst(drop)
        }
    }
}
