internal import COpenSSL
internal import CWardenShims
import WardenSync

/// Ready-to-use OpenSSL verification contexts for one key, handed out to one thread at a time.
///
/// Setting up a context (`EVP_DigestVerifyInit`: provider, key-management and signature lookups, a
/// context allocation) cost ~25k instructions per verification, twice the hashing of a token. A context
/// initialised once for a (key, scheme) pair can be reused indefinitely in OpenSSL 3, also after a
/// failed verification, but not by two threads at once: the pool lends each context exclusively and
/// keeps at most `perSchemeLimit` idle ones per scheme (more concurrent verifiers just build and free
/// their own).
final class VerifierPool: Sendable {
    /// Idle contexts kept per scheme; one per core that verifies concurrently is enough.
    static let perSchemeLimit = 8

    /// Idle contexts by `SignatureScheme.poolSlot`.
    private let idle = Locked<[[VerifyContext]]>(Array(repeating: [], count: SignatureScheme.poolSlotCount))

    /// Whether `signature` verifies `message` under `pkey` with `scheme`; leaves OpenSSL's error queue empty.
    ///
    /// `signature` is in OpenSSL's form (DER for ECDSA). `pkey` must be the key this pool belongs to.
    func verify(pkey: OpaquePointer, scheme: SignatureScheme,
                signature: UnsafeBufferPointer<UInt8>, message: UnsafeBufferPointer<UInt8>) -> Bool {
        OpenSSLErrorQueue.discardStale()
        let slot = scheme.poolSlot
        let context: VerifyContext
        if let reused = idle.withLock({ $0[slot].popLast() }) {
            context = reused
        } else if let made = VerifyContext(pkey: pkey, scheme: scheme) {
            context = made
        } else {
            OpenSSLErrorQueue.clear()
            return false
        }
        let ok = context.verify(signature: signature, message: message)
        if !ok { OpenSSLErrorQueue.clear() }
        guard context.isReusable else { return ok }
        idle.withLock { pools in
            if pools[slot].count < Self.perSchemeLimit { pools[slot].append(context) }
        }
        return ok
    }

    /// How many idle contexts the pool holds for `scheme` (for tests).
    func idleCount(_ scheme: SignatureScheme) -> Int {
        idle.withLock { $0[scheme.poolSlot].count }
    }
}

/// One initialised verification context; used by one thread at a time (the pool lends it exclusively).
final class VerifyContext: @unchecked Sendable {
    private enum Handle {
        /// RSA and ECDSA: an `EVP_PKEY_CTX` after `EVP_PKEY_verify_init` with padding and digest set;
        /// the message is hashed separately and only the digest goes through the context.
        case prehashed(pkeyContext: OpaquePointer, md: OpaquePointer, digestSize: Int)
        /// Ed25519 (hashes internally, cannot take a digest): an `EVP_MD_CTX` after `EVP_DigestVerifyInit`,
        /// re-armed before each use with an all-NULL `EVP_DigestVerifyInit`, which keeps key and provider.
        case oneShot(mdContext: OpaquePointer)
    }

    private let handle: Handle
    /// False once re-initialisation failed: the context is then dropped instead of going back to the pool.
    private(set) var isReusable = true

    init?(pkey: OpaquePointer, scheme: SignatureScheme) {
        switch scheme {
        case .rsaPKCS1v15(let digest), .rsaPSS(let digest), .ecdsaRaw(let digest):
            let md = FetchedDigests.shared.md(digest)
            guard let ctx = EVP_PKEY_CTX_new_from_pkey(nil, pkey, nil) else { return nil }
            var ok = EVP_PKEY_verify_init(ctx) == 1 && EVP_PKEY_CTX_set_signature_md(ctx, md) == 1
            switch scheme {
            case .rsaPKCS1v15:
                ok = ok && EVP_PKEY_CTX_set_rsa_padding(ctx, warden_rsa_pkcs1_padding()) == 1
            case .rsaPSS:
                ok = ok && EVP_PKEY_CTX_set_rsa_padding(ctx, warden_rsa_pkcs1_pss_padding()) == 1
                    && EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, warden_rsa_pss_saltlen_digest()) == 1
                    && EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) == 1
            default:
                break
            }
            guard ok else { EVP_PKEY_CTX_free(ctx); return nil }
            handle = .prehashed(pkeyContext: ctx, md: md, digestSize: digest.byteCount)
        case .ed25519:
            guard let ctx = EVP_MD_CTX_new() else { return nil }
            guard EVP_DigestVerifyInit(ctx, nil, nil, nil, pkey) == 1 else { EVP_MD_CTX_free(ctx); return nil }
            handle = .oneShot(mdContext: ctx)
        }
    }

    deinit {
        switch handle {
        case .prehashed(let ctx, _, _): EVP_PKEY_CTX_free(ctx)
        case .oneShot(let ctx): EVP_MD_CTX_free(ctx)
        }
    }

    /// Whether the signature verifies; may leave entries on the error queue when it does not.
    func verify(signature: UnsafeBufferPointer<UInt8>, message: UnsafeBufferPointer<UInt8>) -> Bool {
        let sig = signature.baseAddress ?? emptyByte
        let msg = message.baseAddress ?? emptyByte
        switch handle {
        case .prehashed(let ctx, let md, let digestSize):
            return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { hash in
                var size: UInt32 = 0
                guard EVP_Digest(UnsafeRawPointer(msg), message.count, hash.baseAddress, &size, md, nil) == 1,
                      Int(size) == digestSize
                else { return false }
                return EVP_PKEY_verify(ctx, sig, signature.count, hash.baseAddress, Int(size)) == 1
            }
        case .oneShot(let ctx):
            // All-NULL re-initialisation: same key, same (no) digest; clears the "finalised" state
            // that newer OpenSSL versions set after a one-shot verify.
            guard EVP_DigestVerifyInit(ctx, nil, nil, nil, nil) == 1 else { isReusable = false; return false }
            return EVP_DigestVerify(ctx, sig, signature.count, msg, message.count) == 1
        }
    }
}

extension SignatureScheme {
    static let poolSlotCount = 10

    /// A dense index per scheme, so each scheme has its own pool of contexts (never shared across schemes).
    var poolSlot: Int {
        switch self {
        case .rsaPKCS1v15(let d): return d.slotOffset
        case .rsaPSS(let d): return 3 + d.slotOffset
        case .ecdsaRaw(let d): return 6 + d.slotOffset
        case .ed25519: return 9
        }
    }
}

extension Digest {
    fileprivate var slotOffset: Int {
        switch self {
        case .sha256: return 0
        case .sha384: return 1
        case .sha512: return 2
        }
    }
}
