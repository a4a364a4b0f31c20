import WardenJSON

/// The authenticated request identity from a verified JWT (Istio's `request.auth.*`).
public struct RequestIdentity: Sendable, Equatable {
    /// `iss/sub`, Istio's request principal.
    public var principal: String
    public var issuer: String
    public var subject: String
    public var audiences: [String]
    /// `azp` claim.
    public var presenter: String?
    /// Every claim of the verified payload.
    public var claims: [String: JSONValue]
    /// The provider that verified the token, when a rule's match depends on it: `ns/name/provider` for an
    /// Envoy Gateway SecurityPolicy's `jwt.providers[]` (`JWTRule.gatewayProviderID`), nil otherwise. A
    /// `principal.jwt.provider` matches only the tokens its own provider verified (audiences and keys
    /// included), as Envoy Gateway's matcher reads that provider's `payload_in_metadata` entry only.
    public var verifiedBy: String?

    public init(issuer: String, subject: String, audiences: [String], presenter: String?, claims: [String: JSONValue]) {
        self.principal = "\(issuer)/\(subject)"
        self.issuer = issuer
        self.subject = subject
        self.audiences = audiences
        self.presenter = presenter
        self.claims = claims
    }
}
