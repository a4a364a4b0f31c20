import Dispatch
import Synchronization
import WardenIntrospection
import WardenJSON
import WardenJWKS
import WardenJWT
import WardenPolicy
import WardenSync

/// Verifies every token a request carries, as Envoy's jwt_authn does under Istio: no token passes with
/// no identity; every token present must be valid; a token's issuer must be one the location was
/// configured for. Keys come from the provider's key slot without waiting when warm; a cold source or
/// an unknown `kid` defers the answer to the store's completion instead of blocking the caller's thread.
/// Owns the token cache.
struct Authenticator: Sendable {
    let keyStore: JWKSStore
    let cache: TokenCache
    let options: AuthzOptions
    /// Asks RFC 7662 endpoints about opaque tokens (for issuers whose TokenPolicy names one).
    let introspector: Introspector

    /// Every token's trace in extraction order, the index of the one whose failure answers (if any),
    /// and the nanoseconds spent waiting for keys.
    struct Result: Sendable {
        var traces: [TokenTrace]
        var rejected: Int?
        var keyWaitNanos: UInt64
        /// Set when every token verified but they are rejected together (`mixedIssuers`); `rejected` is then
        /// the token it names.
        var together: JWTError? = nil
    }

    typealias Completion = @Sendable (Result) -> Void

    /// Verifies `tokens` (in extraction order) in Envoy's order, which decides the error reported when
    /// several are invalid: the authenticator pops its tokens from the back, so the last one extracted is
    /// checked first and the first failure is the answer; `Jwt issuer is not configured` is reported only
    /// when no other token failed (Envoy's any-of aggregation prefers every other error to it).
    /// - Parameter caller: the caller's deadline and cancellation: a token whose keys are not at hand is
    ///   answered from the keys at hand shortly before the deadline (never after), or at once when the
    ///   caller cancels.
    func authenticate(_ tokens: [ExtractedToken], scope: ScopePlan, now: Double, caller: CallerLimits = CallerLimits(),
                      completion: @escaping Completion) {
        if tokens.count == 1 {
            return verify(tokens[0], scope: scope, now: now, caller: caller) { trace, wait in
                completion(Result(traces: [trace], rejected: trace.error == nil ? nil : 0, keyWaitNanos: wait))
            }
        }
        var traces = tokens.map { TokenTrace(location: $0.location, byteCount: $0.token.utf8.count, jwt: nil, provider: nil,
                                             keys: nil, outcome: .notChecked) }
        verifyAll(tokens, next: tokens.count - 1, traces: &traces, unknownIssuer: nil, waited: 0, scope: scope, now: now,
                  caller: caller, completion: completion)
    }

    private func verifyAll(_ tokens: [ExtractedToken], next: Int, traces: inout [TokenTrace], unknownIssuer: Int?, waited: UInt64,
                           scope: ScopePlan, now: Double, caller: CallerLimits, completion: @escaping Completion) {
        guard next >= 0 else {
            if unknownIssuer == nil, let (i, error) = Self.tokenNoRuleOwns(traces, scope: scope) {
                // Each token verified (its trace says so); together they are rejected.
                return completion(Result(traces: traces, rejected: i, keyWaitNanos: waited, together: error))
            }
            return completion(Result(traces: traces, rejected: unknownIssuer, keyWaitNanos: waited))
        }
        let sofar = traces
        verify(tokens[next], scope: scope, now: now, caller: caller) { trace, wait in
            var traces = sofar
            traces[next] = trace
            switch trace.outcome {
            case .rejected(let e) where e.isUnknownIssuer:
                verifyAll(tokens, next: next - 1, traces: &traces, unknownIssuer: unknownIssuer ?? next, waited: waited + wait,
                          scope: scope, now: now, caller: caller, completion: completion)
            case .rejected:
                completion(Result(traces: traces, rejected: next, keyWaitNanos: waited + wait))
            default:
                verifyAll(tokens, next: next - 1, traces: &traces, unknownIssuer: unknownIssuer, waited: waited + wait,
                          scope: scope, now: now, caller: caller, completion: completion)
            }
        }
    }

    /// Several valid tokens pass Envoy's jwt_authn, as istiod configures it (`any{P0, …, Pn, all{any{Pi,
    /// allow_missing}, …}}`, one provider per rule), only when some rule finds tokens at its own locations
    /// and all of them are its issuer's: a provider verifies every token at its locations and fails on
    /// another issuer's (`Jwt issuer is not configured`), and the `all` branch fails with it. With two rules
    /// that both read `Authorization` and a cookie, a token of each there is a 401 (checked against Envoy in
    /// `test_policy_several_tokens.py`). Returns the token to report and its error when no rule owns its
    /// tokens, else nil. The first rule that finds a token names the foreign token it found first.
    static func tokenNoRuleOwns(_ traces: [TokenTrace], scope: ScopePlan) -> (Int, JWTError)? {
        var report: (Int, JWTError)?
        for provider in scope.rules {
            let locations = provider.rule.tokenLocations
            var found = false
            var foreign: Int?
            // A rule reading `Authorization: Bearer` reads `Authorization: DPoP` too (`TokenExtractor`).
            let reads = { (l: TokenLocation) in
                locations.contains(l) || (l == .dpopAuthorization && locations.contains(.bearerAuthorization))
            }
            for (i, t) in traces.enumerated() where reads(t.location) {
                found = true
                // A rule without issuer owns every verified token at its locations (Envoy's JwtIssuerChecker).
                if foreign == nil, !provider.rule.issuer.isEmpty,
                   !(t.verified?.issuer?.bytesEqual(provider.rule.issuer) ?? false) { foreign = i }
            }
            guard found else { continue }
            guard let f = foreign else { return nil }
            if report == nil {
                report = (f, .mixedIssuers(location: traces[f].location.description, issuer: traces[f].verified?.issuer,
                                           rule: provider.rule.issuer))
            }
        }
        return report
    }

    /// One token: parse → issuer (the rule for this location) → claims against `now` → keys → signature
    /// (or the cache). Completes with the token's trace and the nanoseconds waited for keys.
    private func verify(_ token: ExtractedToken, scope: ScopePlan, now: Double, caller: CallerLimits,
                        completion: @escaping @Sendable (TokenTrace, UInt64) -> Void) {
        let size = token.token.utf8.count
        @Sendable func trace(_ jwt: UnverifiedJWT?, _ provider: JWTProvider?, _ keys: KeySnapshot?, _ outcome: TokenTrace.Outcome,
                             cached: TokenCache.Entry? = nil) -> TokenTrace {
            TokenTrace(location: token.location, byteCount: size, jwt: jwt, provider: provider, keys: keys, outcome: outcome,
                       cached: cached)
        }
        if token.ambiguous {
            // Which of two tokens "the" token is depends on the application: neither is verified.
            return completion(trace(nil, nil, nil, .rejected(.multipleTokens(token.location.description))), 0)
        }
        let cached = cache.lookup(token.token, now: now)
        let jwt: UnverifiedJWT
        if let cached {
            jwt = cached.jwt
        } else {
            do { jwt = try UnverifiedJWT.parse(token.token, maxBytes: options.maxTokenBytes) } catch {
                // Not a JWS at all (no three segments; a JWE stays refused): an opaque token, which an issuer
                // reading this location may vouch for by introspection.
                if case .malformed(.notCompact) = error, let provider = scope.introspector(at: token.location) {
                    return introspect(token, provider: provider, now: now, caller: caller, trace: trace, completion: completion)
                }
                return completion(trace(nil, nil, nil, .rejected(error)), 0)
            }
        }
        let issuer = jwt.issuer ?? ""
        guard let provider = scope.provider(for: issuer, at: token.location) else {
            // Envoy's body either way; the reason names a trailing-slash or http/https near miss.
            return completion(trace(jwt, nil, nil, .rejected(.unconfiguredIssuer(jwt.issuer, configured: scope.providers.keys.map(\.text)))), 0)
        }
        do {
            try jwt.checkClaims(provider.requirements, now: now)
            try provider.constraints?.check(jwt)
        } catch {
            return completion(trace(jwt, provider, nil, .rejected(error)), 0)
        }
        // A revocation check after the signature (and the token cache) said yes, when the issuer asks for it.
        let answer: @Sendable (TokenTrace, UInt64) -> Void
        if provider.introspectsJWTs {
            answer = { [self] t, waited in checkNotRevoked(token, t, waited: waited, provider: provider, caller: caller, completion: completion) }
        } else {
            answer = completion
        }

        let finish: @Sendable (KeySnapshot, UInt64, @escaping @Sendable (TokenTrace, UInt64) -> Void) -> Void = { snapshot, waited, completion in
            if let cached, cache.answers(cached, for: snapshot) {
                return completion(trace(nil, provider, snapshot, .notChecked, cached: cached), waited)  // the entry supplies token, view and identity
            }
            do throws(JWTError) {
                let key = try jwt.verifySignature(with: snapshot.keys)
                let verified = VerifiedJWT(jwt, verifiedBy: key.fingerprint, fromCache: false)
                cache.insert(token.token, jwt: jwt, verified: verified, snapshot: snapshot, now: now)
                completion(trace(jwt, provider, snapshot, .verified(verified)), waited)
            } catch .unknownKid(let kid) where provider.source.canRefetch && caller.waitsForKeys {
                // A kid we do not know may be a rotation: one rate-limited, coalesced refetch — answered from
                // the keys at hand if it cannot finish before the caller's deadline.
                let start = DispatchTime.now().uptimeNanoseconds
                let (completion, arm) = Self.bounded(completion, caller: caller) { _ in
                    (trace(jwt, provider, snapshot, .rejected(.unknownKid(kid))), DispatchTime.now().uptimeNanoseconds - start)
                }
                arm()
                keyStore.refetchForUnknownKid(provider.source, kid: jwt.header.kid, cancellation: caller.cancellation) { fresh in
                    let waited = waited + (DispatchTime.now().uptimeNanoseconds - start)
                    guard let fresh, fresh.generation != snapshot.generation else {
                        return completion(trace(jwt, provider, snapshot, .rejected(.unknownKid(kid))), waited)
                    }
                    do throws(JWTError) {
                        let key = try jwt.verifySignature(with: fresh.keys)
                        let verified = VerifiedJWT(jwt, verifiedBy: key.fingerprint, fromCache: false)
                        cache.insert(token.token, jwt: jwt, verified: verified, snapshot: fresh, now: now)
                        completion(trace(jwt, provider, fresh, .verified(verified)), waited)
                    } catch {
                        completion(trace(jwt, provider, fresh, .rejected(error)), waited)
                    }
                }
            } catch {
                completion(trace(jwt, provider, snapshot, .rejected(error)), waited)
            }
        }
        if let snapshot = provider.slot.snapshot(now: now) {
            return finish(snapshot, 0, answer)
        }
        guard caller.waitsForKeys else {
            return answer(trace(jwt, provider, nil, .rejected(.jwksUnavailable("no keys at hand (a dry-run check never waits for keys)"))), 0)
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let (keysDone, arm) = Self.bounded(answer, caller: caller) { why in
            (trace(jwt, provider, nil, .rejected(.jwksUnavailable("no keys arrived before the caller \(why)"))),
             DispatchTime.now().uptimeNanoseconds - start)
        }
        arm()
        keyStore.keys(for: provider.source, cancellation: caller.cancellation) { snapshot in
            let waited = DispatchTime.now().uptimeNanoseconds - start
            guard let snapshot else {
                let why = caller.cancellation?.isCancelled == true ? "no keys arrived before the caller\(GiveUp.cancelled)"
                    : keyStore.status(for: provider.source)?.lastError?.description ?? "no keys fetched yet"
                return keysDone(trace(jwt, provider, nil, .rejected(.jwksUnavailable(why))), waited)
            }
            finish(snapshot, waited, keysDone)
        }
    }

    /// An opaque token: the provider's introspection endpoint says whether it is active (RFC 7662) and
    /// with which claims; those then pass the same claim, TokenPolicy and (later) binding checks as a JWT of
    /// that issuer. A missing or unusable answer fails closed; the wait ends at the caller's deadline.
    private func introspect(_ token: ExtractedToken, provider: JWTProvider, now: Double, caller: CallerLimits,
                            trace: @escaping @Sendable (UnverifiedJWT?, JWTProvider?, KeySnapshot?, TokenTrace.Outcome, TokenCache.Entry?) -> TokenTrace,
                            completion: @escaping @Sendable (TokenTrace, UInt64) -> Void) {
        guard let endpoint = provider.introspection else { return }
        let start = DispatchTime.now().uptimeNanoseconds
        let (completion, arm) = Self.bounded(completion, caller: caller) { why in
            (trace(nil, provider, nil, .rejected(.introspectionFailed("no answer before the caller\(why)")), nil),
             DispatchTime.now().uptimeNanoseconds - start)
        }
        arm()
        let issuer = provider.rule.issuer
        introspector.introspect(token.token, at: endpoint, cachedOnly: !caller.waitsForKeys) { outcome in
            let waited = DispatchTime.now().uptimeNanoseconds - start
            switch outcome {
            case .failed(let e):
                completion(trace(nil, provider, nil, .rejected(.introspectionFailed(e.description)), nil), waited)
            case .inactive:
                completion(trace(nil, provider, nil, .rejected(.tokenInactive), nil), waited)
            case .active(var claims, let answer, _):
                // RFC 7662 §2.2: `iss` is optional; the endpoint speaks for the issuer it is configured for.
                if claims["iss"] == nil { claims["iss"] = .string(issuer) }
                do throws(JWTError) {
                    let jwt = try UnverifiedJWT.introspected(claims: claims, answer: answer, endpoint: endpoint.label)
                    try jwt.checkClaims(provider.requirements, now: now)
                    try provider.constraints?.check(jwt)
                    completion(trace(jwt, provider, nil, .verified(VerifiedJWT(introspected: jwt)), nil), waited)
                } catch {
                    completion(trace(nil, provider, nil, .rejected(error), nil), waited)
                }
            }
        }
    }

    /// A verified JWT of an issuer with `introspectJWTs`: the endpoint must still call it active (RFC 7662
    /// as a revocation check); otherwise, or without an answer, the token is rejected (fail closed).
    private func checkNotRevoked(_ token: ExtractedToken, _ verified: TokenTrace, waited: UInt64, provider: JWTProvider, caller: CallerLimits,
                                 completion: @escaping @Sendable (TokenTrace, UInt64) -> Void) {
        guard verified.verified != nil, let endpoint = provider.introspection else { return completion(verified, waited) }
        @Sendable func rejected(_ e: JWTError) -> TokenTrace {
            TokenTrace(location: verified.location, byteCount: verified.byteCount, jwt: verified.jwt ?? verified.cached?.jwt,
                       provider: verified.provider, keys: verified.keys, outcome: .rejected(e))
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let (completion, arm) = Self.bounded(completion, caller: caller) { why in
            (rejected(.introspectionFailed("no answer before the caller\(why)")), waited + DispatchTime.now().uptimeNanoseconds - start)
        }
        arm()
        introspector.introspect(token.token, at: endpoint, cachedOnly: !caller.waitsForKeys) { outcome in
            let total = waited + DispatchTime.now().uptimeNanoseconds - start
            switch outcome {
            case .active: completion(verified, total)
            case .inactive: completion(rejected(.tokenInactive), total)
            case .failed(let e): completion(rejected(.introspectionFailed(e.description)), total)
            }
        }
    }

    /// Waits on the caller's deadline are answered this long before it (at most 20 ms, at most a fifth of
    /// the time left), so the answer reaches the caller before it gives up.
    static func answerBy(_ deadline: UInt64) -> UInt64 {
        let now = DispatchTime.now().uptimeNanoseconds
        guard deadline > now else { return now }
        let left = deadline - now
        return deadline - min(20_000_000, left / 5)
    }

    /// `completion`, run once: by the wait it guards, or with `fallback` at the caller's deadline or when
    /// the caller cancels — whichever comes first (the others are dropped). Without either, `completion` itself.
    /// The deadline and cancellation are watched from `arm()` on, called right before the wait starts (so a
    /// wait that stalls before it registers anything is still bounded); `arm()` after the wait has already
    /// completed does nothing.
    static func bounded(_ completion: @escaping @Sendable (TokenTrace, UInt64) -> Void, caller: CallerLimits,
                        fallback: @escaping @Sendable (GiveUp) -> (TokenTrace, UInt64))
        -> (completion: @Sendable (TokenTrace, UInt64) -> Void, arm: @Sendable () -> Void)
    {
        guard caller.deadline != nil || caller.cancellation != nil else { return (completion, {}) }
        let done = Once()
        let giveUp: @Sendable (GiveUp) -> Void = { why in
            if done.claim() {
                let (trace, waited) = fallback(why)
                completion(trace, waited)
            }
        }
        let arm: @Sendable () -> Void = {
            guard !done.isClaimed else { return }
            if let deadline = caller.deadline { DeadlineTimer.shared.schedule(at: answerBy(deadline)) { giveUp(.deadline) } }
            caller.cancellation?.onCancel { giveUp(.cancelled) }
        }
        return ({ trace, waited in if done.claim() { completion(trace, waited) } }, arm)
    }
}

/// Why a wait for keys ended without them.
enum GiveUp: CustomStringConvertible {
    case deadline, cancelled
    var description: String {
        switch self {
        case .deadline: "'s deadline"
        case .cancelled: " cancelled the check"
        }
    }
}

/// What bounds a check's waits for keys: the caller's deadline (monotonic nanoseconds) and its cancellation.
public struct CallerLimits: Sendable {
    public var deadline: UInt64?
    public var cancellation: Cancellation?
    /// false for a dry-run check: keys not at hand (a cold source) and an unknown `kid` are answered at
    /// once from what the slot holds, so the authenticator completes before it returns.
    public var waitsForKeys: Bool

    public init(deadline: UInt64? = nil, cancellation: Cancellation? = nil, waitsForKeys: Bool = true) {
        self.deadline = deadline
        self.cancellation = cancellation
        self.waitsForKeys = waitsForKeys
    }
}

/// True for the first `claim` only.
final class Once: Sendable {
    private let taken = Atomic<Bool>(false)
    func claim() -> Bool { !taken.exchange(true, ordering: .acquiringAndReleasing) }
    var isClaimed: Bool { taken.load(ordering: .acquiring) }
}

extension JWTError {
    /// `Jwt issuer is not configured` (Envoy's `JwtUnknownIssuer`), whatever the precise cause.
    var isUnknownIssuer: Bool {
        switch self {
        case .issuerNotConfigured, .issuerMismatch: return true
        default: return false
        }
    }
}

extension JWKSSource {
    /// Whether a refetch can bring new keys: remote and discovery sources, and files (re-read);
    /// inline keys are fixed until the policies reload.
    var canRefetch: Bool {
        switch self {
        case .remote, .discovery, .file: return true
        case .inline: return false
        }
    }
}
