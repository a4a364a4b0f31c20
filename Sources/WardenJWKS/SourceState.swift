import WardenJSON

/// Mutable per-source state; lives inside the store's mutex.
struct SourceState {
    struct Waiter {
        let id: UInt64
        let completion: @Sendable (KeySnapshot?) -> Void
    }

    let source: JWKSSource
    /// Bound on one request of this source, set by the latest registration; nil = the store's
    /// `configuration.fetchTimeout`.
    var fetchTimeout: Double?
    /// This source's own cache duration, set by the latest registration; nil = the configuration's.
    var cacheDuration: Double?
    /// Published into `slot` on every change, so plans holding the slot see it.
    var snapshot: KeySnapshot? { didSet { slot.publish(snapshot) } }
    /// The request path's reference to this source's keys.
    let slot: KeySlot
    /// The parsed document behind `snapshot`, to tell a changed key set from a refetch of the same one.
    var document: JSONValue?
    var etag: String?
    /// For `.discovery`: the `jwks_uri` found last.
    var jwksURI: String?
    var fromPersistedCache = false
    var inFlight = false
    var waiters: [Waiter] = []
    var nextAttempt: Double
    var consecutiveFailures = 0
    var lastError: JWKSError?
    var lastErrorAt: Double?
    var lastUnknownKidRefetch = -Double.infinity
    var fetches = SourceStatus.FetchCounts()
    var unknownKidRefetches = 0
    var unknownKidRateLimited = 0
    /// Callers told at once (keys at hand, or none) because the waiter caps were reached.
    var waitersRefused = 0

    init(source: JWKSSource, fetchTimeout: Double?, nextAttempt: Double, maxStaleness: Double) {
        self.source = source
        slot = KeySlot(source: source, maxStaleness: maxStaleness)
        self.fetchTimeout = fetchTimeout
        self.nextAttempt = nextAttempt
    }

    /// Whether the next fetch of a discovery source re-reads the discovery document.
    var rediscover: Bool { jwksURI == nil || consecutiveFailures > 0 }

    /// How many requests the next fetch makes (bounds how long a cold caller waits).
    var requestsPerFetch: Double {
        if case .discovery = source, rediscover { return 2 }
        return 1
    }
}

/// Everything the store's mutex guards.
struct StoreState {
    var sources: [JWKSSource: SourceState] = [:]
    var nextGeneration: UInt64 = 1
    var nextWaiterID: UInt64 = 1
    var running = false
    /// Waiters of every source together (bounded by `maxWaiters`).
    var waiting = 0

    mutating func takeGeneration() -> UInt64 {
        defer { nextGeneration += 1 }
        return nextGeneration
    }

    mutating func takeWaiterID() -> UInt64 {
        defer { nextWaiterID += 1 }
        return nextWaiterID
    }
}
