/// What the store knows about one source, for `/config_dump`, metrics and logs. Holds no key material.
public struct SourceStatus: Sendable {
    /// Fetch attempts by result.
    public struct FetchCounts: Sendable, Equatable {
        public var succeeded = 0
        public var failed = 0
        public var notModified = 0

        public init(succeeded: Int = 0, failed: Int = 0, notModified: Int = 0) {
            self.succeeded = succeeded
            self.failed = failed
            self.notModified = notModified
        }
    }

    public let source: JWKSSource
    /// The JWKS URI (given, or found by discovery), or the file path; nil for inline keys and
    /// for a discovery source that has not discovered yet.
    public let uri: String?
    /// The bound on each request of a remote or discovery source (its registered timeout, else the
    /// store's `fetchTimeout`), seconds; nil for inline and file sources.
    public let fetchTimeout: Double?
    /// Key ids being served (sorted); keys without `kid` count only in `keyCount`.
    public let kids: [String]
    public let keyCount: Int
    /// Why keys of the current document were skipped.
    public let skipped: [String]
    /// Generation of the served keys.
    public let generation: UInt64?
    /// When the served keys were last confirmed by the source.
    public let fetchedAt: Double?
    /// When they stop being fresh.
    public let expiresAt: Double?
    /// When they stop being served if refreshes keep failing (`expiresAt + maxStaleness`).
    public let servableUntil: Double?
    /// Keys are being served right now (fresh, or stale within `maxStaleness`).
    public let available: Bool
    /// The served keys come from the persisted cache, not yet confirmed by a fetch since start.
    public let fromPersistedCache: Bool
    public let fetchInFlight: Bool
    /// The most recent failure (kept after recovery; `consecutiveFailures` says whether it is current).
    public let lastError: JWKSError?
    public let lastErrorAt: Double?
    public let consecutiveFailures: Int
    /// When the next scheduled fetch runs (refresh or retry); nil for inline keys.
    public let nextAttemptAt: Double?
    public let fetches: FetchCounts
    /// Unknown-`kid` refetches started, and those refused by the rate limit.
    public let unknownKidRefetches: Int
    public let unknownKidRateLimited: Int
    /// Callers waiting for this source's keys now, and those answered at once because the waiter
    /// caps (`maxWaitersPerSource`, `maxWaiters`) were reached.
    public let waiting: Int
    public let waitersRefused: Int
}
