#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation

/// Runs actions at monotonic times on one dedicated thread, started on first use.
///
/// Not a `DispatchQueue.asyncAfter`: Dispatch's worker pool (about one thread per core) is shared with
/// everything else in the process that uses Dispatch, so a deadline action could queue behind busy
/// work; this thread waits on its own condition variable and is scheduled by the kernel alone. Actions
/// must be short (they complete a check).
final class DeadlineTimer: @unchecked Sendable {
    // @unchecked: `pending` and `started` are only touched with `mutex` held.
    static let shared = DeadlineTimer()

    private var pending: [(due: UInt64, action: @Sendable () -> Void)] = []  // sorted by due
    private var started = false
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    private init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(wake, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    /// Runs `action` at `due` (`DispatchTime.now().uptimeNanoseconds` scale), or at once if it has passed.
    func schedule(at due: UInt64, _ action: @escaping @Sendable () -> Void) {
        pthread_mutex_lock(mutex)
        let index = pending.firstIndex { $0.due > due } ?? pending.endIndex
        pending.insert((due, action), at: index)
        if !started {
            started = true
            let thread = Thread { [self] in run() }
            thread.name = "warden-deadlines"
            thread.start()
        }
        pthread_cond_signal(wake)
        pthread_mutex_unlock(mutex)
    }

    private func run() {
        pthread_mutex_lock(mutex)
        while true {
            let now = DispatchTime.now().uptimeNanoseconds
            if let first = pending.first, first.due <= now {
                pending.removeFirst()
                pthread_mutex_unlock(mutex)
                first.action()
                pthread_mutex_lock(mutex)
                continue
            }
            if let first = pending.first {
                // The wait is relative (due − now on DispatchTime's clock), added to CLOCK_MONOTONIC for the cond.
                var ts = timespec()
                clock_gettime(CLOCK_MONOTONIC, &ts)
                let wait = first.due - now
                var nanos = Int(ts.tv_nsec) + Int(wait % 1_000_000_000)
                var seconds = Int(ts.tv_sec) + Int(wait / 1_000_000_000)
                if nanos >= 1_000_000_000 { nanos -= 1_000_000_000; seconds += 1 }
                var until = timespec(tv_sec: seconds, tv_nsec: nanos)
                pthread_cond_timedwait(wake, mutex, &until)
            } else {
                pthread_cond_wait(wake, mutex)
            }
        }
    }
}
