import WardenJWT
import WardenPolicy

/// A token that passed every check, with the provider (rule) that accepted it.
///
/// A class: it is passed through several closures and arrays per check, and copying a struct of this
/// size cost ~12k instructions per cached check in retains and releases (docs/performance.md).
final class VerifiedToken: Sendable {
    let extracted: ExtractedToken
    let provider: JWTProvider
    let jwt: VerifiedJWT
    /// The claims as an encoded `google.protobuf.Struct` (the `jwt_payload` metadata), when the
    /// parsed-token memo already holds it; nil means encode from `jwt.claims`.
    let encodedClaims: [UInt8]?
    /// Istio's `request.auth.*` view of the token (built once per remembered token).
    let identity: RequestIdentity
    /// The parsed-token memo's entry this token was answered from, if any.
    let remembered: RecentTokens.Entry?

    init(extracted: ExtractedToken, provider: JWTProvider, jwt: VerifiedJWT, encodedClaims: [UInt8]? = nil,
         identity: RequestIdentity? = nil, remembered: RecentTokens.Entry? = nil) {
        self.remembered = remembered
        self.extracted = extracted
        self.provider = provider
        self.jwt = jwt
        self.encodedClaims = encodedClaims
        self.identity = identity ?? RequestIdentity(jwt)
    }
}

extension RequestIdentity {
    /// The identity a verified token gives a request.
    init(_ jwt: VerifiedJWT) {
        self.init(issuer: jwt.issuer ?? "", subject: jwt.subject ?? "", audiences: jwt.audiences,
                  presenter: jwt.presenter, claims: jwt.claims)
    }
}

/// Why authentication failed: the JWT error and where the offending token was found.
struct AuthenticationFailure: Error, Sendable {
    let error: JWTError
    let location: TokenLocation?
}
