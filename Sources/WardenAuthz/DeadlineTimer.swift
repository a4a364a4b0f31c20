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

    private var pending = DueHeap()
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
        pending.push(due, action)
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
            if let due = pending.firstDue, due <= now {
                let action = pending.pop()
                pthread_mutex_unlock(mutex)
                action()
                pthread_mutex_lock(mutex)
                continue
            }
            if let due = pending.firstDue {
                // The wait is relative (due − now on DispatchTime's clock), added to CLOCK_MONOTONIC for the cond.
                var ts = timespec()
                clock_gettime(CLOCK_MONOTONIC, &ts)
                let wait = due - now
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

/// A binary min-heap of actions by due time: O(log n) to add and to take the next one, whatever order
/// deadlines arrive in.
struct DueHeap {
    private var items: [(due: UInt64, action: @Sendable () -> Void)] = []

    var firstDue: UInt64? { items.first?.due }
    var count: Int { items.count }

    mutating func push(_ due: UInt64, _ action: @escaping @Sendable () -> Void) {
        items.append((due, action))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].due < items[parent].due else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    /// The action due first; the heap must not be empty.
    mutating func pop() -> @Sendable () -> Void {
        let first = items[0].action
        let last = items.removeLast()
        guard !items.isEmpty else { return first }
        items[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < items.count, items[left].due < items[smallest].due { smallest = left }
            if right < items.count, items[right].due < items[smallest].due { smallest = right }
            guard smallest != parent else { return first }
            items.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
