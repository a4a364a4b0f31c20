#if canImport(Glibc)
import Glibc
#endif

/// A value behind a pthread mutex: the one lock type of the project.
///
/// Not `Synchronization.Mutex`: on Linux that one is built on raw futexes, which ThreadSanitizer does
/// not see, so every access under it is reported as a race and `make test-sanitize` becomes useless.
/// An uncontended pthread mutex costs about 20 ns (two atomic instructions), which the Check path affords.
public final class Locked<Value>: @unchecked Sendable {
    // @unchecked: `value` is only accessed with `mutex` held.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var value: Value

    public init(_ value: Value) {
        self.value = value
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Runs `body` with the lock held; keep it short and free of I/O.
    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
