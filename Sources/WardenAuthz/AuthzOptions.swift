import WardenJWT

/// Knobs of the check pipeline that are not part of the Istio policies.
public struct AuthzOptions: Sendable {
    /// Allowed `exp`/`nbf` skew in seconds (Envoy's default: 60).
    public var clockSkew: Double = 60
    /// Reject tokens without `exp` (Envoy's `require_expiration`; Istio does not).
    public var requireExpiration = false
    /// Longest token accepted, in bytes.
    public var maxTokenBytes = 8192
    /// `x-forwarded-for` hops trusted when deriving `remote.ip` (Istio's `numTrustedProxies`).
    public var numTrustedProxies = 0
    /// Add `x-warden-decision`, `x-warden-reason` and `x-warden-denied-by` headers.
    public var debugHeaders = false
    /// Operator-provided local JWKS files by issuer (`--jwks-file ISSUER=PATH`): they replace the rule's
    /// `jwks`/`jwksUri`/discovery, e.g. for air-gapped clusters; HMAC (`oct`) keys are allowed there.
    public var jwksFiles: [String: String] = [:]
    /// Distinct workload scopes whose compiled policies are cached (per-request `context_extensions` scoping).
    public var maxCachedScopes = 1024
    /// The deadline of a check whose caller sent none (gRPC without `grpc-timeout`), in seconds: it bounds
    /// how long the check may wait for keys. Well under Envoy's default ext_authz timeout (200 ms).
    public var defaultDeadline: Double = 0.1
    /// How far a DPoP proof's `iat` may be from now, either way, in seconds (RFC 9449 §4.3 step 11); also
    /// how long its `jti` is remembered against replay.
    public var dpopProofWindow: Double = 60
    /// Proof ids remembered against replay (per process; oldest evicted first when full).
    public var dpopReplayCapacity = 100_000
    /// With a shared replay store (Redis) that cannot answer: false fails closed (503), true falls back to
    /// this process's cache (a proof may then be replayed once per replica).
    public var dpopReplayFallbackToLocal = false
    /// Stateless DPoP server nonces (RFC 9449 §9), nil when off: every proof must then carry a nonce minted
    /// with this key (by any replica holding it) within its lifetime.
    public var dpopNonces: DPoPNonces?
    /// A check that reaches Warden with less time than this before its caller's deadline is not started
    /// (shed, answered UNAVAILABLE at once): under overload the queue ahead of it ate its time, and a
    /// decision after the deadline helps nobody. Seconds; 0 never sheds.
    public var shedMargin: Double = 0.002

    var defaultDeadlineNanos: UInt64 { UInt64(max(0, defaultDeadline) * 1e9) }
    var shedMarginNanos: UInt64 { UInt64(max(0, shedMargin) * 1e9) }

    public init() {}
}
