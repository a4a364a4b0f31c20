import WardenCrypto

/// One usable JSON Web Key: its metadata plus the ready-to-use key (an OpenSSL public key or an HMAC secret).
public struct JWK: Sendable {
    /// Key ID (`kid`), if the key has one. A key without `kid` matches any token `kid` (as Envoy).
    public let kid: String?
    /// Key type: `RSA`, `EC`, `OKP` or `oct`.
    public let kty: String
    /// The algorithm the key is restricted to (`alg`), if declared.
    public let alg: String?
    /// The curve (`crv`) of EC and OKP keys.
    public let crv: String?
    /// Identity of the key material and its constraints; the verified-token cache remembers it.
    public let fingerprint: KeyFingerprint

    enum Material: Sendable {
        case publicKey(PublicKey)
        case secret(HMACKey)
    }

    let material: Material

    /// The public key, or nil for a symmetric (`oct`) key.
    public var publicKey: PublicKey? {
        if case .publicKey(let k) = material { return k }
        return nil
    }

    /// Whether this is a symmetric (`oct`) key.
    public var isSymmetric: Bool {
        if case .secret = material { return true }
        return false
    }

    /// A key from an operator-supplied public key (e.g. a PEM file), optionally restricted to `alg`.
    public init(publicKey: PublicKey, kid: String? = nil, alg: JWTAlgorithm? = nil) {
        let kty: String, crv: String?
        switch publicKey.kind {
        case .rsa: kty = "RSA"; crv = nil
        case .ec(let c): kty = "EC"; crv = c.rawValue
        case .ed25519: kty = "OKP"; crv = "Ed25519"
        }
        self.init(kid: kid, kty: kty, alg: alg?.rawValue, crv: crv, material: .publicKey(publicKey),
                  materialBytes: publicKey.subjectPublicKeyInfo)
    }

    /// A symmetric key for HS256/384/512; only ever built from operator configuration.
    public init(secret: [UInt8], kid: String? = nil, alg: JWTAlgorithm? = nil) {
        self.init(kid: kid, kty: "oct", alg: alg?.rawValue, crv: nil, material: .secret(HMACKey(secret)),
                  materialBytes: Digest.sha256.hash(secret))
    }

    init(kid: String?, kty: String, alg: String?, crv: String?, material: Material, materialBytes: [UInt8]) {
        self.kid = kid
        self.kty = kty
        self.alg = alg
        self.crv = crv
        self.material = material
        var id: [UInt8] = []
        for part in [kty, kid ?? "\u{0}", alg ?? "\u{0}", crv ?? "\u{0}"] { id += Array(part.utf8) + [0xFF] }
        self.fingerprint = KeyFingerprint(Digest.sha256.hash(id + materialBytes))
    }

    /// Whether this key may verify a token with `algorithm`: the key type decides (an RSA key never
    /// verifies HS*/ES*/EdDSA), a declared `alg` must be equal, the EC curve must match, and an HMAC
    /// secret must be at least as long as the digest (RFC 7518 §3.2).
    public func canVerify(_ algorithm: JWTAlgorithm) -> Bool {
        if let alg, alg != algorithm.rawValue { return false }
        switch material {
        case .publicKey(let key):
            guard let scheme = algorithm.signatureScheme, key.supports(scheme) else { return false }
            if let curve = algorithm.curve, key.kind != .ec(curve) { return false }
            return true
        case .secret(let secret):
            guard algorithm.keyType == "oct", let digest = algorithm.digest else { return false }
            return secret.bytes.count >= digest.byteCount
        }
    }

    /// Whether `signature` over `signingInput` verifies with this key for `algorithm`.
    func verify<Input: Collection<UInt8>>(_ signature: [UInt8], over signingInput: Input, algorithm: JWTAlgorithm) -> Bool {
        guard canVerify(algorithm) else { return false }
        switch material {
        case .publicKey(let key):
            return key.isValidSignature(signature, for: signingInput, scheme: algorithm.signatureScheme!)
        case .secret(let secret):
            return secret.isValidAuthenticationCode(signature, for: signingInput, digest: algorithm.digest!)
        }
    }
}

/// A 128-bit identity of a key (truncated SHA-256 of its type, kid, alg, curve and material).
public struct KeyFingerprint: Sendable, Hashable, CustomStringConvertible {
    let high: UInt64
    let low: UInt64

    init(_ digest: [UInt8]) {
        var h: UInt64 = 0, l: UInt64 = 0
        for i in 0..<8 { h = h << 8 | UInt64(digest[i]); l = l << 8 | UInt64(digest[8 + i]) }
        high = h
        low = l
    }

    public var description: String {
        let hex = String(high, radix: 16) + String(low, radix: 16)
        return String(repeating: "0", count: max(0, 32 - hex.count)) + hex
    }
}
