internal import COpenSSL
internal import CWardenShims

/// A private key Warden signs with (a client assertion for `private_key_jwt`, RFC 7523 §2.2), from PEM
/// (PKCS#8 or traditional RSA/EC). Signing is rare (one assertion per introspection call), so each
/// signature makes its own context; the key is never mutated after construction.
public final class PrivateKey: @unchecked Sendable {
    private let pkey: OpaquePointer
    public let kind: PublicKey.Kind

    /// - Throws: `.invalidKey` when the PEM holds no private key of a supported type.
    public init(pem: String) throws(CryptoError) {
        var bytes = Array(pem.utf8)
        OpenSSLErrorQueue.discardStale()
        let parsed: OpaquePointer? = bytes.withUnsafeMutableBytes { buf in
            guard let bio = BIO_new_mem_buf(buf.baseAddress, Int32(buf.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        guard let pkey = parsed else { throw .invalidKey("not a PEM private key: \(OpenSSLErrorQueue.drain().joined(separator: "; "))") }
        // The public half decides the kind and curve, as for a verification key.
        let der: [UInt8] = {
            let n = i2d_PUBKEY(pkey, nil)
            guard n > 0 else { return [] }
            var out = [UInt8](repeating: 0, count: Int(n))
            out.withUnsafeMutableBufferPointer { b in
                var p: UnsafeMutablePointer<UInt8>? = b.baseAddress
                _ = i2d_PUBKEY(pkey, &p)
            }
            return out
        }()
        let kind: PublicKey.Kind
        do throws(CryptoError) { kind = try PublicKey(spkiDER: der).kind } catch {
            EVP_PKEY_free(pkey)
            throw error
        }
        self.pkey = pkey
        self.kind = kind
    }

    deinit { EVP_PKEY_free(pkey) }

    /// The public key of this key pair.
    public var publicKey: PublicKey {
        get throws(CryptoError) {
            let n = i2d_PUBKEY(pkey, nil)
            guard n > 0 else { throw .invalidKey("no public key") }
            var out = [UInt8](repeating: 0, count: Int(n))
            out.withUnsafeMutableBufferPointer { b in
                var p: UnsafeMutablePointer<UInt8>? = b.baseAddress
                _ = i2d_PUBKEY(pkey, &p)
            }
            return try PublicKey(spkiDER: out)
        }
    }

    /// The signature of `message` with `scheme`, in JOSE form: ECDSA as raw `R || S` (RFC 7518 §3.4).
    public func sign(_ message: [UInt8], scheme: SignatureScheme) throws(CryptoError) -> [UInt8] {
        OpenSSLErrorQueue.discardStale()
        guard let ctx = EVP_MD_CTX_new() else { throw .invalidKey("EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(ctx) }
        var pctx: OpaquePointer?
        let md: OpaquePointer?
        switch (kind, scheme) {
        case (.rsa, .rsaPKCS1v15(let d)), (.rsa, .rsaPSS(let d)), (.ec, .ecdsaRaw(let d)): md = FetchedDigests.shared.md(d)
        case (.ed25519, .ed25519): md = nil
        default: throw .invalidKey("this key cannot sign with \(scheme)")
        }
        guard EVP_DigestSignInit(ctx, &pctx, md, nil, pkey) == 1 else { throw OpenSSLErrorQueue.error("EVP_DigestSignInit") }
        if case .rsaPSS = scheme {
            guard EVP_PKEY_CTX_set_rsa_padding(pctx, warden_rsa_pkcs1_pss_padding()) == 1,
                  EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, warden_rsa_pss_saltlen_digest()) == 1
            else { throw OpenSSLErrorQueue.error("RSA-PSS parameters") }
        }
        var length = 0
        guard message.withUnsafeBufferPointer({ EVP_DigestSign(ctx, nil, &length, $0.baseAddress, $0.count) }) == 1 else {
            throw OpenSSLErrorQueue.error("EVP_DigestSign (size)")
        }
        var signature = [UInt8](repeating: 0, count: length)
        let ok = signature.withUnsafeMutableBufferPointer { s in
            message.withUnsafeBufferPointer { EVP_DigestSign(ctx, s.baseAddress, &length, $0.baseAddress, $0.count) }
        }
        guard ok == 1 else { throw OpenSSLErrorQueue.error("EVP_DigestSign") }
        signature.removeSubrange(length...)
        guard case .ec(let curve) = kind else { return signature }
        guard let raw = Self.rawSignature(fromDER: signature, coordinateSize: curve.coordinateByteCount) else {
            throw .invalidKey("OpenSSL returned an ECDSA signature that is not DER")
        }
        return raw
    }

    /// `R || S`, each left-padded to `size` bytes, from a DER `ECDSA-Sig-Value`.
    static func rawSignature(fromDER der: [UInt8], coordinateSize size: Int) -> [UInt8]? {
        var i = 0
        func length() -> Int? {
            guard i < der.count else { return nil }
            let first = der[i]; i += 1
            if first < 0x80 { return Int(first) }
            guard first == 0x81, i < der.count else { return nil }
            defer { i += 1 }
            return Int(der[i])
        }
        func integer() -> [UInt8]? {
            guard i < der.count, der[i] == 0x02 else { return nil }
            i += 1
            guard let n = length(), i + n <= der.count else { return nil }
            var v = Array(der[i..<i + n])
            i += n
            while v.count > size, v.first == 0 { v.removeFirst() }
            guard v.count <= size else { return nil }
            return [UInt8](repeating: 0, count: size - v.count) + v
        }
        guard der.first == 0x30 else { return nil }
        i = 1
        guard length() != nil, let r = integer(), let s = integer(), i == der.count else { return nil }
        return r + s
    }
}
