import Synchronization
import WardenJWKS
import WardenJWT
import WardenPolicy

/// The last tokens that verified, by their exact text, with what parsing and verifying them produced,
/// so a repeated token skips base64, JSON and the verified-token cache's SHA-256 — about 5 µs of a
/// 30 µs cached check (docs/performance.md). Claims (issuer, time, audience) are still checked on
/// every request.
///
/// An entry is used only while the issuer's key snapshot has the same source and generation as when the
/// token verified (a key change drops it), before the token's `exp`, and no longer than the
/// verified-token cache's `maxEntryAge`. Two-way set-associative (the way not used last is replaced), so
/// it is bounded (`2 × sets` tokens, about 2 KB each) and every operation is O(1) under one mutex;
/// hashing happens outside it.
final class RecentTokens: Sendable {
    /// A class, so a lookup hands out one reference instead of copying (retaining) every field.
    final class Entry: Sendable {
        let hash: Int
        let token: String
        let jwt: UnverifiedJWT
        let verified: VerifiedJWT
        /// `CheckOutcome.encodedPayloadMetadata(verified.claims)`, encoded once per token.
        let encodedMetadata: [UInt8]
        /// `RequestIdentity(verified)`, built once per token.
        let identity: RequestIdentity
        let source: JWKSSource
        let keyGeneration: UInt64
        let validUntil: Double
        /// The last allow answer built for this token (see `RememberedAllow`).
        let allowAnswer = Mutex<RememberedAllow?>(nil)

        init(hash: Int, token: String, jwt: UnverifiedJWT, verified: VerifiedJWT, encodedMetadata: [UInt8],
             source: JWKSSource, keyGeneration: UInt64, validUntil: Double) {
            self.hash = hash
            self.token = token
            self.jwt = jwt
            self.verified = verified
            self.encodedMetadata = encodedMetadata
            identity = RequestIdentity(verified)
            self.source = source
            self.keyGeneration = keyGeneration
            self.validUntil = validUntil
        }
    }

    private struct State {
        var ways: [Entry?]       // set i: ways[2i], ways[2i + 1]
        var victim: [UInt8]      // per set: the way to replace next
    }

    private let state: Mutex<State>
    private let mask: Int
    private let maxEntryAge: Double
    private let hitCount = Atomic<Int>(0)
    private let seed = UInt64.random(in: .min ... .max)

    /// - Parameters:
    ///   - sets: rounded up to a power of two; holds twice as many tokens.
    ///   - maxEntryAge: the verified-token cache's bound, kept here too.
    init(sets: Int = 1024, maxEntryAge: Double) {
        var n = 1
        while n < max(1, sets) { n <<= 1 }
        state = Mutex(State(ways: [Entry?](repeating: nil, count: 2 * n), victim: [UInt8](repeating: 0, count: n)))
        mask = n - 1
        self.maxEntryAge = maxEntryAge
    }

    /// The entry for exactly `token`, if one is still within its lifetime.
    func lookup(_ token: String, now: Double) -> Entry? {
        let hash = hash(token)
        let set = hash & mask
        let entry: Entry? = state.withLock { s in
            for way in 0..<2 {
                if let e = s.ways[2 * set + way], e.hash == hash {
                    s.victim[set] = UInt8(1 - way)
                    return e
                }
            }
            return nil
        }
        guard let entry, now < entry.validUntil, entry.token == token else { return nil }
        return entry
    }

    /// Whether `entry` may stand for a signature check against `snapshot`; counts the hit.
    func usable(_ entry: Entry, for snapshot: KeySnapshot) -> Bool {
        guard entry.keyGeneration == snapshot.generation, entry.source == snapshot.source else { return false }
        hitCount.add(1, ordering: .relaxed)
        return true
    }

    /// Remembers a token that just verified with the keys of `snapshot`.
    func remember(_ token: String, jwt: UnverifiedJWT, verified: VerifiedJWT, snapshot: KeySnapshot, now: Double) {
        let validUntil = min(jwt.expiresAt ?? .infinity, now + maxEntryAge)
        guard validUntil > now else { return }
        let hash = hash(token)
        let entry = Entry(hash: hash, token: token, jwt: jwt, verified: verified,
                          encodedMetadata: CheckOutcome.encodedPayloadMetadata(verified.claims), source: snapshot.source,
                          keyGeneration: snapshot.generation, validUntil: validUntil)
        let set = hash & mask
        let replaced = state.withLock { s -> Entry? in
            var way = Int(s.victim[set])
            if s.ways[2 * set + way]?.hash != hash, s.ways[2 * set + 1 - way]?.hash == hash { way = 1 - way }
            s.victim[set] = UInt8(1 - way)
            defer { s.ways[2 * set + way] = entry }
            return s.ways[2 * set + way]
        }
        _ = replaced  // released after the lock
    }

    /// A seeded multiply-xorshift hash of the token's bytes, 8 at a time: a third of the instructions of
    /// `String.hashValue` (SipHash) on a ~600-byte token. A collision costs only a miss (entries are
    /// compared by their full text), and the per-process seed keeps set choice unpredictable.
    private func hash(_ token: String) -> Int {
        var text = token
        return text.withUTF8 { bytes -> Int in
            var h = seed ^ UInt64(bytes.count)
            var i = 0
            let n = bytes.count
            let raw = UnsafeRawBufferPointer(bytes)
            while n - i >= 8 {
                h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0x9E37_79B9_7F4A_7C15
                h ^= h >> 29
                i += 8
            }
            var tail: UInt64 = 0
            while i < n {
                tail = tail << 8 | UInt64(bytes[i])
                i += 1
            }
            h = (h ^ tail) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
            h = h &* 0x94D0_49BB_1331_11EB
            h ^= h >> 32
            return Int(truncatingIfNeeded: h)
        }
    }

    /// Requests answered from here (they are verified-token cache hits that skipped the cache itself).
    var hits: Int { hitCount.load(ordering: .relaxed) }
}

/// An allow answer for one remembered token, reusable while its inputs are the same: the compiled
/// scope (policies, output headers, rules — a reload compiles a new one), the header the token came
/// from, and one token per request. Without debug headers the answer does not depend on the request
/// otherwise (the matched rule only names the reason); query-parameter tokens are never reused (the
/// keys to strip depend on the path).
struct RememberedAllow: Sendable {
    let scope: CompiledScope
    let headerName: String
    let response: AllowResponse
    let encoded: [UInt8]
}
