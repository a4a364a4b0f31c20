import Foundation

/// Caching, refresh, retry and persistence settings of a `JWKSStore`. All durations are seconds.
public struct JWKSStoreConfiguration: Sendable {
    /// How long fetched keys are fresh (Istio's default: 20 minutes).
    public var cacheDuration: Double
    /// How long before expiry the background refresh starts; nil = 20% of `cacheDuration`
    /// (that is, refresh at 80% of the cache duration).
    public var refreshBefore: Double?
    /// Bound on one HTTP request (connect + transfer) of sources registered without their own
    /// timeout (`JWKSStore.register(_:fetchTimeout:)`). A discovery source makes two requests.
    public var fetchTimeout: Double
    /// How long after expiry last-good keys keep serving while refreshes fail; after that the
    /// source is unavailable (tokens for it fail with "JWKS unavailable").
    public var maxStaleness: Double
    /// First retry delay after a failed fetch; doubles per consecutive failure up to `retryBackoffMax`.
    public var retryBackoffBase: Double
    /// Upper bound of the retry delay.
    public var retryBackoffMax: Double
    /// Fraction of each retry delay that is randomized (0 = none, 0.5 = delay × [0.5, 1)).
    public var retryJitter: Double
    /// At most one unknown-`kid` refetch per source per this interval.
    public var unknownKidRefetchInterval: Double
    /// Lower bound on the time from a successful fetch to the scheduled refresh, so a zero or tiny
    /// `cacheDuration` cannot turn the refresher into a loop that hammers the IdP.
    public var minimumRefreshInterval: Double
    /// Directory where the last good JWKS of each remote source is persisted; nil = no persistence.
    public var cacheDirectory: String?
    /// CA bundle for HTTPS (PEM file); nil = libcurl's system default.
    public var caBundlePath: String?
    /// Largest JWKS or discovery document accepted.
    public var maxDocumentBytes: Int
    /// Callers that may wait for one source's keys at once (a cold source, an unknown-`kid` refetch);
    /// more are answered at once from the keys at hand, so a dead or slow issuer holds few checks.
    public var maxWaitersPerSource: Int
    /// Callers that may wait for keys at once, all sources together.
    public var maxWaiters: Int
    /// Receives one line per notable event (fetch failure, key change, persisted copy loaded).
    public var logger: @Sendable (String) -> Void

    public init(
        cacheDuration: Double = 1200,
        refreshBefore: Double? = nil,
        fetchTimeout: Double = 5,
        maxStaleness: Double = 24 * 3600,
        retryBackoffBase: Double = 1,
        retryBackoffMax: Double = 60,
        retryJitter: Double = 0.5,
        unknownKidRefetchInterval: Double = 30,
        minimumRefreshInterval: Double = 1,
        cacheDirectory: String? = nil,
        caBundlePath: String? = nil,
        maxDocumentBytes: Int = 1 << 20,
        maxWaitersPerSource: Int = 64,
        maxWaiters: Int = 256,
        logger: @escaping @Sendable (String) -> Void = JWKSStoreConfiguration.standardErrorLogger
    ) {
        self.cacheDuration = cacheDuration
        self.refreshBefore = refreshBefore
        self.fetchTimeout = fetchTimeout
        self.maxStaleness = maxStaleness
        self.retryBackoffBase = retryBackoffBase
        self.retryBackoffMax = retryBackoffMax
        self.retryJitter = retryJitter
        self.unknownKidRefetchInterval = unknownKidRefetchInterval
        self.minimumRefreshInterval = minimumRefreshInterval
        self.cacheDirectory = cacheDirectory
        self.caBundlePath = caBundlePath
        self.maxDocumentBytes = maxDocumentBytes
        self.maxWaitersPerSource = max(0, maxWaitersPerSource)
        self.maxWaiters = max(0, maxWaiters)
        self.logger = logger
    }

    /// Seconds after a successful fetch at which the background refresh runs (never sooner than
    /// `minimumRefreshInterval`).
    var refreshAfter: Double { refreshAfter(cacheDuration: nil) }

    /// `refreshAfter` for a source with its own cache duration (nil: `cacheDuration`).
    func refreshAfter(cacheDuration own: Double?) -> Double {
        let duration = own ?? cacheDuration
        let before = min(max(refreshBefore ?? duration * 0.2, 0), duration)
        return max(duration - before, minimumRefreshInterval)
    }

    /// The retry delay after `failures` consecutive failures (1-based), jitter drawn from `unit` in [0, 1).
    func backoff(failures: Int, unit: Double) -> Double {
        let exponent = Double(min(max(failures - 1, 0), 62))
        let delay = min(retryBackoffMax, retryBackoffBase * pow(2, exponent))
        let jitter = min(max(retryJitter, 0), 1)
        return delay * (1 - jitter * unit)
    }

    /// Writes `warden jwks: <line>` to standard error.
    public static let standardErrorLogger: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data("warden jwks: \(line)\n".utf8))
    }
}
