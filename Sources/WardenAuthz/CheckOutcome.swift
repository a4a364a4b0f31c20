import WardenPolicy

/// A decision with everything needed to explain it: reason, metric label, matched policy, principal.
public struct CheckOutcome: Sendable {
    public var decision: Decision
    /// Human explanation, e.g. `Jwt is expired: exp 1700000000 is 3600 s before now (skew 60 s)`.
    public var reason: String
    /// Stable snake_case label for metrics: `allowed`, `jwt_expired`, `policy_denied`, …
    public var reasonCode: String
    /// `ns/name rule[i]` of the policy that decided, if one did.
    public var policy: String?
    /// `iss/sub` of the verified token, if any.
    public var principal: String?
    /// The policy generation the check ran on.
    public var generation: Int
    /// `decision`'s dynamic metadata already encoded (a `google.protobuf.Struct`), when known.
    var encodedMetadata: [UInt8]?

    public init(decision: Decision, reason: String, reasonCode: String, policy: String? = nil, principal: String? = nil, generation: Int = 0) {
        self.decision = decision
        self.reason = reason
        self.reasonCode = reasonCode
        self.policy = policy
        self.principal = principal
        self.generation = generation
    }
}
