import Dispatch
import WardenJWKS
import WardenJWT
import WardenPolicy
import WardenSync

/// The Check path, with no sockets and no wire format: one decoded request in, the decision and its
/// `DecisionRecord` out. Every front door (gRPC ext_authz today) is an adapter onto `check`; the decision
/// log, the metrics and `warden explain` are renderings of the record it returns.
///
/// Steps (docs/architecture.md): load the plan → select the scope → extract tokens → authenticate
/// (token cache, key slots) → evaluate AuthorizationPolicies → build the decision → count and log.
/// Thread-safe; policies are swapped atomically with `install(_:)`.
public final class CheckService: Sendable {
    public let options: AuthzOptions
    /// The server's own workload scope.
    public let scope: WorkloadScope
    public let keyStore: JWKSStore
    public let metrics = CheckMetrics()
    private let clock: @Sendable () -> Double
    private let current: CurrentPlan
    private let authenticator: Authenticator
    /// DPoP proofs (RFC 9449): window and the per-process replay cache.
    let dpop: DPoPVerifier
    private let responses: ResponseBuilder
    private let decisionLog: DecisionLog?
    /// Serializes installs: each numbers its plan one past the last.
    private let installing = Locked<Void>(())

    /// - Parameters:
    ///   - keyStore: where key slots come from; every source the policies name is registered here.
    ///   - tokenCache: (entries, bytes) bounds of the token cache; (0, 0) disables it.
    ///   - clock: seconds since the epoch, for token times (injected: tests and `explain --now`).
    ///   - decisionLog: where each decision is logged (nil: nowhere).
    public init(policies: PolicySet, scope: WorkloadScope, keyStore: JWKSStore, options: AuthzOptions = AuthzOptions(),
                tokenCache: (entries: Int, bytes: Int) = (0, 0), decisionLog: DecisionLog? = nil,
                replayStore: (any ReplayStore)? = nil, clock: @escaping @Sendable () -> Double) {
        self.options = options
        self.scope = scope
        self.keyStore = keyStore
        self.clock = clock
        self.decisionLog = decisionLog
        current = CurrentPlan(CheckPlan(policies: policies, number: 1, defaultScope: scope, options: options, keyStore: keyStore))
        authenticator = Authenticator(keyStore: keyStore, cache: TokenCache(capacity: tokenCache.entries, maxBytes: tokenCache.bytes),
                                      options: options)
        responses = ResponseBuilder(options: options)
        let local = ReplayCache(capacity: options.dpopReplayCapacity)
        if let shared = replayStore {
            dpop = DPoPVerifier(window: options.dpopProofWindow, store: shared, fallback: options.dpopReplayFallbackToLocal ? local : nil)
        } else {
            dpop = DPoPVerifier(window: options.dpopProofWindow, store: local)
        }
    }

    /// The plan new checks run on.
    public var plan: CheckPlan { current.load() }

    /// Swaps in a new, fully validated policy set; checks in flight finish on the old plan. Key sources
    /// the new set no longer names are unregistered from the store.
    /// - Returns: the new plan's number.
    @discardableResult
    public func install(_ policies: PolicySet) -> Int {
        installing.withLock { _ in
            let previous = plan
            let next = CheckPlan(policies: policies, number: plan.number + 1, defaultScope: scope, options: options, keyStore: keyStore)
            current.store(next)
            // Sources no rule names any more stop being fetched, persisted and counted for readiness.
            for source in Set(previous.sources).subtracting(next.sources) { keyStore.unregister(source) }
            return next.number
        }
    }

    /// The token cache's counters.
    public var tokenCacheStatistics: TokenCacheStatistics {
        let s = authenticator.cache.statistics
        return TokenCacheStatistics(hits: s.hits, misses: s.misses, entries: s.entries, bytes: s.bytes, evictions: s.evictions,
                                    capacity: authenticator.cache.capacity, maxBytes: authenticator.cache.maxBytes)
    }

    /// Whether a check that reached the front door at `now` can still be answered before `deadline`
    /// (`options.shedMargin`); if not it is counted as shed and the front door answers at once, without
    /// decoding it. Under overload this keeps every answer Warden gives within its caller's deadline.
    public func admits(deadline: UInt64?, now: UInt64) -> Bool {
        guard let deadline, options.shedMargin > 0 else { return true }
        if deadline > now, deadline - now >= options.shedMarginNanos { return true }
        metrics.recordShed()
        return false
    }

    /// Decides one request. `completion` runs exactly once: on this thread when no key fetch is needed,
    /// else on the key store's thread once keys arrive or the source's fetch timeout passes.
    /// - Parameters:
    ///   - receivedAt: monotonic nanoseconds when the front door had the request (the latency metric and
    ///     the record's timing start there).
    ///   - deadline: the caller's deadline (monotonic nanoseconds), if it sent one; else `receivedAt` +
    ///     `options.defaultDeadline`. A check that would wait for keys answers from the keys at hand shortly
    ///     before it (401 with Envoy's body), never after.
    ///   - cancellation: fires when the caller has gone (a cancelled call): a wait for keys ends at once
    ///     and frees its place among the key source's waiters.
    public func check(_ request: RequestAttributes, receivedAt: UInt64 = DispatchTime.now().uptimeNanoseconds,
                      deadline: UInt64? = nil, cancellation: Cancellation? = nil,
                      completion: @escaping @Sendable (CheckResult) -> Void) {
        metrics.inFlight.add(1)
        let plan = current.load()
        let scopePlan = request.contextExtensions.isEmpty
            ? plan.defaultPlan : plan.plan(for: scope.applying(contextExtensions: request.contextExtensions))
        let preflight = request.isCORSPreflight
        let record = DecisionRecord(generation: plan.number, scopePlan: scopePlan, corsPreflight: preflight, receivedAt: receivedAt)
        let tokens = preflight ? [] : scopePlan.extractor.extract(from: request)
        if tokens.isEmpty {
            // presence: REQUIRED (Istio API v1.31): no token at any location of the rules in scope is a 401,
            // as jwt_authn answers a requirement without allow_missing (`JwtMissed`). A CORS preflight is
            // not authenticated at all (bypass_cors_preflight), so it still passes.
            if !preflight, let required = scopePlan.requiredBy {
                record.missingToken = .missing(rule: required.rule.issuer, policy: required.rule.source.description)
            }
            return finish(record, request, scopePlan, completion)
        }
        // One reference crosses the authenticator's closures: capturing the request itself put a copy of
        // it (a dozen retained strings and dictionaries) into each specialized closure context, ~2k
        // instructions of a cached check (callgrind).
        let pending = PendingCheck(request: request, record: record, scopePlan: scopePlan, tokens: tokens, completion: completion)
        let caller = CallerLimits(deadline: deadline ?? receivedAt &+ options.defaultDeadlineNanos, cancellation: cancellation)
        authenticator.authenticate(tokens, scope: scopePlan, now: clock(), caller: caller) { [self] result in
            var traces = result.traces, rejected = result.rejected
            if rejected == nil {
                TokenBinding.check(&traces, rejected: &rejected, tokens: pending.tokens, request: pending.request, now: clock(), dpop: dpop)
            }
            pending.record.tokens = traces
            pending.record.rejectedToken = rejected
            pending.record.rejectedTogether = rejected == result.rejected ? result.together : nil
            pending.record.keyWaitNanos = result.keyWaitNanos
            finish(pending.record, pending.request, pending.scopePlan, pending.completion)
        }
    }

    /// What a check waiting for its tokens to be authenticated needs to finish.
    private final class PendingCheck: Sendable {
        let request: RequestAttributes
        let record: DecisionRecord
        let scopePlan: ScopePlan
        let tokens: [ExtractedToken]
        let completion: @Sendable (CheckResult) -> Void

        init(request: RequestAttributes, record: DecisionRecord, scopePlan: ScopePlan, tokens: [ExtractedToken],
             completion: @escaping @Sendable (CheckResult) -> Void) {
            self.request = request
            self.record = record
            self.scopePlan = scopePlan
            self.tokens = tokens
            self.completion = completion
        }
    }

    private func finish(_ record: DecisionRecord, _ request: RequestAttributes, _ scopePlan: ScopePlan,
                        _ completion: @Sendable (CheckResult) -> Void) {
        if record.rejectedToken != nil {
            // Fail closed: a rejected token without its error (never produced) still denies.
            record.reasonCode = record.rejection?.error.reasonCode ?? .jwtMalformed
        } else if let missing = record.missingToken {
            record.reasonCode = missing.reasonCode
        } else {
            // Every verified token's identity is evaluated (issue 14): a DENY on the second token's principal
            // must not be skipped. One token (the common case) takes the single-identity path, no array.
            let evaluation = EvaluationOptions(numTrustedProxies: options.numTrustedProxies)
            let authorization = record.tokens.count > 1
                ? AuthorizationEvaluator.evaluate(scopePlan.effective, request: request, identities: record.identities, options: evaluation)
                : AuthorizationEvaluator.evaluate(scopePlan.effective, request: request, identity: record.tokens.first?.identity,
                                                  options: evaluation)
            record.authorization = authorization
            record.reasonCode = authorization.reasonCode
        }
        let (decision, answerKey) = decide(record, request, scopePlan)
        record.decidedAt = DispatchTime.now().uptimeNanoseconds
        let result = CheckResult(decision: decision, record: record, answerKey: answerKey)
        // Counted before answering, so a client that saw its answer also sees it in /metrics.
        metrics.record(record)
        metrics.inFlight.add(-1)
        completion(result)
        decisionLog?.write(result, request: request)
    }

    /// The decision for a finished record. An allow for one cached header token without debug headers
    /// depends on nothing but the token, the compiled scope and the header: it is built once per
    /// (entry, scope, header), kept in the token's cache entry, and handed out with its `AnswerKey`
    /// (bench/results: the allow answer was ~5k instructions of a cached check, its encoding ~11k).
    private func decide(_ record: DecisionRecord, _ request: RequestAttributes, _ scopePlan: ScopePlan) -> (Decision, AnswerKey?) {
        guard record.reasonCode == .allowed, !options.debugHeaders, record.tokens.count == 1,
              let entry = record.tokens[0].cached, case .header(let header, _) = record.tokens[0].location
        else { return (responses.decision(for: record, request: request, scope: scopePlan), nil) }
        let key = AnswerKey(entry: entry.serial, scope: scopePlan.serial, header: header)
        if let last = entry.lastAllow.withLock({ $0 }), last.scope == scopePlan.serial, last.header == header {
            record.droppedHeaders = last.dropped
            return (.allow(last.answer), key)
        }
        let decision = responses.decision(for: record, request: request, scope: scopePlan)
        if case .allow(let ok) = decision {
            let dropped = record.droppedHeaders
            entry.lastAllow.withLock { $0 = (scopePlan.serial, header, ok, dropped) }
        }
        return (decision, key)
    }

}

/// The token cache's counters and bounds, for `/metrics`.
public struct TokenCacheStatistics: Sendable, Equatable {
    public var hits: Int
    public var misses: Int
    public var entries: Int
    public var bytes: Int
    public var evictions: Int
    public var capacity: Int
    public var maxBytes: Int
}
