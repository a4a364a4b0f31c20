import Dispatch
import Foundation
import WardenJWT
import WardenSync

/// Keeps the signing keys of every configured issuer available: fetched in the background before
/// they expire, last-good keys served through IdP outages (up to `maxStaleness`) and restarts
/// (`cacheDirectory`), unknown `kid`s answered by one rate-limited, single-flight refetch.
///
/// The request path calls `snapshot(for:)` (non-blocking) and, when a token's `kid` is missing,
/// `refetchForUnknownKid`. At most one fetch per source is in flight; concurrent callers coalesce.
/// Completions run on the store's worker threads, or on the caller's thread before the call returns
/// when the answer is already known (keys present, rate-limited, unknown source); never under a lock.
public final class JWKSStore: Sendable {
    public let configuration: JWKSStoreConfiguration
    let fetcher: any JWKSFetcher
    let clock: @Sendable () -> Double
    let persistence: JWKSPersistence?
    let state = Locked(StoreState())
    /// Runs waiter timeouts. Fetches do not run on Dispatch: they block in libcurl, and Dispatch's
    /// concurrent pool has one thread per core, so a slow IdP would stall other sources and timers.
    let timers = DispatchQueue(label: "warden.jwks.timers")
    /// Wakes the refresher early (registration, a finished fetch, stop).
    let wakeup = DispatchSemaphore(value: 0)
    let refresherExited = DispatchSemaphore(value: 0)

    /// - Parameters:
    ///   - fetcher: performs the GETs; nil = `CurlFetcher(caBundlePath: configuration.caBundlePath)`.
    ///   - clock: seconds since the epoch; injected so tests can age keys without waiting.
    public init(
        configuration: JWKSStoreConfiguration = JWKSStoreConfiguration(),
        fetcher: (any JWKSFetcher)? = nil,
        clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) {
        self.configuration = configuration
        self.fetcher = fetcher ?? CurlFetcher(caBundlePath: configuration.caBundlePath)
        self.clock = clock
        self.persistence = configuration.cacheDirectory.map {
            JWKSPersistence(directory: $0, maxBytes: configuration.maxDocumentBytes * 2 + 65536)
        }
    }

    // MARK: Sources

    /// Adds a source, or updates the fetch timeout of one already registered. Inline and file sources
    /// are parsed before this returns (a failure is recorded in `status()`). Remote and discovery
    /// sources get their persisted copy (if any) at once and their first fetch as soon as the
    /// refresher runs (`start()`) or a caller asks for keys.
    ///
    /// - Parameter fetchTimeout: bound in seconds on each request of this source (the JWKS GET and,
    ///   for discovery, the discovery GET) and so on how long a cold caller waits; nil = the
    ///   configuration's `fetchTimeout`. The latest registration decides: registering the source
    ///   again with another value (or nil) replaces it from the next fetch on, so a policy reload
    ///   can change or remove a rule's `timeout`. Values that are not finite and positive count as nil.
    /// - Parameter cacheDuration: this source's own cache duration in seconds (an Envoy jwt_authn provider's
    ///   `remote_jwks.cache_duration`): the background refresh runs as for the configuration's
    ///   `cacheDuration`, but from this one; nil = the configuration's. The latest registration decides.
    /// - Returns: the source's slot, which the request path reads its keys from.
    @discardableResult
    public func register(_ source: JWKSSource, fetchTimeout: Double? = nil, cacheDuration: Double? = nil) -> KeySlot {
        let now = clock()
        let timeout = fetchTimeout.flatMap { $0.isFinite && $0 > 0 ? $0 : nil }
        let duration = cacheDuration.flatMap { $0.isFinite && $0 > 0 ? $0 : nil }
        let (inserted, slot) = state.withLock { st -> (Bool, KeySlot) in
            if let existing = st.sources[source] {
                st.sources[source]!.fetchTimeout = timeout
                st.sources[source]!.cacheDuration = duration
                return (false, existing.slot)
            }
            var s = SourceState(source: source, fetchTimeout: timeout, nextAttempt: now, maxStaleness: configuration.maxStaleness)
            s.cacheDuration = duration
            s.inFlight = !source.isRemote  // loaded right here, below
            st.sources[source] = s
            return (true, s.slot)
        }
        guard inserted else { return slot }
        if source.isRemote {
            loadPersisted(source, now: now)
            wakeup.signal()
        } else {
            runFetch(source)
        }
        return slot
    }

    /// Forgets a source. Waiters on it complete with nil; an in-flight fetch is discarded.
    public func unregister(_ source: JWKSSource) {
        let waiters = state.withLock { st -> [SourceState.Waiter] in
            guard let removed = st.sources.removeValue(forKey: source) else { return [] }
            removed.slot.publish(nil)  // plans holding the slot ask the store, which no longer knows the source
            st.waiting -= removed.waiters.count
            return removed.waiters
        }
        for waiter in waiters { waiter.completion(nil) }
    }

    /// Every registered source.
    public var sources: [JWKSSource] {
        state.withLock { Array($0.sources.keys) }
    }

    // MARK: Background refresh

    /// Starts the refresher thread, which runs first fetches, refreshes ahead of expiry and retries.
    public func start() {
        let begin = state.withLock { st -> Bool in
            defer { st.running = true }
            return !st.running
        }
        guard begin else { return }
        let thread = Thread { [self] in refresherLoop() }
        thread.name = "warden-jwks-refresher"
        thread.start()
    }

    /// Stops the refresher and waits for its thread to exit. Fetches already running finish on their own
    /// (bounded by their fetch timeout) and still complete their waiters.
    public func stop() {
        let wasRunning = state.withLock { st -> Bool in
            defer { st.running = false }
            return st.running
        }
        guard wasRunning else { return }
        wakeup.signal()
        refresherExited.wait()
    }

    private func refresherLoop() {
        while true {
            let now = clock()
            let (due, sleep) = state.withLock { st -> ([JWKSSource]?, Double) in
                guard st.running else { return (nil, 0) }
                var due: [JWKSSource] = []
                var next = now + 1  // re-check at least every second (the clock is injectable)
                for key in st.sources.keys {
                    guard let s = st.sources[key], key.isRemote || isFile(key), !s.inFlight else { continue }
                    if s.nextAttempt <= now {
                        st.sources[key]!.inFlight = true
                        due.append(key)
                    } else {
                        next = min(next, s.nextAttempt)
                    }
                }
                return (due, max(0.001, next - now))
            }
            guard let due else { break }
            for source in due { launchFetch(source) }
            _ = wakeup.wait(timeout: .now() + sleep)
        }
        refresherExited.signal()
    }

    // MARK: Request path

    /// The keys to verify with right now, or nil (source unknown, not fetched yet, or stale beyond
    /// `maxStaleness`). Never waits on a fetch: one short critical section.
    public func snapshot(for source: JWKSSource) -> KeySnapshot? {
        let now = clock()
        return state.withLock { st in st.sources[source].flatMap { servable($0, now: now) } }
    }

    /// Calls `completion` with the source's keys: at once when they exist; when cold, after the
    /// first fetch (joining one in flight, or starting it unless a retry backoff is pending),
    /// with nil if that fails or takes longer than the source's fetch timeout per request. Never blocks the caller.
    ///
    /// Waiting is capped (`maxWaitersPerSource`, `maxWaiters`): a caller beyond the caps completes at once
    /// with what is served (nil when cold), and the fetch still starts. When `cancellation` fires, the
    /// caller stops waiting (it completes at once with what is served) and frees its place.
    public func keys(for source: JWKSSource, cancellation: Cancellation? = nil,
                     completion: @escaping @Sendable (KeySnapshot?) -> Void) {
        let now = clock()
        let action = state.withLock { st -> Action in
            guard var s = st.sources[source] else { return .complete(nil) }
            if let snapshot = servable(s, now: now) { return .complete(snapshot) }
            let action: Action
            if s.inFlight {
                action = addWaiter(&s, &st, completion, start: false, now: now)
            } else if (source.isRemote || isFile(source)) && s.nextAttempt <= now {
                s.inFlight = true
                action = addWaiter(&s, &st, completion, start: true, now: now)
            } else {
                return .complete(nil)
            }
            st.sources[source] = s
            return action
        }
        perform(action, source: source, cancellation: cancellation, completion: completion)
    }

    /// Refetches because a token names a `kid` the served keys lack. Single-flight and rate-limited:
    /// at most one such refetch per source per `unknownKidRefetchInterval`; callers arriving while a
    /// fetch is in flight wait for it (within the waiter caps, as in `keys(for:)`), callers refused by
    /// the limit or the caps complete at once with the current keys. Completes at once too when the
    /// current keys already contain `kid`.
    public func refetchForUnknownKid(_ source: JWKSSource, kid: String?, cancellation: Cancellation? = nil,
                                     completion: @escaping @Sendable (KeySnapshot?) -> Void) {
        let now = clock()
        let action = state.withLock { st -> Action in
            guard var s = st.sources[source] else { return .complete(nil) }
            let current = servable(s, now: now)
            if let kid, let current, current.keys.kids.contains(kid) { return .complete(current) }
            guard source.isRemote || isFile(source) else { return .complete(current) }
            let action: Action
            if s.inFlight {
                action = addWaiter(&s, &st, completion, start: false, now: now)
            } else if now - s.lastUnknownKidRefetch < configuration.unknownKidRefetchInterval {
                s.unknownKidRateLimited += 1
                action = .complete(current)
            } else {
                s.lastUnknownKidRefetch = now
                s.unknownKidRefetches += 1
                s.inFlight = true
                action = addWaiter(&s, &st, completion, start: true, now: now)
            }
            st.sources[source] = s
            return action
        }
        perform(action, source: source, cancellation: cancellation, completion: completion)
    }

    // MARK: Readiness and status

    /// Ready = every registered source serves keys now (fetched, read, or loaded from the persisted
    /// cache and not stale beyond `maxStaleness`). True when no source is registered.
    public var isReady: Bool {
        let now = clock()
        return state.withLock { st in st.sources.values.allSatisfy { servable($0, now: now) != nil } }
    }

    /// Waits up to `timeout` seconds (real time) for `isReady`; returns whether it became ready.
    /// Needs `start()` (or callers asking for keys) for remote sources to be fetched.
    public func waitUntilReady(timeout: Double) -> Bool {
        let deadline = DispatchTime.now() + max(0, timeout)
        while true {
            if isReady { return true }
            if DispatchTime.now() >= deadline { return false }
            usleep(5_000)
        }
    }

    /// One entry per source, sorted by source description.
    public func status() -> [SourceStatus] {
        let now = clock()
        let states = state.withLock { st in Array(st.sources.values) }
        return states.map { status(of: $0, now: now) }.sorted { $0.source.description < $1.source.description }
    }

    /// The status of one source, or nil when it is not registered.
    public func status(for source: JWKSSource) -> SourceStatus? {
        let now = clock()
        return state.withLock { st in st.sources[source] }.map { status(of: $0, now: now) }
    }

    // MARK: Internals shared with JWKSStore+Fetch

    enum Action {
        case complete(KeySnapshot?)
        case wait(id: UInt64, bound: Double)
        case startAndWait(id: UInt64, bound: Double)
        /// Over the waiter caps while a fetch should start: complete now, fetch anyway.
        case startAndComplete(KeySnapshot?)
    }

    private func addWaiter(_ s: inout SourceState, _ st: inout StoreState,
                           _ completion: @escaping @Sendable (KeySnapshot?) -> Void, start: Bool, now: Double) -> Action {
        guard s.waiters.count < configuration.maxWaitersPerSource, st.waiting < configuration.maxWaiters else {
            s.waitersRefused += 1
            let current = servable(s, now: now)
            return start ? .startAndComplete(current) : .complete(current)
        }
        let id = st.takeWaiterID()
        s.waiters.append(SourceState.Waiter(id: id, completion: completion))
        st.waiting += 1
        let bound = fetchTimeout(of: s) * s.requestsPerFetch + 0.25
        return start ? .startAndWait(id: id, bound: bound) : .wait(id: id, bound: bound)
    }

    private func perform(_ action: Action, source: JWKSSource, cancellation: Cancellation?,
                         completion: @Sendable (KeySnapshot?) -> Void) {
        switch action {
        case .complete(let snapshot):
            completion(snapshot)
        case .startAndComplete(let snapshot):
            launchFetch(source)
            completion(snapshot)
        case .wait(let id, let bound):
            expireWaiter(id, of: source, after: bound)
            cancellation?.onCancel { [self] in releaseWaiter(id, of: source) }
        case .startAndWait(let id, let bound):
            expireWaiter(id, of: source, after: bound)
            cancellation?.onCancel { [self] in releaseWaiter(id, of: source) }
            launchFetch(source)
        }
    }

    /// Runs one fetch on its own thread (at most one per source is in flight, so threads stay few).
    private func launchFetch(_ source: JWKSSource) {
        let thread = Thread { [self] in runFetch(source) }
        thread.name = "warden-jwks-fetch"
        thread.start()
    }

    /// Completes waiter `id` with whatever is served if its fetch has not finished within `bound` seconds.
    private func expireWaiter(_ id: UInt64, of source: JWKSSource, after bound: Double) {
        timers.asyncAfter(deadline: .now() + bound) { self.releaseWaiter(id, of: source) }
    }

    /// Takes waiter `id` off its source (if it still waits) and completes it with whatever is served.
    private func releaseWaiter(_ id: UInt64, of source: JWKSSource) {
        let now = clock()
        let (waiter, snapshot) = state.withLock { st -> (SourceState.Waiter?, KeySnapshot?) in
            guard var s = st.sources[source], let index = s.waiters.firstIndex(where: { $0.id == id }) else {
                return (nil, nil)
            }
            let waiter = s.waiters.remove(at: index)
            st.waiting -= 1
            st.sources[source] = s
            return (waiter, servable(s, now: now))
        }
        waiter?.completion(snapshot)
    }

    /// The snapshot to serve at `now`: inline keys always, others until `expiresAt + maxStaleness`.
    func servable(_ s: SourceState, now: Double) -> KeySnapshot? {
        guard let snapshot = s.snapshot else { return nil }
        if snapshot.expiresAt == .infinity { return snapshot }
        return now <= snapshot.expiresAt + configuration.maxStaleness ? snapshot : nil
    }

    /// The bound on one request of the source: its registered timeout, else the configuration's.
    func fetchTimeout(of s: SourceState) -> Double {
        s.fetchTimeout ?? configuration.fetchTimeout
    }

    func isFile(_ source: JWKSSource) -> Bool {
        if case .file = source { return true }
        return false
    }

    private func status(of s: SourceState, now: Double) -> SourceStatus {
        let uri: String?
        switch s.source {
        case .remote(let u): uri = u
        case .discovery: uri = s.jwksURI
        case .file(let path): uri = path
        case .inline: uri = nil
        }
        let snapshot = s.snapshot
        let scheduled = (s.source.isRemote || isFile(s.source)) && s.nextAttempt.isFinite
        return SourceStatus(
            source: s.source, uri: uri,
            fetchTimeout: s.source.isRemote ? fetchTimeout(of: s) : nil,
            kids: snapshot.map { $0.keys.kids.sorted() } ?? [],
            keyCount: snapshot?.keys.keys.count ?? 0,
            skipped: snapshot?.keys.skipped ?? [],
            generation: snapshot?.generation,
            fetchedAt: snapshot?.fetchedAt,
            expiresAt: snapshot?.expiresAt,
            servableUntil: snapshot.map { $0.expiresAt + configuration.maxStaleness },
            available: servable(s, now: now) != nil,
            fromPersistedCache: s.fromPersistedCache,
            fetchInFlight: s.inFlight,
            lastError: s.lastError, lastErrorAt: s.lastErrorAt,
            consecutiveFailures: s.consecutiveFailures,
            nextAttemptAt: scheduled ? s.nextAttempt : nil,
            fetches: s.fetches,
            unknownKidRefetches: s.unknownKidRefetches,
            unknownKidRateLimited: s.unknownKidRateLimited,
            waiting: s.waiters.count, waitersRefused: s.waitersRefused)
    }
}
