internal import COpenSSL
internal import CWardenShims

/// An immutable public key backed by an OpenSSL `EVP_PKEY`, safe to use from many threads at once.
///
/// The `EVP_PKEY` itself is never mutated after construction, which OpenSSL 3 documents as safe for
/// concurrent use; verification contexts are initialised once per scheme and lent to one thread at a
/// time by a small pool (`VerifierPool`).
public final class PublicKey: @unchecked Sendable {
    /// What kind of key this is.
    public enum Kind: Sendable, Hashable {
        case rsa(bits: Int)
        case ec(Curve)
        case ed25519
    }

    public let kind: Kind
    let pkey: OpaquePointer
    private let verifiers = VerifierPool()

    private init(owning pkey: OpaquePointer, kind: Kind) {
        self.pkey = pkey
        self.kind = kind
    }

    deinit { EVP_PKEY_free(pkey) }

    // MARK: construction

    /// An RSA public key from the big-endian modulus and exponent (JWK `n`, `e`).
    ///
    /// - Throws: `.invalidKey` for an even or tiny exponent, an empty modulus, or when OpenSSL rejects it.
    public static func rsa(modulus: [UInt8], exponent: [UInt8]) throws(CryptoError) -> PublicKey {
        let n = modulus.drop { $0 == 0 }
        let e = exponent.drop { $0 == 0 }
        guard !n.isEmpty else { throw .invalidKey("RSA modulus is zero or empty") }
        guard let eLast = e.last, e.count <= 8 else { throw .invalidKey("RSA exponent is empty or longer than 64 bits") }
        guard eLast & 1 == 1, !(e.count == 1 && eLast < 3) else { throw .invalidKey("RSA exponent must be odd and at least 3") }
        guard n.last! & 1 == 1 else { throw .invalidKey("RSA modulus is even") }

        let nb = Array(n), eb = Array(e)
        OpenSSLErrorQueue.discardStale()
        let made = nb.withUnsafeBufferPointer { nn in
            eb.withUnsafeBufferPointer { ee in warden_rsa_public_key(nn.baseAddress, nn.count, ee.baseAddress, ee.count) }
        }
        guard let pkey = made else { throw OpenSSLErrorQueue.error("EVP_PKEY_fromdata(RSA)") }
        let bits = Int(EVP_PKEY_get_bits(pkey))
        return PublicKey(owning: pkey, kind: .rsa(bits: bits))
    }

    /// An EC public key from its affine coordinates (JWK `x`, `y`), each exactly the curve's coordinate size.
    ///
    /// - Throws: `.invalidKey` for wrong lengths or a point that is not on the curve.
    public static func ec(curve: Curve, x: [UInt8], y: [UInt8]) throws(CryptoError) -> PublicKey {
        let size = curve.coordinateByteCount
        guard x.count == size, y.count == size else {
            throw .invalidKey("\(curve.rawValue) coordinates must be \(size) bytes each (got \(x.count) and \(y.count))")
        }
        let point: [UInt8] = [0x04] + x + y
        OpenSSLErrorQueue.discardStale()
        let made = point.withUnsafeBufferPointer { warden_ec_public_key(curve.groupName, $0.baseAddress, $0.count) }
        guard let pkey = made else {
            throw .invalidKey("\(curve.rawValue) point is not on the curve or malformed (\(OpenSSLErrorQueue.drain().joined(separator: "; ")))")
        }
        let key = PublicKey(owning: pkey, kind: .ec(curve))
        // Defence in depth: an explicit full public-key check (on curve, not infinity, right order).
        guard key.publicCheck() else { throw .invalidKey("\(curve.rawValue) point fails the public-key check") }
        return key
    }

    /// An Ed25519 public key from its 32 raw bytes (JWK OKP `x`).
    public static func ed25519(_ raw: [UInt8]) throws(CryptoError) -> PublicKey {
        guard raw.count == 32 else { throw .invalidKey("Ed25519 public key must be 32 bytes (got \(raw.count))") }
        OpenSSLErrorQueue.discardStale()
        guard let pkey = raw.withUnsafeBufferPointer({ EVP_PKEY_new_raw_public_key(warden_evp_pkey_ed25519(), nil, $0.baseAddress, 32) }) else {
            throw OpenSSLErrorQueue.error("EVP_PKEY_new_raw_public_key")
        }
        return PublicKey(owning: pkey, kind: .ed25519)
    }

    /// A public key from a PEM `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo) block:
    /// RSA, EC P-256/384/521 or Ed25519.
    public convenience init(pem: String) throws(CryptoError) {
        var bytes = Array(pem.utf8)
        OpenSSLErrorQueue.discardStale()
        let parsed: OpaquePointer? = bytes.withUnsafeMutableBytes { buf in
            guard let bio = BIO_new_mem_buf(buf.baseAddress, Int32(buf.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PUBKEY(bio, nil, nil, nil)
        }
        guard let pkey = parsed else { throw .invalidKey("not a PEM SubjectPublicKeyInfo: \(OpenSSLErrorQueue.drain().joined(separator: "; "))") }
        try self.init(adopting: pkey)
    }

    /// The public key of a PEM `-----BEGIN CERTIFICATE-----` (the first one in `pem`). The certificate is
    /// only a container for the key here (as in Envoy's x509 JWKS format): nothing about it is validated.
    public convenience init(certificatePEM pem: String) throws(CryptoError) {
        var bytes = Array(pem.utf8)
        OpenSSLErrorQueue.discardStale()
        let parsed: OpaquePointer? = bytes.withUnsafeMutableBytes { buf in
            guard let bio = BIO_new_mem_buf(buf.baseAddress, Int32(buf.count)) else { return nil }
            defer { BIO_free(bio) }
            guard let cert = PEM_read_bio_X509(bio, nil, nil, nil) else { return nil }
            defer { X509_free(cert) }
            return X509_get_pubkey(cert)
        }
        guard let pkey = parsed else { throw .invalidKey("not a PEM certificate: \(OpenSSLErrorQueue.drain().joined(separator: "; "))") }
        try self.init(adopting: pkey)
    }

    /// A public key from DER SubjectPublicKeyInfo bytes.
    public convenience init(spkiDER: [UInt8]) throws(CryptoError) {
        OpenSSLErrorQueue.discardStale()
        let parsed: OpaquePointer? = spkiDER.withUnsafeBufferPointer { buf in
            var p: UnsafePointer<UInt8>? = buf.baseAddress
            return d2i_PUBKEY(nil, &p, buf.count)
        }
        guard let pkey = parsed else { throw .invalidKey("not a DER SubjectPublicKeyInfo: \(OpenSSLErrorQueue.drain().joined(separator: "; "))") }
        try self.init(adopting: pkey)
    }

    private convenience init(adopting pkey: OpaquePointer) throws(CryptoError) {
        let kind: Kind
        if EVP_PKEY_is_a(pkey, "RSA") == 1 {
            kind = .rsa(bits: Int(EVP_PKEY_get_bits(pkey)))
        } else if EVP_PKEY_is_a(pkey, "ED25519") == 1 {
            kind = .ed25519
        } else if EVP_PKEY_is_a(pkey, "EC") == 1 {
            var name = [CChar](repeating: 0, count: 64)
            var len = 0
            guard EVP_PKEY_get_utf8_string_param(pkey, "group", &name, name.count, &len) == 1 else {
                EVP_PKEY_free(pkey)
                throw .invalidKey("EC key without a named curve")
            }
            let group = String(decoding: name.prefix(len).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard let curve = Curve.allCases.first(where: { $0.groupName == group }) else {
                EVP_PKEY_free(pkey)
                throw .invalidKey("unsupported EC curve \(group)")
            }
            kind = .ec(curve)
        } else {
            EVP_PKEY_free(pkey)
            throw .invalidKey("unsupported public key type")
        }
        self.init(owning: pkey, kind: kind)
        if case .ec = kind, !publicCheck() { throw .invalidKey("EC point fails the public-key check") }
        if case .rsa = kind {
            // The same checks as a JWK's `n`/`e` (`rsa(modulus:exponent:)`): a PEM or certificate is no
            // reason to accept an even, tiny or huge exponent, or an even modulus.
            guard let (n, e) = rsaComponents else { throw .invalidKey("RSA key without readable n and e") }
            _ = try Self.rsa(modulus: n, exponent: e)
        }
    }

    /// The big-endian modulus and public exponent of an RSA key (nil for other kinds).
    public var rsaComponents: (modulus: [UInt8], exponent: [UInt8])? {
        guard case .rsa = kind else { return nil }
        func component(_ name: String) -> [UInt8]? {
            var bn: OpaquePointer?
            guard EVP_PKEY_get_bn_param(pkey, name, &bn) == 1, let bn else { OpenSSLErrorQueue.clear(); return nil }
            defer { BN_free(bn) }
            let count = (Int(BN_num_bits(bn)) + 7) / 8
            var out = [UInt8](repeating: 0, count: count)
            _ = BN_bn2bin(bn, &out)
            return out
        }
        guard let n = component("n"), let e = component("e") else { return nil }
        return (n, e)
    }

    private func publicCheck() -> Bool {
        guard let ctx = EVP_PKEY_CTX_new_from_pkey(nil, pkey, nil) else { OpenSSLErrorQueue.clear(); return false }
        defer { EVP_PKEY_CTX_free(ctx) }
        let ok = EVP_PKEY_public_check(ctx) == 1
        if !ok { OpenSSLErrorQueue.clear() }
        return ok
    }

    /// The key as DER SubjectPublicKeyInfo (stable identity of the key material).
    public var subjectPublicKeyInfo: [UInt8] {
        let len = i2d_PUBKEY(pkey, nil)
        guard len > 0 else { OpenSSLErrorQueue.clear(); return [] }
        var out = [UInt8](repeating: 0, count: Int(len))
        out.withUnsafeMutableBufferPointer { buf in
            var p: UnsafeMutablePointer<UInt8>? = buf.baseAddress
            _ = i2d_PUBKEY(pkey, &p)
        }
        return out
    }

    // MARK: verification

    /// Whether the key type can be used with `scheme` at all (an RSA key never verifies ECDSA, …).
    public func supports(_ scheme: SignatureScheme) -> Bool {
        switch (kind, scheme) {
        case (.rsa, .rsaPKCS1v15), (.rsa, .rsaPSS), (.ec, .ecdsaRaw), (.ed25519, .ed25519): return true
        default: return false
        }
    }

    /// Whether `signature` is a valid signature of `message` under this key with `scheme`.
    ///
    /// Returns `false` (never throws) for a wrong key type, a wrong signature length or a bad signature.
    /// ECDSA signatures must be raw `R || S`, exactly twice the coordinate size.
    public func isValidSignature<Signature: Collection<UInt8>, Message: Collection<UInt8>>(
        _ signature: Signature, for message: Message, scheme: SignatureScheme
    ) -> Bool {
        guard supports(scheme) else { return false }
        switch scheme {
        case .ecdsaRaw:
            guard case .ec(let curve) = kind else { return false }
            let size = curve.coordinateByteCount
            return withBytes(signature) { raw in
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.maxDERSignatureLength) { der in
                    guard let n = Self.derSignature(fromRaw: raw, coordinateSize: size, into: der) else { return false }
                    return verify(UnsafeBufferPointer(rebasing: der[..<n]), message, scheme: scheme)
                }
            }
        case .rsaPKCS1v15, .rsaPSS:
            return withBytes(signature) { verify($0, message, scheme: scheme) }
        case .ed25519:
            guard signature.count == 64 else { return false }
            return withBytes(signature) { verify($0, message, scheme: scheme) }
        }
    }

    private func verify<Message: Collection<UInt8>>(
        _ signature: UnsafeBufferPointer<UInt8>, _ message: Message, scheme: SignatureScheme
    ) -> Bool {
        withBytes(message) { verifiers.verify(pkey: pkey, scheme: scheme, signature: signature, message: $0) }
    }

    /// Idle verification contexts kept for `scheme` (for tests of the pool's bound).
    func idleVerifierCount(_ scheme: SignatureScheme) -> Int { verifiers.idleCount(scheme) }

    /// Room for the largest DER `ECDSA-Sig-Value` (P-521: 2 + 2 × (2 + 67) bytes).
    static let maxDERSignatureLength = 160

    /// Writes the DER `ECDSA-Sig-Value` of a JOSE raw `R || S` signature into `out` without allocating;
    /// returns its length, or nil for a raw signature that is not exactly `2 × coordinateSize` bytes.
    static func derSignature(fromRaw raw: UnsafeBufferPointer<UInt8>, coordinateSize size: Int,
                             into out: UnsafeMutableBufferPointer<UInt8>) -> Int? {
        guard raw.count == 2 * size, size <= 66, out.count >= maxDERSignatureLength else { return nil }
        // Minimal big-endian INTEGER content: leading zeros dropped (one kept for zero), a 0x00
        // prepended when the high bit is set.
        func integer(at start: Int) -> (from: Int, pad: Int, length: Int) {
            var i = start
            while i < start + size - 1, raw[i] == 0 { i += 1 }
            let pad = raw[i] & 0x80 != 0 ? 1 : 0
            return (i, pad, start + size - i + pad)
        }
        let r = integer(at: 0), s = integer(at: size)
        let body = 2 + r.length + 2 + s.length  // each length ≤ 67: short form
        var o = 0
        out[o] = 0x30; o += 1
        if body >= 0x80 { out[o] = 0x81; o += 1 }
        out[o] = UInt8(body); o += 1
        func write(_ v: (from: Int, pad: Int, length: Int), end: Int) {
            out[o] = 0x02; out[o + 1] = UInt8(v.length); o += 2
            if v.pad == 1 { out[o] = 0; o += 1 }
            for i in v.from..<end { out[o] = raw[i]; o += 1 }
        }
        write(r, end: size)
        write(s, end: 2 * size)
        return o
    }
}
