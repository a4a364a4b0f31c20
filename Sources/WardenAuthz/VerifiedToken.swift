import WardenJWT

/// A token that passed every check, with the provider (rule) that accepted it.
struct VerifiedToken: Sendable {
    let extracted: ExtractedToken
    let provider: JWTProvider
    let jwt: VerifiedJWT
}

/// Why authentication failed: the JWT error and where the offending token was found.
struct AuthenticationFailure: Error, Sendable {
    let error: JWTError
    let location: TokenLocation?
}
