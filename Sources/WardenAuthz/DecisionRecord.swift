import WardenJWT
import WardenPolicy

/// The typed trace of one check: what was found, what ran, how each step ended, and why the answer is
/// what it is. The single source of every explanation: the decision log line, `x-warden-reason`, the
/// metric labels and `warden explain` are renderings of it, never computed on their own.
///
/// A class: it travels through the completion closures of a check and into its result, and copying a
/// struct of this size cost ~2.7k instructions per cached check in retains and releases (callgrind).
/// `@unchecked Sendable`: `CheckService` fills it in on the one thread running the check and never
/// touches it after handing it out; readers only read.
public final class DecisionRecord: @unchecked Sendable {
    /// The policy generation the check ran on.
    public let generation: Int
    /// The compiled policies the check ran on.
    let scopePlan: ScopePlan
    /// The workload scope the policies were selected for (the server's, or the route's `context_extensions`).
    public var scope: WorkloadScope { scopePlan.effective.scope }
    /// A CORS preflight: tokens were not looked for (Istio sets jwt_authn's `bypass_cors_preflight`).
    public let corsPreflight: Bool
    /// Every token found, in extraction order, with its outcome.
    public internal(set) var tokens: [TokenTrace] = []
    /// The index in `tokens` of the token whose failure answered the check, if one did.
    public internal(set) var rejectedToken: Int?
    /// Set when every token verified on its own but they were rejected together (tokens of several issuers
    /// where no rule finds only its own, `JWTError.mixedIssuers`); `rejectedToken` names the token reported.
    public internal(set) var rejectedTogether: JWTError?
    /// Set when the request carries no token and a rule in scope requires one (`presence: REQUIRED`):
    /// the check was answered 401 `Jwt is missing` without a token trace.
    public internal(set) var missingToken: JWTError?
    /// The AuthorizationPolicy evaluation; nil when a token was rejected first.
    public internal(set) var authorization: AuthorizationDecision?
    /// Why the check ended as it did.
    public internal(set) var reasonCode: ReasonCode = .allowed
    /// Monotonic nanoseconds when the front door had the request (before decoding it).
    public let receivedAt: UInt64
    /// Nanoseconds spent waiting for keys that were not cached (a cold source or an unknown-kid refetch).
    public internal(set) var keyWaitNanos: UInt64 = 0
    /// Monotonic nanoseconds when that wait ended (0: no wait).
    public internal(set) var keyWaitEndedAt: UInt64 = 0
    /// Monotonic nanoseconds when the decision was made.
    public internal(set) var decidedAt: UInt64 = 0
    /// Output headers not set because the claim's value is not a valid header value (the client's copy is
    /// still removed).
    public internal(set) var droppedHeaders: [DroppedHeader] = []
    /// A fresh DPoP server nonce for the client (RFC 9449 §9), sent as `DPoP-Nonce` with a `use_dpop_nonce`
    /// 401 or with an allow whose proof's nonce is past half its lifetime; nil when nonces are off.
    public internal(set) var dpopNonce: String?
    /// What the `istio.io/dry-run` RequestAuthentications and TokenPolicies in scope would have answered,
    /// had they been enforced; nil when none applies (or for the dry-run check's own record).
    public internal(set) var dryRun: DryRunOutcome?
    /// What each Envoy `jwt_authn` document decided, in load order (empty without such documents). A failure
    /// answers the check (401/403 with Envoy's body) before the Istio resources are looked at.
    public internal(set) var jwtAuthn: [JwtAuthnStep] = []
    /// The replay store's verdict on this request's DPoP proof, from the step that asked it (jwt_authn or
    /// Istio); nil when none did. Every later look at the proof in this check, the dry-run check's too,
    /// uses it: the store is asked at most once per check.
    var dpopReplay: ReplayVerdict?
    /// The jwt_authn failure that answered the check, if one did.
    public var jwtAuthnFailure: JWTError? { jwtAuthn.lazy.compactMap(\.error).first }
    /// The check's place in a trace, when tracing is on and the request has a context (or was sampled).
    public internal(set) var trace: TraceIdentity?

    /// The protocol the request arrived by.
    public let frontDoor: FrontDoor

    init(generation: Int, scopePlan: ScopePlan, corsPreflight: Bool, receivedAt: UInt64, frontDoor: FrontDoor = .grpc) {
        self.frontDoor = frontDoor
        self.generation = generation
        self.scopePlan = scopePlan
        self.corsPreflight = corsPreflight
        self.receivedAt = receivedAt
    }

    /// The token rejection that answered the check.
    public var rejection: (error: JWTError, location: TokenLocation)? {
        guard let i = rejectedToken, let e = rejectedTogether ?? tokens[i].error else { return nil }
        return (e, tokens[i].location)
    }

    /// Istio's request principal (`iss/sub`) the decision is about: with several verified tokens, that of
    /// the identity whose evaluation decided (the denied one, for a denial), else the first verified token's.
    public var principal: String? {
        guard rejectedToken == nil else { return nil }
        if let who = authorization?.decidingIdentity { return who.principal }
        return tokens.lazy.compactMap(\.identity).first?.principal
    }

    /// The identities the AuthorizationPolicies saw: one per verified token, in extraction order (every
    /// token present, as none was rejected); empty without a token. Each must be allowed on its own.
    public var identities: [RequestIdentity] {
        guard rejectedToken == nil else { return [] }
        return tokens.compactMap(\.identity)
    }

    /// Per SecurityPolicy (its dialect label, `AuthorizationStage.securityPolicy`), the identities its own jwt_authn
    /// requirement verified: that policy's authorization stage sees these, never the Istio resources' tokens.
    public var securityPolicyIdentities: [String: [RequestIdentity]] {
        var out: [String: [RequestIdentity]] = [:]
        for step in jwtAuthn where step.plan.filter.onlyWith != nil {
            guard let sp = step.plan.filter.origin.dialect else { continue }
            out[sp, default: []] += step.tokens.filter { $0.verified != nil }.compactMap(\.identity)
        }
        return out
    }

    /// The token exchange this allowed request went through (RFC 8693), if a TokenPolicy asked for one.
    public internal(set) var exchange: ExchangeStep?

    /// One human line, e.g. `Jwt is expired: expired at 1700000000, now 1700003600 (clock skew included)
    /// (token from header authorization (prefix "Bearer "))` or `denied by DENY policy ns/name rule[0]`.
    public var reason: String {
        if let step = jwtAuthn.first(where: { $0.error != nil }), let e = step.error {
            let token = step.tokens.first { $0.error != nil }.map { " (token from \($0.location))" } ?? ""
            return "\(e.envoyMessage): \(e.detail)\(token) [\(step.document) \(step.selection)]"
        }
        if let (e, location) = rejection { return "\(e.envoyMessage): \(e.detail) (token from \(location))" }
        if let x = exchange, let failure = x.failure { return failure }
        if let e = missingToken { return "\(e.envoyMessage): \(e.detail)" }
        return authorization?.reason ?? "allowed"
    }

    /// `ns/name rule[i]` of the policy that decided, if one did.
    public var policy: String? {
        switch authorization?.verdict {
        case .allow(.allowPolicyMatched(let m))?, .deny(.denyPolicyMatched(let m))?: return scopePlan.label(for: m)
        default: return nil
        }
    }

    /// Seconds from `receivedAt` to `decidedAt`.
    public var seconds: Double { Double(decidedAt &- receivedAt) / 1e9 }
}

/// What a check would have answered with the dry-run token resources of its scope enforced (with the
/// enforced ones): the same check run on `ScopePlan.dryRun`, without waiting for keys.
public struct DryRunOutcome: Sendable {
    /// `Kind/namespace/name` of each dry-run token resource in scope.
    public let resources: [String]
    /// The HTTP status it would have answered (200: allow).
    public let status: Int
    /// The dry-run check's record: its tokens, reason and reason code.
    public let record: DecisionRecord

    public var reasonCode: ReasonCode { record.reasonCode }
    public var wouldAllow: Bool { status == 200 }
    /// The `would` label: `allow`, or `deny_<status>` (`deny_401`, `deny_403`).
    public var would: String { wouldAllow ? "allow" : "deny_\(status)" }
}

/// An output header Warden did not set: its value would not be a valid HTTP field value (RFC 9110 §5.5).
public struct DroppedHeader: Sendable, Equatable {
    /// The header (lower case).
    public let header: String
    /// The claim it comes from; nil for `outputPayloadToHeader`.
    public let claim: String?
    /// What is wrong with the value (never the value itself), e.g. `contains LF`.
    public let problem: String
    /// The log's reason code for a dropped header.
    public static let reasonCode = "invalid_header_value"
}

/// What a check returns: the decision a front door renders, and the record of how it was reached.
public struct CheckResult: Sendable {
    public let decision: Decision
    public let record: DecisionRecord
    /// Set when this allow answer is, byte for byte, the one every check with the same key gets: one
    /// cached token from a header, the same compiled policies, no debug headers. A front door may keep
    /// its encoding of the answer under this key (bounded); nil means encode this answer afresh.
    public let answerKey: AnswerKey?
}

/// Identifies an allow answer that does not depend on the request beyond its token: the token-cache
/// entry (serial numbers are never reused), the compiled scope and the header the token came from.
public struct AnswerKey: Sendable, Hashable {
    let entry: UInt64
    let scope: UInt64
    let header: String
    /// The exchanged token the answer carries ("" without an exchange): a renewed one is another answer.
    var exchanged: String = ""

    /// A well-spread hash for a direct-mapped memo.
    public var slot: Int { Int(truncatingIfNeeded: (entry &* 0x9E37_79B9_7F4A_7C15) ^ (scope &* 0xBF58_476D_1CE4_E5B9)) }
}

/// One token exchange of a check: for which rule and token, and how it ended. Never holds a token.
public struct ExchangeStep: Sendable {
    public enum Result: Sendable, Equatable {
        /// The exchanged token replaced the original toward the upstream (`cached`: no call was made).
        case exchanged(cached: Bool)
        /// The token endpoint refused (RFC 8693 §2.2.2) with this OAuth `error` and description.
        case refused(error: String, description: String?)
        /// No usable answer (down, slow past the deadline, malformed, secret unreadable, busy).
        case unavailable(String)
        /// Not asked: whether this rule applies depends on connection facts the front door did not report
        /// (`to.ports`/`notPorts` at the HTTP front door), so the request is refused (fail closed) rather than
        /// sent on without the exchange.
        case connectionFactUnreported([ConnectionFact])
    }

    /// The token endpoint.
    public let endpoint: String
    public let audiences: [String]
    public let resources: [String]
    /// The header the exchanged token is set in.
    public let header: String
    /// The index of the subject token in `DecisionRecord.tokens`.
    public let tokenIndex: Int
    public internal(set) var result: Result
    /// The exchanged token, for the response builder only (never logged, never in explain).
    let token: String?
    /// How long the exchange took, and when it ended (monotonic); both 0 unless the check is traced and
    /// sampled (they are the span's event).
    public internal(set) var waitNanos: UInt64 = 0
    public internal(set) var endedAt: UInt64 = 0

    /// Why the exchange failed the check, or nil when it succeeded.
    public var failure: String? {
        switch result {
        case .exchanged: return nil
        case .refused(let error, let description):
            return "Token exchange was refused: the token endpoint answered \(error)" + (description.map { " (\($0))" } ?? "")
        case .unavailable(let why): return "Token exchange is unavailable: \(why)"
        case .connectionFactUnreported(let facts):
            return "Token exchange cannot be decided: the rule's `to` needs \(facts.map(\.rawValue).joined(separator: ", ")), "
                + "which this front door does not report"
        }
    }
}
