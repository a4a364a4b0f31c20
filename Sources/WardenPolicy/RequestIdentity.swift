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

    public init(issuer: String, subject: String, audiences: [String], presenter: String?, claims: [String: JSONValue]) {
        self.principal = "\(issuer)/\(subject)"
        self.issuer = issuer
        self.subject = subject
        self.audiences = audiences
        self.presenter = presenter
        self.claims = claims
    }
}
