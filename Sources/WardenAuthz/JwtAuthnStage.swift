import WardenJWT
import WardenPolicy

/// What one Envoy `jwt_authn` document decided for a check (`DecisionRecord.jwtAuthn`).
public struct JwtAuthnStep: Sendable {
    /// How the requirement was chosen.
    public enum Selection: Sendable, Equatable, CustomStringConvertible {
        /// `rules[i]` matched first.
        case rule(Int)
        /// The route named it (`context_extensions` `jwt_authn.requirement_name`).
        case requirementName(String)
        /// No rule matched: nothing is required.
        case noRule
        /// The route turned the filter off (`jwt_authn.disabled: "true"`).
        case disabled
        /// A CORS preflight with `bypass_cors_preflight`.
        case corsPreflight

        public var description: String {
            switch self {
            case .rule(let i): return "rules[\(i)]"
            case .requirementName(let n): return "requirement_map[\(n)]"
            case .noRule: return "no rule matched"
            case .disabled: return "disabled by the route"
            case .corsPreflight: return "CORS preflight bypassed"
            }
        }
    }

    /// `Envoy jwt_authn <file>:<line>`.
    public let document: String
    public let selection: Selection
    /// The requirement's failure (Envoy's status for the answer), nil when it passed.
    public let error: JWTError?
    /// Every token the requirement's verifiers looked at, in the order they were verified.
    public let tokens: [TokenTrace]
    let plan: JwtAuthnPlan
    /// Nanoseconds its verifiers waited for keys that were not cached (or for an introspection answer).
    public internal(set) var keyWaitNanos: UInt64 = 0
    /// Monotonic nanoseconds when the step ended, set only when it waited (the span's event time).
    public internal(set) var keyWaitEndedAt: UInt64 = 0
}

/// Evaluates jwt_authn requirements as Envoy's verifiers do (`jwt_authn/verifier.cc`):
/// - a provider: its own locations; no token → `Jwt is missing`; every token there must verify with it
///   (another issuer's → `Jwt issuer is not configured`);
/// - `requires_any`: children in order, the first that passes passes; otherwise the errors are aggregated,
///   preferring any error to "issuer not configured" and that to "missing", and `allow_missing` turns a
///   final "missing" into a pass, `allow_missing_or_failed` every failure;
/// - `requires_all`: children in order, the first failure fails;
/// - `allow_missing` / `allow_missing_or_failed` alone: every provider's locations, the provider by `iss`.
///
/// Beyond Envoy, which reads no `cnf`: a verified token is also held to its binding (`TokenBinding`, as on the
/// Istio path) — a DPoP- or certificate-bound token presented as a bearer token fails, and `Authorization: DPoP`
/// needs its proof — so a stolen sender-constrained token is no bearer token on a jwt_authn route either.
struct JwtAuthnEvaluator: Sendable {
    let authenticator: Authenticator
    let dpop: DPoPVerifier

    typealias Done = @Sendable (JWTError?, [TokenTrace]) -> Void

    /// What one evaluation hands back besides its result: a fresh DPoP nonce for the answer. Used by one
    /// check's evaluation at a time (its steps run one after another).
    final class Scratch: @unchecked Sendable {
        var freshNonce: String?
        /// The replay store's verdict on the request's DPoP proof, once a step asked it: later steps of the same
        /// check (this document's other verifiers, the next documents, the Istio step, the dry-run check) use
        /// it without asking again, or the same request would be its own replay.
        var replayVerdict: ReplayVerdict?
        /// Nanoseconds the evaluation's verifiers waited for keys (or introspection answers), summed.
        var keyWaitNanos: UInt64 = 0
        /// Tokens earlier jwt_authn documents verified and removed (no `forward`): this one does not see them.
        var removed: RemovedTokens

        init(replayVerdict: ReplayVerdict? = nil, removed: RemovedTokens = RemovedTokens()) {
            self.replayVerdict = replayVerdict
            self.removed = removed
        }
    }

    /// Authenticates `tokens` and holds the verified ones to their binding; `rejected` names the failure.
    private func verify(_ tokens: [ExtractedToken], scope: ScopePlan, request: RequestAttributes, now: Double, caller: CallerLimits,
                        scratch: Scratch, done: @escaping @Sendable (JWTError?, [TokenTrace]) -> Void) {
        authenticator.authenticate(tokens, scope: scope, now: now, caller: caller) { [dpop] result in
            scratch.keyWaitNanos &+= result.keyWaitNanos
            var traces = result.traces, rejected = result.rejected
            if rejected == nil {
                TokenBinding.check(&traces, rejected: &rejected, tokens: tokens, request: request, now: now,
                                   dpop: dpop, freshNonce: &scratch.freshNonce, replayVerdict: &scratch.replayVerdict)
                if let i = rejected { return done(traces[i].error ?? .badSignature, traces) }
                return done(nil, traces)
            }
            done(Self.error(of: result), traces)
        }
    }

    func evaluate(_ r: CompiledJwtRequirement, request: RequestAttributes, now: Double, caller: CallerLimits, scratch: Scratch,
                  done: @escaping Done) {
        switch r {
        case .none:
            done(nil, [])
        case .unknownName(let name, let known):
            done(.wrongRequirementName(name: name, known: known), [])
        case .provider(let name, let scope):
            let tokens = scratch.removed.visible(scope.extractor.extract(from: request))
            if tokens.isEmpty { return done(.missing(rule: scope.rules.first?.rule.issuer ?? name, policy: "jwt_authn provider \(name)"), []) }
            verify(tokens, scope: scope, request: request, now: now, caller: caller, scratch: scratch, done: done)
        case .allowMissing(let scope):
            // Stricter than Envoy, whose allow_missing authenticator lets the last-verified token's status
            // decide: every token present must verify (README "Deliberately differs").
            let tokens = scratch.removed.visible(scope.extractor.extract(from: request))
            if tokens.isEmpty { return done(nil, []) }
            verify(tokens, scope: scope, request: request, now: now, caller: caller, scratch: scratch, done: done)
        case .allowMissingOrFailed(let scope):
            // Envoy verifies every token, each on its own, and applies the ones that verified.
            each(scratch.removed.visible(scope.extractor.extract(from: request)), 0, scope: scope, traces: [], request: request, now: now, caller: caller,
                 scratch: scratch) { traces in done(nil, traces) }
        case .all(let children):
            all(children, 0, traces: [], request: request, now: now, caller: caller, scratch: scratch, done: done)
        case .any(let children, let allowMissing, let allowFailed):
            any(children, 0, errors: [], traces: [], request: request, now: now, caller: caller, scratch: scratch) { errors, traces, passed in
                if passed { return done(nil, traces) }
                var final: JWTError?
                for e in errors {
                    let weak = Self.isMissing(e) || e.isUnknownIssuer
                    if !weak || final == nil || Self.isMissing(final!) { final = e }
                }
                if allowFailed || (allowMissing && (final.map(Self.isMissing) ?? true)) { return done(nil, traces) }
                done(final ?? .missing(rule: "", policy: "requires_any"), traces)
            }
        }
    }

    private func all(_ children: [CompiledJwtRequirement], _ i: Int, traces: [TokenTrace], request: RequestAttributes, now: Double,
                     caller: CallerLimits, scratch: Scratch, done: @escaping Done) {
        guard i < children.count else { return done(nil, traces) }
        evaluate(children[i], request: request, now: now, caller: caller, scratch: scratch) { error, more in
            if let error { return done(error, traces + more) }
            all(children, i + 1, traces: traces + more, request: request, now: now, caller: caller, scratch: scratch, done: done)
        }
    }

    private func any(_ children: [CompiledJwtRequirement], _ i: Int, errors: [JWTError], traces: [TokenTrace], request: RequestAttributes,
                     now: Double, caller: CallerLimits, scratch: Scratch, done: @escaping @Sendable ([JWTError], [TokenTrace], Bool) -> Void) {
        guard i < children.count else { return done(errors, traces, false) }
        evaluate(children[i], request: request, now: now, caller: caller, scratch: scratch) { error, more in
            guard let error else { return done(errors, traces + more, true) }
            any(children, i + 1, errors: errors + [error], traces: traces + more, request: request, now: now, caller: caller,
                scratch: scratch, done: done)
        }
    }

    /// Every token verified on its own (no token's failure stops the others); a bound token that fails its
    /// binding is dropped like one that failed verification.
    private func each(_ tokens: [ExtractedToken], _ i: Int, scope: ScopePlan, traces: [TokenTrace], request: RequestAttributes, now: Double,
                      caller: CallerLimits, scratch: Scratch, done: @escaping @Sendable ([TokenTrace]) -> Void) {
        guard i < tokens.count else { return done(traces) }
        verify([tokens[i]], scope: scope, request: request, now: now, caller: caller, scratch: scratch) { _, more in
            each(tokens, i + 1, scope: scope, traces: traces + more, request: request, now: now, caller: caller, scratch: scratch, done: done)
        }
    }

    static func error(of result: Authenticator.Result) -> JWTError? {
        guard let i = result.rejected else { return nil }
        return result.together ?? result.traces[i].error ?? .badSignature
    }

    static func isMissing(_ e: JWTError) -> Bool {
        if case .missing = e { return true }
        return false
    }
}
