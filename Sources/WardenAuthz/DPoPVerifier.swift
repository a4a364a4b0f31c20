import WardenJWT
import WardenPolicy
import WardenSync

/// Checks a DPoP proof against the request it came with and the token it binds (RFC 9449 §4.3 steps
/// 8–12 and §7.1), after `DPoPProof.verify` checked the proof itself. Keeps the per-process replay cache
/// of proof `jti`s.
final class DPoPVerifier: Sendable {
    /// How far a proof's `iat` may be from now, either way (RFC 9449 §4.3 step 11, §11.1).
    let window: Double
    /// Where proof ids are remembered: this process's `ReplayCache`, or a shared store (Redis).
    let replay: any ReplayStore
    /// When the shared store cannot answer: nil fails closed (503); else this process's cache answers.
    let fallback: ReplayCache?
    /// Public keys of recent proofs (a client reuses its key).
    let keys: DPoPKeyCache
    /// Server nonces (RFC 9449 §9), when on.
    let nonces: DPoPNonces?

    init(window: Double, store: any ReplayStore, fallback: ReplayCache? = nil, keys: DPoPKeyCache = DPoPKeyCache(),
         nonces: DPoPNonces? = nil) {
        self.keys = keys
        self.window = window
        self.nonces = nonces
        replay = store
        self.fallback = fallback
    }

    /// The failure for `token` (whose `cnf.jkt` is `boundKey`, nil when absent) presented with the DPoP
    /// scheme on `request`, or nil when the proof holds. A proof is used up only when everything else holds.
    /// With server nonces on, `freshNonce` is set to a new nonce for the client: with a nonce error (for the
    /// `use_dpop_nonce` answer), or with an accepted proof whose nonce is past half its lifetime (RFC 9449
    /// §8.2: sent in the successful response, it saves the client the 401 round trip when it expires).
    /// - Parameter replayVerdict: the replay step's verdict on the request's proof (a request carries one).
    ///   nil: the store is asked, which uses the proof up, and the verdict that decided (after the local
    ///   fallback, if any) is put here; given: it is used as is and the store is not asked — for every later
    ///   look at the same proof in one check (another jwt_authn step, the Istio step, the dry-run check), so a
    ///   request is neither its own replay nor judged differently by a step that must not record it.
    func failure(token: String, boundKey: String?, request: RequestAttributes, now: Double, freshNonce: inout String?,
                 replayVerdict: inout ReplayVerdict?) -> DPoPError? {
        guard let header = request.headers.exactValue(forKey: "dpop") else { return .missingProof }
        // Repeated headers reach ext_authz joined with ","; a compact JWS never has one.
        if header.utf8.contains(UInt8(ascii: ",")) { return .multipleProofs }
        let proof: DPoPProof
        do throws(DPoPError) { proof = try DPoPProof.verify(header, keys: keys) } catch { return error }
        guard proof.htm.bytesEqual(request.method) else { return .method(proof: proof.htm, request: request.method) }
        let uri = Self.requestURI(request)
        guard let htu = Self.normalized(proof.htu), htu.bytesEqual(Self.normalized(uri) ?? "") else {
            return .uri(proof: proof.htu, request: uri)
        }
        guard abs(now - proof.iat) <= window else { return .issuedAt(iat: proof.iat, now: now, window: window) }
        guard let ath = proof.ath, ath.bytesEqual(DPoPProof.accessTokenHash(token)) else { return .accessTokenHash }
        guard let boundKey else { return .notBound }
        guard boundKey.bytesEqual(proof.jkt) else { return .keyMismatch }
        // RFC 9449 §9 (checked as §8 and §4.3 step 10 say): after every other rule, so a nonce is handed out
        // only to a proof that would otherwise pass, and before the replay store, so the refused proof is not
        // used up.
        var refresh = false
        if let nonces {
            switch nonces.check(proof.nonce, jkt: proof.jkt, now: now) {
            case .valid(let issued):
                refresh = now - issued >= nonces.lifetime / 2
            case .missing:
                freshNonce = nonces.mint(jkt: proof.jkt, now: now)
                return .nonceMissing
            case .expired(let issued):
                freshNonce = nonces.mint(jkt: proof.jkt, now: now)
                return .nonceExpired(issuedAt: issued, now: now, lifetime: nonces.lifetime)
            case .invalid:
                freshNonce = nonces.mint(jkt: proof.jkt, now: now)
                return .nonceInvalid
            }
        }
        let decided: ReplayVerdict
        if let given = replayVerdict {
            decided = given
        } else {
            let key = proof.replayKey
            let expires = proof.iat + window
            switch replay.firstUse(of: key, expires: expires, now: now) {
            case .first:
                // With a local fallback, this process remembers every proof too: a replay sent while the shared
                // store is down is then caught here at least.
                if let fallback { _ = fallback.insert(key, expires: expires, now: now) }
                decided = .first
            case .replay: decided = .replay
            case .unavailable(let why):
                if let fallback { decided = fallback.insert(key, expires: expires, now: now) ? .first : .replay } else { decided = .unavailable(why) }
            }
            replayVerdict = decided
        }
        switch decided {
        case .first:
            if refresh, let nonces { freshNonce = nonces.mint(jkt: proof.jkt, now: now) }
            return nil
        case .replay: return .replay
        case .unavailable(let why): return .replayStoreUnavailable(why)
        }
    }

    /// The request URI a proof's `htu` names: scheme, `:authority` and path, without query (§4.3 step 9).
    static func requestURI(_ request: RequestAttributes) -> String {
        let scheme = request.scheme.isEmpty ? "http" : request.scheme
        var path = Substring(request.path)
        if let q = path.firstIndex(where: { $0 == "?" || $0 == "#" }) { path = path[..<q] }
        return "\(scheme)://\(request.host)\(path.isEmpty ? "/" : path)"
    }

    /// RFC 3986 §6.2.2–6.2.3 for comparing `htu`: scheme and host lower-cased, the default port and
    /// query/fragment dropped, an empty path as `/`. nil for something that is not an absolute http(s) URI.
    static func normalized(_ uri: String) -> String? {
        guard let sep = uri.range(of: "://") else { return nil }
        let scheme = String(decoding: uri.utf8[..<sep.lowerBound].map(asciiLowercase), as: UTF8.self)
        guard scheme == "http" || scheme == "https" else { return nil }
        var rest = uri[sep.upperBound...]
        if let cut = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<cut] }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = String(decoding: rest[..<slash].utf8.map(asciiLowercase), as: UTF8.self)
        let path = rest[slash...]
        if authority.contains("@") { return nil }  // no userinfo in an htu
        let defaultPort = scheme == "https" ? ":443" : ":80"
        if authority.hasSuffix(defaultPort) { authority.removeLast(defaultPort.count) }
        guard !authority.isEmpty else { return nil }
        return "\(scheme)://\(authority)\(path.isEmpty ? "/" : path)"
    }

    /// RFC 3986 §6.2.2.1: scheme and host are case-insensitive in ASCII only (no Unicode folding, which
    /// would make `K` (Kelvin sign) equal `k`).
    private static func asciiLowercase(_ b: UInt8) -> UInt8 {
        b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") ? b + 32 : b
    }
}

/// Where DPoP proof ids are remembered against replay: one process (`ReplayCache`) or a fleet (Redis).
public protocol ReplayStore: Sendable {
    /// Records `key` until `expires` (seconds since the epoch): `.first` if it was not recorded yet.
    func firstUse(of key: String, expires: Double, now: Double) -> ReplayVerdict
}

public enum ReplayVerdict: Sendable, Equatable {
    case first, replay
    /// The store could not answer (e.g. Redis unreachable).
    case unavailable(String)
}

/// Proof ids seen within their window, bounded: when full, expired entries go first, then the oldest
/// (counted in `evictedUnexpired`: replay protection for those is lost, so size it for the proof rate ×
/// the window).
public final class ReplayCache: ReplayStore {
    private struct State {
        var expiries: [String: Double] = [:]
        var order: [(key: String, expires: Double)] = []
        var head = 0
        var evictedUnexpired = 0
    }

    let capacity: Int
    private let state = Locked(State())

    public init(capacity: Int) { self.capacity = max(1, capacity) }

    public func firstUse(of key: String, expires: Double, now: Double) -> ReplayVerdict {
        insert(key, expires: expires, now: now) ? .first : .replay
    }

    /// Records `key` until `expires`; false if it is already recorded and not expired (a replay).
    func insert(_ key: String, expires: Double, now: Double) -> Bool {
        state.withLock { s in
            if let seen = s.expiries[key], seen >= now { return false }
            while s.head < s.order.count, s.order[s.head].expires < now || s.expiries.count >= capacity {
                let old = s.order[s.head]
                if old.expires >= now { s.evictedUnexpired += 1 }
                if s.expiries[old.key] == old.expires { s.expiries[old.key] = nil }
                s.head += 1
            }
            if s.head > 4096, s.head * 2 > s.order.count {
                s.order.removeFirst(s.head)
                s.head = 0
            }
            s.expiries[key] = expires
            s.order.append((key, expires))
            return true
        }
    }

    /// Entries evicted before they expired (the cache was full).
    var evictedUnexpired: Int { state.withLock { $0.evictedUnexpired } }
    var count: Int { state.withLock { $0.expiries.count } }
}
