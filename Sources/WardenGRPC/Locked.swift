#if canImport(Glibc)
import Glibc
#endif

/// A value behind a pthread mutex. Used instead of `Synchronization.Mutex`, whose Linux futex path is
/// invisible to ThreadSanitizer (it reported races on state that mutex protected).
final class Locked<Value>: @unchecked Sendable {
    // @unchecked: `value` is only accessed with `mutex` held.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var value: Value

    init(_ value: Value) {
        self.value = value
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
