import WardenPolicy

/// A decision with everything needed to explain it: reason, metric label, matched policy, principal.
public struct CheckOutcome: Sendable {
    public var decision: Decision {
        didSet { encodedMetadata = nil; encodedResponse = nil }  // cached encodings were of the old decision
    }
    /// Human explanation, e.g. `Jwt is expired: exp 1700000000 is 3600 s before now (skew 60 s)`.
    public var reason: String {
        get {
            switch explanation {
            case .text(let reason, _): return reason
            case .authorization(let d): return d.reason
            }
        }
        set { explanation = .text(newValue, policy: policy) }
    }
    /// Stable snake_case label for metrics: `allowed`, `jwt_expired`, `policy_denied`, …
    public var reasonCode: String
    /// `ns/name rule[i]` of the policy that decided, if one did.
    public var policy: String? {
        get {
            switch explanation {
            case .text(_, let policy): return policy
            case .authorization(let d): return ResponseBuilder.policy(of: d)
            }
        }
        set { explanation = .text(reason, policy: newValue) }
    }
    /// `iss/sub` of the verified token, if any.
    public var principal: String?
    /// The policy generation the check ran on.
    public var generation: Int
    /// `decision`'s dynamic metadata already encoded (a `google.protobuf.Struct`), when known.
    var encodedMetadata: [UInt8]?
    /// The whole encoded `CheckResponse` for `decision`, when known (a remembered allow answer).
    var encodedResponse: [UInt8]?

    /// Reason and policy, as text or as the authorization decision they are rendered from when read:
    /// most checks never read them (the decision log is off at info level for allows), and rendering
    /// both cost ~5k instructions per check.
    private enum Explanation: Sendable {
        case text(String, policy: String?)
        case authorization(AuthorizationDecision)
    }

    private var explanation: Explanation

    public init(decision: Decision, reason: String, reasonCode: String, policy: String? = nil, principal: String? = nil, generation: Int = 0) {
        self.decision = decision
        self.explanation = .text(reason, policy: policy)
        self.reasonCode = reasonCode
        self.principal = principal
        self.generation = generation
    }

    /// An outcome whose reason and policy are `authorization`'s.
    init(decision: Decision, authorization: AuthorizationDecision, reasonCode: String, principal: String?, generation: Int) {
        self.decision = decision
        self.explanation = .authorization(authorization)
        self.reasonCode = reasonCode
        self.principal = principal
        self.generation = generation
    }
}
