import Foundation

/// A value guarded by a pthread mutex (through NSLock).
///
/// Not `Synchronization.Mutex`: on Linux that one is built on raw futexes, which ThreadSanitizer does
/// not see, so every access under it is reported as a race and `swift test --sanitize=thread` becomes
/// useless. An uncontended pthread mutex costs tens of nanoseconds, which the request path can afford.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()

    init(_ value: Value) { self.value = value }

    func withLock<Result>(_ body: (inout Value) -> Result) -> Result {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
