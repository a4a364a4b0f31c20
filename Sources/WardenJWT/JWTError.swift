/// Why a token or key set was rejected. Placeholder: the JWT work defines one case per cause.
public enum JWTError: Error, Sendable, Equatable {
    case malformed(String)
    case malformedJWKS(String)
}
