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
            while running.load(ordering: .relaxed) {
                Thread.sleep(forTimeInterval: interval)
                guard running.load(ordering: .relaxed) else { return }
                reloadNow(force: false)
            }
        }
        t.name = "warden-policy-reload"
        t.start()
    }

    func stop() { running.store(false, ordering: .relaxed) }

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
