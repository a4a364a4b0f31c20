import Foundation

/// A value behind an NSLock (visible to ThreadSanitizer, unlike `Synchronization.Mutex` on Linux).
final class Locked<Value>: @unchecked Sendable {
    // @unchecked: `value` is only accessed with `lock` held.
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
