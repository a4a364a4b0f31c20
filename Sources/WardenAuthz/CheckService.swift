import Dispatch
import WardenIntrospection
import WardenJSON
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
    let authenticator: Authenticator
    /// Envoy `jwt_authn` requirements, on the same authenticator (token cache, key slots).
    private let jwtAuthnEvaluator: JwtAuthnEvaluator
    /// RFC 8693 token exchanges for allowed requests a TokenPolicy's `tokenExchange` names.
    let exchanger: TokenExchanger
    /// DPoP proofs (RFC 9449): window and the per-process replay cache (or the shared store). The store is
    /// asked at most once per check (`DecisionRecord.dpopReplay`).
    let dpop: DPoPVerifier
    private let responses: ResponseBuilder
    private let decisionLog: DecisionLog?
    /// Spans per check (`--otlp-endpoint`); nil: tracing off, no header is looked at.
    private let tracer: CheckTracer?
    /// Serializes installs: each numbers its plan one past the last.
    private let installing = Locked<Void>(())

    /// - Parameters:
    ///   - keyStore: where key slots come from; every source the policies name is registered here.
    ///   - tokenCache: (entries, bytes) bounds of the token cache; (0, 0) disables it.
    ///   - clock: seconds since the epoch, for token times (injected: tests and `explain --now`).
    ///   - decisionLog: where each decision is logged (nil: nowhere).
    public init(policies: PolicySet, scope: WorkloadScope, keyStore: JWKSStore, options: AuthzOptions = AuthzOptions(),
                tokenCache: (entries: Int, bytes: Int) = (0, 0), decisionLog: DecisionLog? = nil,
                replayStore: (any ReplayStore)? = nil, introspectionTransport: (any IntrospectionTransport)? = nil,
                tracer: CheckTracer? = nil, clock: @escaping @Sendable () -> Double) {
        self.tracer = tracer
        self.options = options
        self.scope = scope
        self.keyStore = keyStore
        self.clock = clock
        self.decisionLog = decisionLog
        current = CurrentPlan(CheckPlan(policies: policies, number: 1, defaultScope: scope, options: options, keyStore: keyStore, metrics: metrics))
        authenticator = Authenticator(keyStore: keyStore, cache: TokenCache(capacity: tokenCache.entries, maxBytes: tokenCache.bytes),
                                      options: options,
                                      introspector: Introspector(transport: introspectionTransport ?? CurlFetcher(), clock: clock))

        exchanger = TokenExchanger(transport: introspectionTransport ?? CurlFetcher(), clock: clock)
        responses = ResponseBuilder(options: options)
        let local = ReplayCache(capacity: options.dpopReplayCapacity)
        if let shared = replayStore {
            dpop = DPoPVerifier(window: options.dpopProofWindow, store: shared, fallback: options.dpopReplayFallbackToLocal ? local : nil,
                                nonces: options.dpopNonces)
        } else {
            dpop = DPoPVerifier(window: options.dpopProofWindow, store: local, nonces: options.dpopNonces)
        }
        jwtAuthnEvaluator = JwtAuthnEvaluator(authenticator: authenticator, dpop: dpop)
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
            let next = CheckPlan(policies: policies, number: plan.number + 1, defaultScope: scope, options: options, keyStore: keyStore, metrics: metrics)
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
    ///   - frontDoor: the protocol the request arrived by (metrics and the decision log).
    ///   - callTraceHeaders: the trace context of the front door's own call (the gRPC metadata Envoy's
    ///     ext_authz client sends: its span), preferred to the request's headers (the downstream client's).
    public func check(_ request: RequestAttributes, receivedAt: UInt64 = DispatchTime.now().uptimeNanoseconds,
                      deadline: UInt64? = nil, cancellation: Cancellation? = nil, frontDoor: FrontDoor = .grpc,
                      callTraceHeaders: [String: String] = [:],
                      completion: @escaping @Sendable (CheckResult) -> Void) {
        metrics.inFlight.add(1)
        let plan = current.load()
        let scopePlan = request.contextExtensions.isEmpty
            ? plan.defaultPlan : plan.plan(for: scope.applying(contextExtensions: request.contextExtensions))
        let preflight = request.isCORSPreflight
        let record = DecisionRecord(generation: plan.number, scopePlan: scopePlan, corsPreflight: preflight, receivedAt: receivedAt,
                                    frontDoor: frontDoor)
        if let tracer { record.trace = tracer.begin(request, call: callTraceHeaders) }
        let caller = CallerLimits(deadline: deadline ?? receivedAt &+ options.defaultDeadlineNanos, cancellation: cancellation)
        if !plan.jwtAuthn.isEmpty {
            return runJwtAuthn(plan.jwtAuthn, 0, request, record, scopePlan, caller, completion) { [self] in
                authenticate(request, record, scopePlan, caller, completion)
            }
        }
        authenticate(request, record, scopePlan, caller, completion)
    }

    /// The Envoy `jwt_authn` documents in load order, each as a filter of its own: the first failure answers
    /// (401/403 with Envoy's body); when all pass, `next` runs the Istio resources.
    private func runJwtAuthn(_ plans: [JwtAuthnPlan], _ i: Int, _ request: RequestAttributes, _ record: DecisionRecord,
                             _ scopePlan: ScopePlan, _ caller: CallerLimits, _ completion: @escaping @Sendable (CheckResult) -> Void,
                             next: @escaping @Sendable () -> Void) {
        guard i < plans.count else { return next() }
        let plan = plans[i]
        // A SecurityPolicy's requirement applies where its RequestAuthentication does (targetRefs, precedence).
        if let ref = plan.filter.onlyWith, !scopePlan.effective.requestAuthentications.contains(where: { $0.ref == ref }) {
            return runJwtAuthn(plans, i + 1, request, record, scopePlan, caller, completion, next: next)
        }
        let (requirement, selection) = record.corsPreflight && plan.filter.bypassCORSPreflight
            ? (CompiledJwtRequirement.none, JwtAuthnStep.Selection.corsPreflight) : plan.requirement(for: request)
        let removed = RemovedTokens(record.jwtAuthn)
        let scratch = JwtAuthnEvaluator.Scratch(replayVerdict: record.dpopReplay, removed: removed)
        jwtAuthnEvaluator.evaluate(requirement, request: request, now: clock(), caller: caller, scratch: scratch) { [self] error, traces in
            record.jwtAuthn.append(JwtAuthnStep(document: plan.filter.origin.dialect ?? plan.filter.origin.description, selection: selection,
                                                error: error, tokens: traces, plan: plan, keyWaitNanos: scratch.keyWaitNanos,
                                                keyWaitEndedAt: scratch.keyWaitNanos > 0 ? DispatchTime.now().uptimeNanoseconds : 0))
            if let nonce = scratch.freshNonce { record.dpopNonce = nonce }
            record.dpopReplay = scratch.replayVerdict
            // Its challenge names the URI this filter got (a query-parameter token an earlier one removed is gone).
            if error != nil { return finish(record, removed.applied(to: request), scopePlan, tokens: [], caller: nil, completion) }
            runJwtAuthn(plans, i + 1, request, record, scopePlan, caller, completion, next: next)
        }
    }

    /// The Istio resources' token step: extract, authenticate, then `finish`.
    private func authenticate(_ request: RequestAttributes, _ record: DecisionRecord, _ scopePlan: ScopePlan, _ caller: CallerLimits,
                              _ completion: @escaping @Sendable (CheckResult) -> Void) {
        let tokens = extractTokens(request, record, scopePlan)
        if tokens.isEmpty { return finish(record, request, scopePlan, tokens: [], caller: nil, completion) }
        // One reference crosses the authenticator's closures: capturing the request itself put a copy of
        // it (a dozen retained strings and dictionaries) into each specialized closure context, ~2k
        // instructions of a cached check (callgrind).
        let pending = PendingCheck(request: request, record: record, scopePlan: scopePlan, tokens: tokens, completion: completion)
        authenticator.authenticate(tokens, scope: scopePlan, now: clock(), caller: caller) { [self] result in
            // A proof a jwt_authn step already judged is judged again from its verdict, not recorded again.
            var replay = pending.record.dpopReplay
            if let nonce = recordAuthentication(result, tokens: pending.tokens, request: pending.request, into: pending.record,
                                                replayVerdict: &replay) {
                pending.record.dpopNonce = nonce
            }
            pending.record.dpopReplay = replay
            finish(pending.record, pending.request, pending.scopePlan, tokens: pending.tokens, caller: caller, pending.completion)
        }
    }

    /// The token step's first half, the same for the enforced check and the dry-run one: the scope's tokens
    /// (less those an earlier jwt_authn step removed: `RemovedTokens`); with none, a rule in scope with `presence: REQUIRED` (Istio API v1.31) makes the answer a 401, as
    /// jwt_authn answers a requirement without allow_missing (`JwtMissed`). A CORS preflight is not
    /// authenticated at all (bypass_cors_preflight): no token is looked for, and it still passes.
    private func extractTokens(_ request: RequestAttributes, _ record: DecisionRecord, _ scopePlan: ScopePlan) -> [ExtractedToken] {
        if record.corsPreflight { return [] }
        // A token an earlier jwt_authn filter verified and removed (no `forward`) never reaches Istio's filter.
        let tokens = RemovedTokens(record.jwtAuthn).visible(scopePlan.extractor.extract(from: request))
        if tokens.isEmpty, let required = scopePlan.requiredBy {
            record.missingToken = .missing(rule: required.rule.issuer, policy: required.rule.source.description)
        }
        return tokens
    }

    /// The token step's second half, the same for the enforced check and the dry-run one: the verified
    /// tokens held to their binding (DPoP, certificate), and the outcome put on `record`.
    /// - Parameter replayVerdict: the DPoP proof's replay verdict; nil asks the store (`DPoPVerifier.failure`).
    /// - Returns: a fresh DPoP nonce for the answer, if the proof check minted one.
    private func recordAuthentication(_ result: Authenticator.Result, tokens: [ExtractedToken], request: RequestAttributes,
                                      into record: DecisionRecord, replayVerdict: inout ReplayVerdict?) -> String? {
        var traces = result.traces, rejected = result.rejected
        var nonce: String?
        if rejected == nil {
            TokenBinding.check(&traces, rejected: &rejected, tokens: tokens, request: request, now: clock(), dpop: dpop, freshNonce: &nonce,
                               replayVerdict: &replayVerdict)
        }
        record.tokens = traces
        record.rejectedToken = rejected
        record.rejectedTogether = rejected == result.rejected ? result.together : nil
        record.keyWaitNanos = result.keyWaitNanos
        if result.keyWaitNanos > 0 { record.keyWaitEndedAt = DispatchTime.now().uptimeNanoseconds }
        return nonce
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
                        tokens: [ExtractedToken], caller: CallerLimits?, _ completion: @escaping @Sendable (CheckResult) -> Void) {
        authorize(record, request, scopePlan)
        if let authorization = record.authorization, !scopePlan.policyCounters.isEmpty {
            scopePlan.policyCounters.count(authorization, scopePlan.effective)
        }
        if let shadow = scopePlan.dryRun { dryRun(record, request, scopePlan, shadow) }
        if record.reasonCode == .allowed, !scopePlan.exchanges.isEmpty, let caller,
           let x = scopePlan.exchange(for: record.tokens, request: request), x.token < tokens.count {
            return exchange(x, subject: tokens[x.token].token, record, request, scopePlan, caller, completion)
        }
        respond(record, request, scopePlan, completion)
    }

    /// An allowed request a `tokenExchange` rule names: its token is exchanged (RFC 8693) before the answer,
    /// which then carries the new token toward the upstream; a refusal is 403, no answer by shortly before
    /// the caller's deadline 503 (fail closed: the original token is never forwarded instead).
    private func exchange(_ x: ScopePlan.ExchangeChoice, subject: String, _ record: DecisionRecord,
                          _ request: RequestAttributes, _ scopePlan: ScopePlan, _ caller: CallerLimits,
                          _ completion: @escaping @Sendable (CheckResult) -> Void) {
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        let exchangeRequest = ExchangeRequest(
            subjectToken: subject, subjectExpiresAt: record.tokens[x.token].verified?.expiresAt, audiences: x.rule.audiences,
            resources: x.rule.resources, scope: x.rule.scope, requestedTokenType: x.rule.requestedTokenType,
            actorTokenFile: x.rule.actorTokenFile, actorTokenType: x.rule.actorTokenType, expiryMargin: seconds(x.rule.expiryMargin))
        let done = Once()
        // Timed for the span only: an unsampled check reads no clock for it.
        let startedAt = record.trace?.sampled == true ? DispatchTime.now().uptimeNanoseconds : 0
        @Sendable func end(_ result: ExchangeStep.Result, token: String?) {
            guard done.claim() else { return }
            let endedAt = startedAt > 0 ? DispatchTime.now().uptimeNanoseconds : 0
            record.exchange = ExchangeStep(endpoint: x.endpoint.label, audiences: x.rule.audiences, resources: x.rule.resources,
                                           header: x.rule.header, tokenIndex: x.token, result: result, token: token,
                                           waitNanos: endedAt &- startedAt, endedAt: endedAt)
            switch result {
            case .exchanged: break
            case .refused: record.reasonCode = .tokenExchangeRefused
            case .unavailable: record.reasonCode = .tokenExchangeUnavailable
            case .connectionFactUnreported: record.reasonCode = .tokenExchangeConnectionFactUnreported
            }
            respond(record, request, scopePlan, completion)
        }
        // Whether this rule (or a later one) applies is unknown: refused, never sent on without the exchange.
        if !x.undecided.isEmpty { return end(.connectionFactUnreported(x.undecided), token: nil) }
        // A repeated (cached) token: the exchanged token it got last time, while it may still be handed out.
        let entry = record.tokens[x.token].cached
        let now = clock()
        if let entry, let last = entry.lastExchange.withLock({ $0 }), last.scope == scopePlan.serial, last.rule == x.index, last.until > now {
            exchanger.countCacheHit()
            return end(.exchanged(cached: true), token: last.token)
        }
        // RFC 8693 §4.4: a subject token whose `may_act` names another party may not be exchanged by Warden's
        // client acting for it (with an actor token, the IdP decides: the actor is that token's subject).
        if x.rule.actorTokenFile == nil, case .object(let may)? = record.tokens[x.token].verified?.claims["may_act"],
           let allowed = may["sub"]?.stringValue, !allowed.bytesEqual(x.rule.clientID) {
            return end(.refused(error: "may_act", description: "the subject token's may_act names another actor"), token: nil)
        }
        // Watched from before the call, so a call that stalls while starting is still bounded.
        if let deadline = caller.deadline {
            DeadlineTimer.shared.schedule(at: Authenticator.answerBy(deadline)) { end(.unavailable("no answer before the caller's deadline"), token: nil) }
        }
        caller.cancellation?.onCancel { end(.unavailable("the caller cancelled the check"), token: nil) }
        exchanger.exchange(exchangeRequest, at: x.endpoint) { outcome in
            switch outcome {
            case .exchanged(let token, let expiresAt, let cached):
                if let entry {
                    let until = TokenExchanger.reuseUntil(expiresAt: expiresAt, request: exchangeRequest, now: self.clock())
                    entry.lastExchange.withLock { $0 = (scopePlan.serial, x.index, token, until) }
                }
                end(.exchanged(cached: cached), token: token)
            case .refused(let error, let description): end(.refused(error: error, description: description), token: nil)
            case .failed(let e): end(.unavailable(e.description), token: nil)
            }
        }
    }

    private func respond(_ record: DecisionRecord, _ request: RequestAttributes, _ scopePlan: ScopePlan,
                         _ completion: @Sendable (CheckResult) -> Void) {
        let (decision, answerKey) = decide(record, request, scopePlan)
        record.decidedAt = DispatchTime.now().uptimeNanoseconds
        let result = CheckResult(decision: decision, record: record, answerKey: answerKey)
        // Counted before answering, so a client that saw its answer also sees it in /metrics.
        metrics.record(record)
        metrics.inFlight.add(-1)
        completion(result)
        decisionLog?.write(result, request: request)
        tracer?.finish(result, request: request)
    }

    /// The AuthorizationPolicies' verdict (when no token was rejected) and the reason code.
    private func authorize(_ record: DecisionRecord, _ request: RequestAttributes, _ scopePlan: ScopePlan) {
        if let failed = record.jwtAuthnFailure {
            record.reasonCode = failed.reasonCode
        } else if record.rejectedToken != nil {
            // Fail closed: a rejected token without its error (never produced) still denies.
            record.reasonCode = record.rejection?.error.reasonCode ?? .jwtMalformed
        } else if let missing = record.missingToken {
            record.reasonCode = missing.reasonCode
        } else {
            // Every verified token's identity is evaluated (issue 14): a DENY on the second token's principal
            // must not be skipped. One token (the common case) takes the single-identity path, no array.
            let evaluation = EvaluationOptions(numTrustedProxies: options.numTrustedProxies)
            let stages = record.securityPolicyIdentities
            let authorization = record.tokens.count > 1
                ? AuthorizationEvaluator.evaluate(scopePlan.effective, request: request, identities: record.identities, stageIdentities: stages,
                                                  options: evaluation)
                : AuthorizationEvaluator.evaluate(scopePlan.effective, request: request, identity: record.tokens.first?.identity,
                                                  stageIdentities: stages,
                                                  options: evaluation)
            record.authorization = authorization
            record.reasonCode = authorization.reasonCode
        }
    }

    /// Runs the check again on `shadow` (the scope with its dry-run token resources enforced) and keeps
    /// what it would have answered in `record.dryRun`, counted per dry-run resource. It takes the enforced
    /// check's own steps (`extractTokens`, `recordAuthentication`, `authorize`, the response builder), so the
    /// would-be answer is the one enforcement gives, with three differences, each toward answering now: it
    /// never waits for keys (a cold dry-run source answers `jwt_jwks_unavailable` until the refresher has
    /// fetched it) nor calls an introspection endpoint, it never asks the DPoP replay store (it takes the
    /// enforced check's verdict on the proof — replay, or store unavailable — and a proof no enforced step
    /// judged as unseen), and it is the answer before any token exchange (a call). It completes here, on this thread,
    /// and adds no wait to the enforced answer. The jwt_authn documents ran before the Istio step and are
    /// not dry-run: their outcome is carried over, and a jwt_authn failure answers the would-be check too.
    private func dryRun(_ record: DecisionRecord, _ request: RequestAttributes, _ scopePlan: ScopePlan, _ shadow: ScopePlan) {
        let would = DecisionRecord(generation: record.generation, scopePlan: shadow, corsPreflight: record.corsPreflight,
                                   receivedAt: record.receivedAt)
        // Every jwt_authn step is carried over: its failure answers the would-be check, and the SecurityPolicy
        // stages see what their own requirements verified, as in the enforced check.
        would.jwtAuthn = record.jwtAuthn
        let tokens = would.jwtAuthnFailure != nil ? [] : extractTokens(request, would, shadow)
        if !tokens.isEmpty {
            let done = Locked(false)
            authenticator.authenticate(tokens, scope: shadow, now: clock(), caller: CallerLimits(waitsForKeys: false)) { [self] result in
                // The would-be answer needs the nonce as the enforced one does; its fresh nonce is not sent. The
                // proof's replay verdict is the enforced check's (a replay, or a store that could not answer, is
                // so for the dry-run too); a proof no enforced step judged is taken as unseen: the dry-run check
                // never asks the store, which would use the proof up.
                var replay: ReplayVerdict? = record.dpopReplay ?? .first
                _ = recordAuthentication(result, tokens: tokens, request: request, into: would, replayVerdict: &replay)
                done.withLock { $0 = true }
            }
            // Never waiting for keys, the authenticator has completed; if it ever did not, nothing is
            // reported rather than a guess.
            guard done.withLock({ $0 }) else { return }
        }
        authorize(would, request, shadow)
        // The status alone: an allow's headers and metadata are never sent, so they are not built.
        let status = responses.status(for: would)
        would.decidedAt = DispatchTime.now().uptimeNanoseconds
        let outcome = DryRunOutcome(resources: scopePlan.dryRunResources, status: status, record: would)
        record.dryRun = outcome
        for resource in outcome.resources { metrics.dryRunDecisions.counter([resource, outcome.would]).add() }
    }

    /// The decision for a finished record. An allow for one cached header token without debug headers
    /// depends on nothing but the token, the compiled scope and the header: it is built once per
    /// (entry, scope, header), kept in the token's cache entry, and handed out with its `AnswerKey`
    /// (bench/results: the allow answer was ~5k instructions of a cached check, its encoding ~11k). With a
    /// token exchange, the exchanged token is part of the key: the same one (cached) reuses the answer.
    private func decide(_ record: DecisionRecord, _ request: RequestAttributes, _ scopePlan: ScopePlan) -> (Decision, AnswerKey?) {
        let exchanged = record.exchange?.token ?? ""
        // An answer carrying a fresh DPoP nonce is this check's alone: never kept.
        // jwt_authn outputs depend on the route (rules match paths): never kept.
        guard record.reasonCode == .allowed, !options.debugHeaders, record.dpopNonce == nil, record.tokens.count == 1, record.jwtAuthn.isEmpty,
              record.exchange == nil || !exchanged.isEmpty,
              let entry = record.tokens[0].cached, case .header(let header, _) = record.tokens[0].location
        else { return (responses.decision(for: record, request: request, scope: scopePlan), nil) }
        let key = AnswerKey(entry: entry.serial, scope: scopePlan.serial, header: header, exchanged: exchanged)
        if let last = entry.lastAllow.withLock({ $0 }), last.scope == scopePlan.serial, last.header == header, last.exchanged == exchanged {
            record.droppedHeaders = last.dropped
            return (.allow(last.answer), key)
        }
        let decision = responses.decision(for: record, request: request, scope: scopePlan)
        if case .allow(let ok) = decision {
            let dropped = record.droppedHeaders
            entry.lastAllow.withLock { $0 = (scopePlan.serial, header, exchanged, ok, dropped) }
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
