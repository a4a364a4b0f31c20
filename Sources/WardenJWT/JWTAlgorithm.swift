import WardenCrypto

/// The JWS algorithms Warden verifies (the set Envoy jwt_authn implements). `none` is never one of them.
public enum JWTAlgorithm: String, Sendable, Hashable, CaseIterable {
    case RS256, RS384, RS512
    case PS256, PS384, PS512
    case ES256, ES384, ES512
    case EdDSA
    case HS256, HS384, HS512

    /// The key type (`kty`) that can verify this algorithm.
    public var keyType: String {
        switch self {
        case .RS256, .RS384, .RS512, .PS256, .PS384, .PS512: return "RSA"
        case .ES256, .ES384, .ES512: return "EC"
        case .EdDSA: return "OKP"
        case .HS256, .HS384, .HS512: return "oct"
        }
    }

    /// The digest the algorithm uses (nil for EdDSA).
    public var digest: Digest? {
        switch self {
        case .RS256, .PS256, .ES256, .HS256: return .sha256
        case .RS384, .PS384, .ES384, .HS384: return .sha384
        case .RS512, .PS512, .ES512, .HS512: return .sha512
        case .EdDSA: return nil
        }
    }

    /// The curve an ES* algorithm requires (ES256 ↔ P-256, ES384 ↔ P-384, ES512 ↔ P-521).
    public var curve: Curve? {
        switch self {
        case .ES256: return .p256
        case .ES384: return .p384
        case .ES512: return .p521
        default: return nil
        }
    }

    /// The public-key signature scheme, or nil for the HMAC algorithms.
    public var signatureScheme: SignatureScheme? {
        switch self {
        case .RS256, .RS384, .RS512: return .rsaPKCS1v15(digest!)
        case .PS256, .PS384, .PS512: return .rsaPSS(digest!)
        case .ES256, .ES384, .ES512: return .ecdsaRaw(digest!)
        case .EdDSA: return .ed25519
        case .HS256, .HS384, .HS512: return nil
        }
    }
}
