import WardenCrypto
import WardenJSON
import WardenSync

/// A DPoP proof (RFC 9449 §4.2) whose self-contained parts verified (§4.3 steps 2–7): a compact JWS with
/// `typ: dpop+jwt`, an asymmetric `alg` from the allow-list, a public `jwk` in its header, signed by that
/// key, and the claims a proof must carry. What depends on the request (`htm`, `htu`, `iat` window, `ath`,
/// `jkt`, replay) is the caller's to check against these fields.
public struct DPoPProof: Sendable {
    /// The RFC 7638 SHA-256 thumbprint of the proof's public key (base64url): a bound token's `cnf.jkt`.
    public let jkt: String
    public let jti: String
    public let htm: String
    public let htu: String
    public let iat: Double
    public let ath: String?
    /// The server nonce the proof carries (RFC 9449 §4.2, §9), if any.
    public let nonce: String?

    /// Asymmetric algorithms a proof may use (RFC 9449 §4.3 step 5: never `none` nor a MAC).
    public static let algorithms: [JWTAlgorithm] = [.ES256, .ES384, .ES512, .EdDSA, .PS256, .PS384, .PS512, .RS256, .RS384, .RS512]

    /// Parses and verifies `text` (one `DPoP` header value). `keys` remembers the public keys of recent
    /// proofs (a client signs every proof with one key): building an EC key and checking its point costs
    /// about as much as the signature verification itself.
    public static func verify(_ text: String, keys: DPoPKeyCache? = nil) throws(DPoPError) -> DPoPProof {
        let jws: CompactJWS
        do throws(JWTError) { jws = try CompactJWS.parse(text, maxBytes: 8192) } catch { throw .malformed(error.detail) }
        // Media types compare ASCII-case-insensitively (RFC 9110 §8.3.1); never Unicode case folding.
        guard let typ = jws.header.typ, typ.bytesEqualIgnoringASCIICase("dpop+jwt") else { throw .type(jws.header.typ) }
        guard algorithms.contains(jws.algorithm) else { throw .algorithm(jws.header.alg) }
        guard let jwkValue = jws.header.members["jwk"], case .object(let members) = jwkValue else { throw .key("no \"jwk\" object in the header") }
        if members["d"] != nil || members["k"] != nil || members["p"] != nil {
            throw .key("the \"jwk\" holds private key material")  // §4.3 step 7
        }
        let key: JWK
        let cacheKey = jwkValue.serialized  // the whole jwk (sorted members), not only its thumbprint members
        let cached = keys?.key(for: cacheKey)
        if let cached {
            key = cached
        } else {
            switch JWKParser.parse(jwkValue, options: JWKSet.Options()) {
            case .success(let k): key = k
            case .failure(let why): throw .key(why.reason)
            }
        }
        guard !key.isSymmetric, key.canVerify(jws.algorithm) else { throw .key("the \"jwk\" cannot verify \(jws.algorithm.rawValue)") }
        guard !jws.lenientEncoding, key.verify(jws.signature, over: jws.signingInput, algorithm: jws.algorithm) else { throw .signature }
        // Only a key that verified a proof is kept: unsigned junk must not fill the cache or evict real clients.
        if cached == nil { keys?.remember(key, for: cacheKey) }
        guard let thumbprint = thumbprint(of: members) else { throw .key("the \"jwk\" lacks the members of its key type") }

        let payload: JSONValue
        do throws(JSONError) {
            payload = try JSONParser.parse(jws.payload, limits: JSONLimits(maxDepth: 8, maxBytes: 8192))
        } catch {
            throw .malformed("the payload is not JSON: \(error)")
        }
        guard case .object(let claims) = payload else { throw .malformed("the payload is not a JSON object") }
        func string(_ name: String) throws(DPoPError) -> String {
            guard let s = claims[name]?.stringValue, !s.isEmpty else { throw .claim(name) }
            return s
        }
        guard case .number(let iat)? = claims["iat"], iat.isFinite else { throw .claim("iat") }
        let ath: String?
        if let a = claims["ath"] {
            guard let s = a.stringValue else { throw .claim("ath") }
            ath = s
        } else {
            ath = nil
        }
        let nonce: String?
        if let n = claims["nonce"] {
            guard let s = n.stringValue, !s.isEmpty else { throw .claim("nonce") }
            nonce = s
        } else {
            nonce = nil
        }
        let jti = try string("jti")
        // RFC 9449 §4.2 asks for 96 bits of randomness; a longer id than this is no proof id but a payload.
        guard jti.utf8.count <= maxJTIBytes else { throw .claim("jti") }
        return DPoPProof(jkt: thumbprint, jti: jti, htm: try string("htm"), htu: try string("htu"), iat: iat, ath: ath, nonce: nonce)
    }

    /// The longest `jti` a proof may carry (bytes).
    public static let maxJTIBytes = 256

    /// The key a proof is remembered by against replay: base64url SHA-256 of `jkt` and `jti` — fixed size
    /// whatever the client sends, and the same in every Warden replica (RFC 9449 §11.1).
    public var replayKey: String {
        Base64URL.encode(Digest.sha256.hash(Array("\(jkt) \(jti)".utf8)))
    }

    /// RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
    static func thumbprint(of jwk: [String: JSONValue]) -> String? {
        let required: [String]
        switch jwk["kty"]?.stringValue {
        case "EC": required = ["crv", "kty", "x", "y"]
        case "RSA": required = ["e", "kty", "n"]
        case "OKP": required = ["crv", "kty", "x"]
        default: return nil
        }
        var members: [String: JSONValue] = [:]
        for name in required {
            guard let v = jwk[name], v.stringValue != nil else { return nil }
            members[name] = v
        }
        // `serialized` writes object members with sorted keys and no whitespace (RFC 7638 §3.3).
        return Base64URL.encode(Digest.sha256.hash(Array(JSONValue.object(members).serialized.utf8)))
    }

    /// `ath`: base64url SHA-256 of the access token's ASCII (RFC 9449 §4.2).
    public static func accessTokenHash(_ token: String) -> String {
        Base64URL.encode(Digest.sha256.hash(Array(token.utf8)))
    }
}

/// Public keys of recent DPoP proofs by their `jwk` JSON, bounded (oldest out first).
public final class DPoPKeyCache: Sendable {
    private struct State {
        var keys: [String: JWK] = [:]
        var order: [String] = []
    }
    private let state = Locked(State())
    public let capacity: Int

    public init(capacity: Int = 10_000) { self.capacity = max(1, capacity) }

    func key(for jwk: String) -> JWK? { state.withLock { $0.keys[jwk] } }

    func remember(_ key: JWK, for jwk: String) {
        guard jwk.utf8.count <= 4096 else { return }
        state.withLock { s in
            guard s.keys[jwk] == nil else { return }
            if s.order.count >= capacity {
                let drop = s.order.count / 2  // amortized: drop the older half at once
                for old in s.order[..<drop] { s.keys[old] = nil }
                s.order.removeFirst(drop)
            }
            s.keys[jwk] = key
            s.order.append(jwk)
        }
    }
}

/// Why a DPoP proof, or a DPoP-bound token presented with it, was refused (RFC 9449 §4.3, §7.1).
public enum DPoPError: Error, Sendable, Hashable {
    case missingProof
    case multipleProofs
    case malformed(String)
    case type(String?)
    case algorithm(String)
    case key(String)
    case signature
    case claim(String)
    case method(proof: String, request: String)
    case uri(proof: String, request: String)
    case issuedAt(iat: Double, now: Double, window: Double)
    case accessTokenHash
    case keyMismatch
    case replay
    /// A token presented with the DPoP scheme that is not DPoP-bound (no `cnf.jkt`).
    case notBound
    /// The shared replay store (Redis) could not answer, and Warden fails closed.
    case replayStoreUnavailable(String)
    /// Server nonces are on (`--dpop-nonce-key-file`) and the proof has no `nonce` claim (RFC 9449 §9).
    case nonceMissing
    /// The proof's nonce was issued by Warden, more than the nonce lifetime ago.
    case nonceExpired(issuedAt: Double, now: Double, lifetime: Double)
    /// The proof's nonce is not one Warden's nonce key issued to this proof key (forged, altered, another key).
    case nonceInvalid

    /// The nonce cases: answered `use_dpop_nonce` with a fresh `DPoP-Nonce` (RFC 9449 §9).
    public var isNonceError: Bool {
        switch self {
        case .nonceMissing, .nonceExpired, .nonceInvalid: return true
        default: return false
        }
    }

    /// Proof errors answer `invalid_dpop_proof`; a token/proof key mismatch or an unbound token `invalid_token`.
    public var isProofError: Bool {
        switch self {
        case .keyMismatch, .notBound, .replayStoreUnavailable: return false
        default: return true
        }
    }

    public var detail: String {
        switch self {
        case .missingProof: return "no DPoP proof header (RFC 9449 §7.1: a DPoP-bound token needs one)"
        case .multipleProofs: return "more than one DPoP header (RFC 9449 §4.3 step 1)"
        case .malformed(let why): return "the DPoP proof is not a well-formed JWS: \(why)"
        case .type(let typ): return "the proof's typ is \(typ.map(JWTError.quote) ?? "(none)"), not \"dpop+jwt\""
        case .algorithm(let alg): return "the proof's alg \(JWTError.quote(alg)) is not an allowed asymmetric algorithm"
        case .key(let why): return "the proof's jwk: \(why)"
        case .signature: return "the proof's signature does not verify with its jwk"
        case .claim(let name): return "the proof has no valid \"\(name)\" claim"
        case .method(let proof, let request): return "the proof's htm \(JWTError.quote(proof)) is not the request method \(JWTError.quote(request))"
        case .uri(let proof, let request): return "the proof's htu \(JWTError.quote(proof)) is not the request URI \(JWTError.quote(request))"
        case .issuedAt(let iat, let now, let window):
            return "the proof's iat \(Int(iat)) is more than \(Int(window)) s from now (\(Int(now)))"
        case .accessTokenHash: return "the proof's ath is not the SHA-256 of the presented access token"
        case .keyMismatch: return "the token's cnf.jkt is not the thumbprint of the proof's key"
        case .replay: return "the proof's jti was already used (replay)"
        case .notBound: return "the token was presented with the DPoP scheme but is not DPoP-bound (no cnf.jkt)"
        case .nonceMissing: return "the proof has no nonce claim and this server requires one (RFC 9449 §9: use_dpop_nonce)"
        case .nonceExpired(let issued, let now, let lifetime):
            return "the proof's nonce was issued at \(Int(issued)), more than \(Int(lifetime)) s before now (\(Int(now)))"
        case .nonceInvalid: return "the proof's nonce was not issued by this server's nonce key to this proof key"
        case .replayStoreUnavailable(let why): return "the DPoP replay store cannot tell whether the proof was used before (\(why)): failing closed"
        }
    }
}
