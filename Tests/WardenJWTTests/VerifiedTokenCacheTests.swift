import Foundation
import Testing
import WardenCrypto
@testable import WardenJWT

struct VerifiedTokenCacheTests {
    static let now = 1_700_000_000.0
    static let req = JWTRequirements(issuer: "https://issuer.example")

    static func token(_ sub: String, exp: Double = now + 600, secret: [UInt8] = Fixture.secret) -> String {
        Fixture.hmacToken(header: #"{"alg":"HS256","kid":"k1"}"#,
                          payload: #"{"iss":"https://issuer.example","sub":"\#(sub)","exp":\#(Int(exp))}"#, secret: secret)
    }

    @Test("a hit skips the signature check; claims are still checked on every hit")
    func hitSkipsSignature() throws {
        let cache = VerifiedTokenCache(capacity: 10)
        let t = Self.token("a")
        let first = try JWTVerifier.verify(t, requirements: Self.req, keys: Fixture.operatorKeys, now: Self.now, cache: cache).get()
        #expect(!first.fromCache)
        let second = try JWTVerifier.verify(t, requirements: Self.req, keys: Fixture.operatorKeys, now: Self.now + 1, cache: cache).get()
        #expect(second.fromCache)
        #expect(second.verifiedBy == first.verifiedBy)
        #expect(cache.statistics.hits == 1 && cache.statistics.misses == 1 && cache.statistics.count == 1)
        // Claims are not cached: the same token under another issuer requirement fails.
        let other = JWTVerifier.verify(t, requirements: JWTRequirements(issuer: "https://other.example"), keys: Fixture.operatorKeys, now: Self.now, cache: cache)
        #expect(other.failure == .issuerMismatch(expected: "https://other.example", actual: "https://issuer.example"))
        // Failed verifications are never cached.
        let forged = Self.token("a", secret: Array(repeating: 9, count: 32))
        for _ in 0..<2 {
            #expect(JWTVerifier.verify(forged, requirements: Self.req, keys: Fixture.operatorKeys, now: Self.now, cache: cache).failure == .badSignature)
        }
        #expect(cache.statistics.count == 1)
    }

    @Test("entries expire at the token's exp")
    func expiry() throws {
        let cache = VerifiedTokenCache(capacity: 10)
        let t = Self.token("a", exp: Self.now + 100)
        _ = try JWTVerifier.verify(t, requirements: Self.req, keys: Fixture.operatorKeys, now: Self.now, cache: cache).get()
        #expect(cache.contains(t, keys: Fixture.operatorKeys, now: Self.now + 99.9))
        #expect(!cache.contains(t, keys: Fixture.operatorKeys, now: Self.now + 100))
        #expect(cache.statistics.count == 0)
        // maxEntryAge bounds tokens without exp.
        let short = VerifiedTokenCache(capacity: 10, maxEntryAge: 5)
        let noExp = Fixture.hmacToken(header: #"{"alg":"HS256"}"#, payload: #"{"iss":"https://issuer.example"}"#, secret: Fixture.secret)
        _ = try JWTVerifier.verify(noExp, requirements: Self.req, keys: Fixture.operatorKeys, now: Self.now, cache: short).get()
        #expect(short.contains(noExp, keys: Fixture.operatorKeys, now: Self.now + 4))
        #expect(!short.contains(noExp, keys: Fixture.operatorKeys, now: Self.now + 5))
    }

    @Test("capacity bounds the cache and the least recently used entry goes first")
    func capacity() throws {
        let cache = VerifiedTokenCache(capacity: 3)
        let tokens = (0..<5).map { Self.token("u\($0)") }
        for t in tokens.prefix(3) { _ = try JWTVerifier.verify(t, requirements: Self.req, keys: Fixture.operatorKeys, now: Self.now, cache: cache).get() }
        #expect(cache.contains(tokens[0], keys: Fixture.operatorKeys, now: Self.now))  // touch u0: u1 is now LRU
        for t in tokens.suffix(2) { _ = try JWTVerifier.verify(t, requirements: Self.req, keys: Fixture.operatorKeys, now: Self.now, cache: cache).get() }
        let s = cache.statistics
        #expect(s.count == 3 && s.evictions == 2 && s.capacity == 3)
        #expect(cache.contains(tokens[0], keys: Fixture.operatorKeys, now: Self.now))
        #expect(!cache.contains(tokens[1], keys: Fixture.operatorKeys, now: Self.now))
        #expect(!cache.contains(tokens[2], keys: Fixture.operatorKeys, now: Self.now))
        #expect(cache.contains(tokens[4], keys: Fixture.operatorKeys, now: Self.now))
    }

    @Test("an entry dies with the key that verified it; unrelated key changes keep it")
    func invalidationOnKeyChange() throws {
        let cache = VerifiedTokenCache()
        let t = Self.token("a")
        _ = try JWTVerifier.verify(t, requirements: Self.req, keys: Fixture.operatorKeys, now: Self.now, cache: cache).get()
        // A new key is added: still a hit.
        let grown = JWKSet(keys: Fixture.operatorKeys.keys + [JWK(secret: Array(repeating: 5, count: 32), kid: "k2")])
        #expect(try JWTVerifier.verify(t, requirements: Self.req, keys: grown, now: Self.now, cache: cache).get().fromCache)
        // The verifying key is replaced under the same kid: miss, and the signature now fails.
        let rotated = JWKSet(keys: [JWK(secret: Array(repeating: 6, count: 32), kid: "k1")])
        #expect(JWTVerifier.verify(t, requirements: Self.req, keys: rotated, now: Self.now, cache: cache).failure == .badSignature)
        // The same material but a different alg restriction is a different key identity.
        let restricted = JWKSet(keys: [JWK(secret: Fixture.secret, kid: "k1", alg: .HS512)])
        #expect(!cache.contains(t, keys: restricted, now: Self.now))
    }

    @Test("thread-safe under concurrent verification")
    func concurrent() async throws {
        let cache = VerifiedTokenCache(capacity: 50)
        let tokens = (0..<100).map { Self.token("c\($0)") }
        let ok = await withTaskGroup(of: Bool.self) { group in
            for w in 0..<8 {
                group.addTask {
                    var ok = true
                    for i in 0..<400 {
                        let t = tokens[(i * 7 + w) % tokens.count]
                        ok = ok && (try? JWTVerifier.verify(t, requirements: Self.req, keys: Fixture.operatorKeys, now: Self.now, cache: cache).get()) != nil
                    }
                    return ok
                }
            }
            return await group.reduce(true) { $0 && $1 }
        }
        #expect(ok)
        let s = cache.statistics
        #expect(s.hits + s.misses == 3200 && s.count <= 50)
    }

    @Test("100 000 entries stay far below 64 MiB")
    func memory() {
        func rss() -> Int {
            guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
            return (Int(text.split(separator: " ")[1]) ?? 0) * 4096
        }
        let before = rss()
        let cache = VerifiedTokenCache(capacity: 100_000)
        let fp = Fixture.operatorKeys.keys[0].fingerprint
        for i in 0..<100_000 {
            cache.insert(.init("token-\(i)"), fingerprint: fp, tokenExpiresAt: Self.now + 600, now: Self.now)
        }
        let grown = rss() - before
        #expect(cache.statistics.count == 100_000)
        // Process-wide RSS: suites running beside this one allocate too (≈ 20 MiB is the cache's own
        // growth when alone; `make bench` measures a whole Warden with 100k tokens).
        #expect(grown < 48 << 20, "RSS grew by \(grown >> 20) MiB")
    }
}
