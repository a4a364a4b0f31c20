/// The NIST prime curves JOSE uses for ECDSA.
public enum Curve: String, Sendable, Hashable, CaseIterable {
    case p256 = "P-256"
    case p384 = "P-384"
    case p521 = "P-521"

    /// Size in bytes of one coordinate (and of R or S in a raw signature).
    public var coordinateByteCount: Int {
        switch self {
        case .p256: return 32
        case .p384: return 48
        case .p521: return 66
        }
    }

    /// The OpenSSL group name.
    var groupName: String {
        switch self {
        case .p256: return "prime256v1"
        case .p384: return "secp384r1"
        case .p521: return "secp521r1"
        }
    }
}

/// A signature scheme over a public key.
public enum SignatureScheme: Sendable, Hashable {
    /// RSASSA-PKCS1-v1_5 (JOSE RS*).
    case rsaPKCS1v15(Digest)
    /// RSASSA-PSS with MGF1 over the same digest and salt length = digest length (JOSE PS*).
    case rsaPSS(Digest)
    /// ECDSA with a raw `R || S` signature as in JOSE (ES*) and IEEE P1363.
    case ecdsaRaw(Digest)
    /// Ed25519 (JOSE EdDSA with crv Ed25519).
    case ed25519
}
