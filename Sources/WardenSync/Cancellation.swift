/// Tells work that waits on someone's behalf that they no longer wait (a gRPC client cancelled its call).
///
/// Whoever parks work registers what releases it with `onCancel`; the front door calls `cancel()` when
/// the caller has gone. Each action runs once, on the thread that cancels (or at once, on the registering
/// thread, if the cancellation came first), never under the lock, latest registration first (like `defer`:
/// what was acquired last — a place in a queue — is released before whoever waits on it is told). Actions
/// must be short.
public final class Cancellation: Sendable {
    private enum State {
        case live([@Sendable () -> Void])
        case cancelled
    }

    private let state = Locked(State.live([]))

    public init() {}

    /// Runs every registered action once; later registrations run at once. Idempotent.
    public func cancel() {
        let actions = state.withLock { state -> [@Sendable () -> Void] in
            guard case .live(let actions) = state else { return [] }
            state = .cancelled
            return actions
        }
        for action in actions.reversed() { action() }
    }

    /// Whether `cancel()` has been called.
    public var isCancelled: Bool {
        state.withLock { if case .cancelled = $0 { true } else { false } }
    }

    /// Registers `action` to run on `cancel()`; runs it now if that already happened.
    public func onCancel(_ action: @escaping @Sendable () -> Void) {
        let already = state.withLock { state -> Bool in
            guard case .live(var actions) = state else { return true }
            state = .live([])  // drop the array's reference before appending, so it is not copied
            actions.append(action)
            state = .live(actions)
            return false
        }
        if already { action() }
    }
}
