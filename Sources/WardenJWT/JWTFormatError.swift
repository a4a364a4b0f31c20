/// Why a token could not be parsed. Each case maps to the jwt_verify_lib status Envoy reports for it.
public enum JWTFormatError: Sendable, Hashable {
    /// Not three non-empty dot-separated segments (`JwtBadFormat`).
    case notCompact(segments: Int)
    /// Five segments: a JWE (encrypted token), which Warden never accepts (`JwtBadFormat`).
    case encrypted
    /// Header is not strict base64url (`JwtHeaderParseErrorBadBase64`).
    case headerBase64
    /// Header is not a JSON object within the limits (`JwtHeaderParseErrorBadJson`).
    case headerJSON(String)
    /// Header `alg` missing or not a string (`JwtHeaderBadAlg`).
    case algorithmMissing
    /// Header `kid` present but not a string (`JwtHeaderBadKid`).
    case kidNotString
    /// Header `crit` lists extensions Warden does not understand (RFC 7515 §4.1.11), or is malformed.
    case unsupportedCritical([String])
    /// Payload is not strict base64url (`JwtPayloadParseErrorBadBase64`).
    case payloadBase64
    /// Payload is not a JSON object within the limits (`JwtPayloadParseErrorBadJson`).
    case payloadJSON(String)
    /// A registered claim has the wrong JSON type (`iss`/`sub`/`jti` not a string, `exp`/`nbf`/`iat`
    /// not a number, `aud` not a string or list of strings, `azp` not a string).
    case claimType(claim: String)
    /// A numeric date is negative or beyond 64-bit range (`Jwt…OutOfRange`).
    case claimOutOfRange(claim: String)
    /// Signature is not strict base64url (`JwtSignatureParseErrorBadBase64`).
    case signatureBase64
}
