import WardenCrypto
import WardenJSON

/// A token whose signature and claims checked out: what authorization and header output use.
public struct VerifiedJWT: Sendable {
    public let issuer: String?
    public let subject: String?
    public let audiences: [String]
    /// `azp`, Istio's `request.auth.presenter`.
    public let presenter: String?
    public let claims: [String: JSONValue]
    public let expiresAt: Double?
    public let notBefore: Double?
    public let issuedAt: Double?
    public let header: JOSEHeader
    /// nil for an opaque token's introspected claims.
    public let algorithm: JWTAlgorithm?
    /// The RFC 7662 endpoint that vouched for an opaque token (nil for a JWT).
    public let introspectedBy: String?
    /// The base64url payload segment exactly as in the token (Istio `outputPayloadToHeader`).
    public let payloadSegment: String
    /// The key that verified the signature (now or when the token was cached).
    public let verifiedBy: KeyFingerprint
    /// True when the signature check was skipped because a token cache had verified this token before.
    public let fromCache: Bool
    /// The `cnf` claim: how the presenter must prove possession (nil: a plain bearer token).
    public let confirmation: Confirmation?

    /// Istio's `request.auth.principal`: `iss/sub` (nil unless both are present).
    public var principal: String? {
        guard let issuer, let subject else { return nil }
        return issuer + "/" + subject
    }

    /// A verified view of `jwt`, whose signature `verifiedBy` checked (now, or before: `fromCache`).
    public init(_ jwt: UnverifiedJWT, verifiedBy: KeyFingerprint, fromCache: Bool) {
        issuer = jwt.issuer
        subject = jwt.subject
        audiences = jwt.audiences
        presenter = jwt.presenter
        claims = jwt.claims
        expiresAt = jwt.expiresAt
        notBefore = jwt.notBefore
        issuedAt = jwt.issuedAt
        header = jwt.header
        algorithm = jwt.algorithm
        introspectedBy = jwt.introspectedBy
        payloadSegment = String(jwt.payloadSegment)
        self.verifiedBy = verifiedBy
        self.fromCache = fromCache
        confirmation = Confirmation(claims: jwt.claims)
    }

    /// The identity of an opaque token from an active introspection answer (`jwt.introspectedBy` set):
    /// `verifiedBy` names the endpoint, not a key.
    public init(introspected jwt: UnverifiedJWT) {
        self.init(jwt, verifiedBy: KeyFingerprint(Digest.sha256.hash(Array((jwt.introspectedBy ?? "").utf8))), fromCache: false)
    }
}
