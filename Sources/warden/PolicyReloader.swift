import Foundation
import Synchronization
import WardenPolicy
import WardenSync

/// Reloads policies when their files change (polled fingerprint, which follows ConfigMap symlink swaps)
/// or on SIGHUP: a new set is parsed and validated in full before it is swapped in; a broken one is
/// rejected with its errors and the last good set keeps serving.
final class PolicyReloader: Sendable {
    private let source: PolicySource
    private let state: ServerState
    private let interval: Double
    private let lastFingerprint: Locked<PolicyFingerprint>
    private let running = Atomic<Bool>(false)
    private let reloadLock = Locked<Void>(())
    /// Wakes the polling thread on `stop()` (it sleeps on it between polls).
    private let wake = NSCondition()
    /// Signalled when the polling thread has returned: `stop()` waits for it, so the thread (which holds
    /// the server state, hence the installed plan) is gone before the process exits.
    private let finished = DispatchSemaphore(value: 0)

    init(source: PolicySource, state: ServerState, interval: Double) {
        self.source = source
        self.state = state
        self.interval = interval
        lastFingerprint = Locked(source.fingerprint())
    }

    func start() {
        guard interval > 0 else { return }
        running.store(true, ordering: .relaxed)
        let t = Thread { [self] in
            defer { finished.signal() }
            while running.load(ordering: .relaxed) {
                wake.lock()
                if running.load(ordering: .relaxed) { _ = wake.wait(until: Date(timeIntervalSinceNow: interval)) }
                wake.unlock()
                guard running.load(ordering: .relaxed) else { return }
                reloadNow(force: false)
            }
        }
        t.name = "warden-policy-reload"
        t.start()
    }

    /// Stops polling and waits for the polling thread (at most one reload in progress) to return.
    func stop() {
        guard running.exchange(false, ordering: .relaxed) else { return }
        wake.lock()
        wake.broadcast()
        wake.unlock()
        finished.wait()
    }

    /// Reloads if the files changed (or always with `force`).
    func reloadNow(force: Bool) {
        reloadLock.withLock { _ in
            let fp = source.fingerprint()
            let changed = lastFingerprint.withLock { $0 != fp }
            guard changed || force else { return }
            lastFingerprint.withLock { $0 = fp }
            do throws(PolicyLoadFailure) {
                let set = try ServeCommand.admissible(source.load(), scope: state.service.scope, options: state.options)
                state.install(set)
            } catch {
                state.reloadFailed(error)
            }
        }
    }
}
