import Synchronization
import WardenJWKS
import WardenJWT

/// The last tokens that verified, by their exact text, with what parsing and verifying them produced,
/// so a repeated token skips base64, JSON and the verified-token cache's SHA-256 — about 6 µs of a
/// 30 µs cached check (docs/performance.md). Claims (issuer, time, audience) are still checked on
/// every request.
///
/// An entry is used only while the issuer's key snapshot has the same source and generation as when the
/// token verified (a key change drops it), before the token's `exp`, and no longer than the
/// verified-token cache's `maxEntryAge`. Direct-mapped — one entry per slot, the newest wins — so it is
/// bounded (`slots` tokens) and every operation is O(1) under one mutex; hashing happens outside it.
final class RecentTokens: Sendable {
    struct Entry: Sendable {
        let token: String
        let jwt: UnverifiedJWT
        let verified: VerifiedJWT
        let source: JWKSSource
        let keyGeneration: UInt64
        let validUntil: Double
    }

    private let slots: Mutex<[Entry?]>
    private let mask: Int
    private let maxEntryAge: Double
    private let hitCount = Atomic<Int>(0)

    /// - Parameters:
    ///   - slots: rounded up to a power of two.
    ///   - maxEntryAge: the verified-token cache's bound, kept here too.
    init(slots: Int = 1024, maxEntryAge: Double) {
        var n = 1
        while n < max(1, slots) { n <<= 1 }
        self.slots = Mutex([Entry?](repeating: nil, count: n))
        mask = n - 1
        self.maxEntryAge = maxEntryAge
    }

    /// The entry for exactly `token`, if one is still within its lifetime.
    func lookup(_ token: String, now: Double) -> Entry? {
        let i = token.hashValue & mask
        let entry = slots.withLock { $0[i] }
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
        let entry = Entry(token: token, jwt: jwt, verified: verified, source: snapshot.source,
                          keyGeneration: snapshot.generation, validUntil: validUntil)
        let i = token.hashValue & mask
        let replaced = slots.withLock { s -> Entry? in
            defer { s[i] = entry }
            return s[i]
        }
        _ = replaced  // released after the lock

    }

    /// Requests answered from here (they are verified-token cache hits that skipped the cache itself).
    var hits: Int { hitCount.load(ordering: .relaxed) }
}
