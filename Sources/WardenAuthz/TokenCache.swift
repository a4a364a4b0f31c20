import Synchronization
import WardenJSON
import WardenJWKS
import WardenJWT
import WardenPolicy
import WardenSync

/// The one token cache of the Check path, owned by the authenticator (Envoy keeps one `jwt_cache` per
/// provider): tokens whose signature verified, by their exact text, with what parsing and verifying
/// produced, so a repeated token skips base64, JSON and the signature. Claims (issuer, time, audience)
/// are still checked against `now` on every hit.
///
/// An entry stands for a signature check only against keys that still hold the key that verified it
/// (the same key snapshot, or its fingerprint — material, kid, alg — still in the set: removing or
/// rotating that key invalidates the entry at once), before the token's `exp`, and at most
/// `maxEntryAge` after it was verified. Which rule takes the token (issuer, location) is decided anew
/// on every check, before the cache is asked.
///
/// Bounded twice: `capacity` entries and `maxBytes` (an estimate of each entry's heap: the token, its
/// payload segment and decoded claims). Two-way set-associative by a seeded hash of the token: an insert
/// takes its set's empty or expired way, else the way not used last, and when a bound is reached it
/// evicts the set's other way and then up to `sweepLimit` entries round robin, so a full cache keeps
/// admitting new tokens (expired entries are also dropped when looked up). Every operation is O(1) under
/// one lock; hashing and comparing the token's text happen outside it. Entries hold the token's full
/// text, so a hash collision is a miss.
final class TokenCache: Sendable {
    final class Entry: Sendable {
        let hash: Int
        let token: String
        let jwt: UnverifiedJWT
        let verified: VerifiedJWT
        let identity: RequestIdentity
        let source: JWKSSource
        let keyGeneration: UInt64
        let validUntil: Double
        let cost: Int
        /// Unique for the process's life (answer keys name the entry by it).
        let serial = Serials.next()
        /// The allow answer last built for this token, with the compiled scope and header it was built
        /// for: reused while both are the same (the answer depends on nothing else; see `AnswerKey`).
        let lastAllow = Locked<(scope: UInt64, header: String, exchanged: String, answer: AllowResponse, dropped: [DroppedHeader])?>(nil)
        /// The token last exchanged for this one (RFC 8693), with the compiled scope and rule it was for and
        /// until when it may be handed out: a repeated token skips the exchanger's keyed cache.
        let lastExchange = Locked<(scope: UInt64, rule: Int, token: String, until: Double)?>(nil)

        init(hash: Int, token: String, jwt: UnverifiedJWT, verified: VerifiedJWT, snapshot: KeySnapshot, validUntil: Double) {
            self.hash = hash
            self.token = token
            self.jwt = jwt
            self.verified = verified
            identity = RequestIdentity(verified)
            source = snapshot.source
            keyGeneration = snapshot.generation
            self.validUntil = validUntil
            cost = TokenCache.cost(ofTokenBytes: token.utf8.count)
        }
    }

    /// Counters for `/metrics`.
    public struct Statistics: Sendable, Equatable {
        public var hits = 0
        public var misses = 0
        public var entries = 0
        public var bytes = 0
        public var evictions = 0
    }

    private struct State {
        var ways: [Entry?]       // set i: ways[2i], ways[2i + 1]
        var victim: [UInt8]      // per set: the way to replace next
        var entries = 0
        var bytes = 0
        var evictions = 0
        /// Where the next sweep for room starts (round robin over `ways`).
        var cursor = 0

        /// Empties slot `i`; the entry goes to `dropped`, to be released after the lock.
        mutating func clear(_ i: Int, into dropped: inout [Entry]) {
            guard let e = ways[i] else { return }
            ways[i] = nil
            entries -= 1
            bytes -= e.cost
            dropped.append(e)
        }
    }

    /// Slots looked at per insert when a bound leaves no room (besides the token's own set).
    static let sweepLimit = 8

    let capacity: Int
    let maxBytes: Int
    let maxEntryAge: Double
    private let state: Locked<State>
    private let mask: Int
    private let seed = UInt64.random(in: .min ... .max)
    private let hitCount = Atomic<Int>(0)
    private let missCount = Atomic<Int>(0)

    /// - Parameters:
    ///   - capacity: most tokens held (0 disables the cache).
    ///   - maxBytes: most estimated heap bytes held.
    ///   - maxEntryAge: seconds an entry lives at most, also for tokens without `exp`.
    init(capacity: Int, maxBytes: Int, maxEntryAge: Double = 3600) {
        self.capacity = max(0, capacity)
        self.maxBytes = max(0, maxBytes)
        self.maxEntryAge = maxEntryAge
        // As many slots as either bound can fill (the byte bound at ~2 KB an entry), a power of two; the
        // counts enforce the bounds, and an insert makes room by eviction, so the cache never freezes.
        let slots = min(self.capacity, max(2, self.maxBytes / 2048))
        var sets = 1
        while 2 * sets < slots { sets <<= 1 }
        state = Locked(State(ways: [Entry?](repeating: nil, count: 2 * sets), victim: [UInt8](repeating: 0, count: sets)))
        mask = sets - 1
    }

    /// Estimated heap bytes of one entry for a token of `bytes` bytes: the token, its payload segment,
    /// decoded claims and the verified view (the remembered allow answer, which shares the claims, is not
    /// counted: it appears on a token's second check, not in this measurement). Calibrated by `make bench`'s
    /// memory phase: 3,252 bytes of RSS per cached 598-byte RS256 token (2026-12-04), 4 × 598 + 1024 = 3,416.
    static func cost(ofTokenBytes bytes: Int) -> Int { 4 * bytes + 1024 }

    /// The entry for exactly `token`, if one is within its lifetime; an expired one is dropped.
    func lookup(_ token: String, now: Double) -> Entry? {
        guard capacity > 0 else { return nil }
        let hash = hash(token)
        let set = hash & mask
        var dropped: [Entry] = []
        let entry: Entry? = state.withLock { s in
            for way in 0..<2 {
                guard let e = s.ways[2 * set + way], e.hash == hash else { continue }
                if now >= e.validUntil {
                    s.clear(2 * set + way, into: &dropped)
                    return nil
                }
                s.victim[set] = UInt8(1 - way)
                return e
            }
            return nil
        }
        _ = dropped  // released after the lock
        // Byte-wise: `==` would let a token spelled with canonically equivalent characters (U+212A for
        // `K`) stand for the one that verified.
        guard let entry, entry.token.bytesEqual(token) else { return nil }
        return entry
    }

    /// Whether `entry` may stand for a signature check against `snapshot`: the key that verified it is
    /// still there. Counts a hit when it may.
    func answers(_ entry: Entry, for snapshot: KeySnapshot) -> Bool {
        guard (entry.keyGeneration == snapshot.generation && entry.source == snapshot.source)
                || snapshot.keys.fingerprints.contains(entry.verified.verifiedBy)
        else { return false }
        hitCount.add(1, ordering: .relaxed)
        return true
    }

    /// Remembers a token whose signature just verified with a key of `snapshot`; counts the miss.
    func insert(_ token: String, jwt: UnverifiedJWT, verified: VerifiedJWT, snapshot: KeySnapshot, now: Double) {
        guard capacity > 0 else { return }
        missCount.add(1, ordering: .relaxed)
        let validUntil = min(jwt.expiresAt ?? .infinity, now + maxEntryAge)
        guard validUntil > now else { return }
        let hash = hash(token)
        let entry = Entry(hash: hash, token: token, jwt: jwt, verified: verified, snapshot: snapshot, validUntil: validUntil)
        guard entry.cost <= maxBytes else { return }
        let set = hash & mask
        var dropped: [Entry] = []
        state.withLock { s in
            let base = 2 * set
            // The slot: the same token's (a re-verification after a key change), else an empty one, else an
            // expired one, else the way not used last.
            func pick() -> Int {
                for w in 0..<2 where s.ways[base + w]?.hash == hash { return w }
                for w in 0..<2 where s.ways[base + w] == nil { return w }
                for w in 0..<2 where s.ways[base + w]!.validUntil <= now { return w }
                return Int(s.victim[set])
            }
            let way = pick()
            let slot = base + way
            if let old = s.ways[slot], old.hash != hash, old.validUntil > now { s.evictions += 1 }
            s.clear(slot, into: &dropped)
            func full() -> Bool { s.bytes + entry.cost > maxBytes || s.entries >= capacity }
            // Room within the set first, then a short round-robin sweep (expired or not): an insert always
            // makes its own room, so the cache keeps admitting new tokens once full.
            if full(), s.ways[base + 1 - way] != nil {
                if s.ways[base + 1 - way]!.validUntil > now { s.evictions += 1 }
                s.clear(base + 1 - way, into: &dropped)
            }
            var looked = 0
            while full(), looked < Self.sweepLimit {
                let i = s.cursor
                s.cursor = (s.cursor + 1) % s.ways.count
                looked += 1
                guard i != slot, let e = s.ways[i] else { continue }
                if e.validUntil > now { s.evictions += 1 }
                s.clear(i, into: &dropped)
            }
            guard !full() else { return }
            s.ways[slot] = entry
            s.entries += 1
            s.bytes += entry.cost
            s.victim[set] = UInt8(1 - way)
        }
        _ = dropped  // released after the lock
    }

    var statistics: Statistics {
        var stats = state.withLock { Statistics(entries: $0.entries, bytes: $0.bytes, evictions: $0.evictions) }
        stats.hits = hitCount.load(ordering: .relaxed)
        stats.misses = missCount.load(ordering: .relaxed)
        return stats
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
}
