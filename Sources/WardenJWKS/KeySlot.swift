import WardenSync

/// The current keys of one registered source, held by reference: a compiled check plan keeps the slot
/// of each of its rules and reads it per check, instead of looking the source up in the store (which
/// hashes the source; for inline keys, JWKS text).
///
/// The store publishes into the slot whenever the source's keys change or are revalidated, and empties
/// it when the source is unregistered (a check then asks the store, as before the slot existed).
public final class KeySlot: Sendable {
    public let source: JWKSSource
    private let maxStaleness: Double
    private let current = Locked<KeySnapshot?>(nil)

    init(source: JWKSSource, maxStaleness: Double) {
        self.source = source
        self.maxStaleness = maxStaleness
    }

    /// The keys to verify with at `now`, or nil (not fetched yet, or stale beyond `maxStaleness`):
    /// the same answer as `JWKSStore.snapshot(for:)`.
    public func snapshot(now: Double) -> KeySnapshot? {
        guard let s = current.withLock({ $0 }) else { return nil }
        if s.expiresAt == .infinity || now <= s.expiresAt + maxStaleness { return s }
        return nil
    }

    func publish(_ snapshot: KeySnapshot?) {
        current.withLock { $0 = snapshot }
    }
}
