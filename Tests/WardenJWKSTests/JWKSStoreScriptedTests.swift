import WardenSync
import Foundation
import Testing
import WardenJWKS

/// A fetcher that answers from a script, so schedules and ageing can be checked exactly
/// (with an injected clock). Behaviour against a real server is in JWKSStoreIdPTests.
final class ScriptedFetcher: JWKSFetcher {
    enum Reply: Sendable {
        case document(FetchedDocument)
        case failure(FetchError)
    }

    private let reply: Locked<Reply>
    private let log = Locked<[FetchRequest]>([])

    init(_ reply: Reply) { self.reply = Locked(reply) }

    static func jwks(_ text: String) -> Reply { .document(FetchedDocument(status: 200, body: Array(text.utf8))) }

    func answer(_ reply: Reply) { self.reply.withLock { $0 = reply } }
    var requests: [FetchRequest] { log.withLock { $0 } }

    func get(_ request: FetchRequest) throws(FetchError) -> FetchedDocument {
        log.withLock { $0.append(request) }
        switch reply.withLock({ $0 }) {
        case .document(let d): return d
        case .failure(let e): throw e
        }
    }
}

@Suite("JWKS store schedule (scripted fetcher, injected clock)")
struct JWKSStoreScriptedTests {
    let source = JWKSSource.remote(uri: "http://idp.test/jwks.json")

    @Test func retriesBackOffExponentiallyUpToTheCap() async throws {
        let clock = FakeClock(1000)
        let fetcher = ScriptedFetcher(.failure(.couldNotConnect("refused")))
        let store = JWKSStore(
            configuration: JWKSStoreConfiguration(retryBackoffBase: 1, retryBackoffMax: 8, retryJitter: 0, logger: { _ in }),
            fetcher: fetcher, clock: clock.function)
        store.register(source)

        // (time of the attempt, expected next attempt): delays 1, 2, 4, 8, 8.
        for (at, next) in [(1000.0, 1001.0), (1001, 1003), (1003, 1007), (1007, 1015), (1015, 1023)] {
            clock.set(at)
            #expect(await store.awaitKeys(source) == nil)
            #expect(store.status(for: source)?.nextAttemptAt == next)
            // Before the retry is due, a cold caller gets nil at once and causes no fetch.
            let requests = fetcher.requests.count
            clock.set(next - 0.5)
            #expect(await store.awaitKeys(source) == nil)
            #expect(fetcher.requests.count == requests)
        }
        let status = try #require(store.status(for: source))
        #expect(status.consecutiveFailures == 5)
        #expect(status.fetches.failed == 5)
        #expect(status.lastError == .fetch(.couldNotConnect("refused")))
    }

    @Test func jitterShortensDelaysWithinTheConfiguredFraction() async throws {
        let clock = FakeClock(0)
        let fetcher = ScriptedFetcher(.failure(.timedOut))
        let store = JWKSStore(
            configuration: JWKSStoreConfiguration(retryBackoffBase: 10, retryBackoffMax: 10, retryJitter: 0.5, logger: { _ in }),
            fetcher: fetcher, clock: clock.function)
        store.register(source)
        var delays: Set<Double> = []
        for _ in 0..<20 {
            _ = await store.awaitKeys(source)
            let next = try #require(store.status(for: source)?.nextAttemptAt)
            delays.insert(next - clock.now)
            clock.set(next)
        }
        #expect(delays.allSatisfy { (5...10).contains($0) })
        #expect(delays.count > 1)
    }

    @Test func lastGoodKeysServeUntilMaxStalenessThenTheSourceIsUnavailable() async throws {
        let clock = FakeClock(0)
        let fetcher = ScriptedFetcher(ScriptedFetcher.jwks(try Fixtures.text("rfc7517-a1.json")))
        let store = JWKSStore(
            configuration: JWKSStoreConfiguration(cacheDuration: 10, maxStaleness: 100, logger: { _ in }),
            fetcher: fetcher, clock: clock.function)
        store.register(source)
        #expect(await store.awaitKeys(source) != nil)
        #expect(store.isReady)
        #expect(store.status(for: source)?.nextAttemptAt == 8)  // refresh at 80%

        fetcher.answer(.failure(.couldNotConnect("down")))
        clock.set(50)  // expired 40 s ago: stale but served
        #expect(store.snapshot(for: source)?.keys.kids == ["1", "2011-04-29"])
        #expect(await store.awaitKeys(source) != nil)
        clock.set(110)  // expiresAt 10 + maxStaleness 100: last moment served
        #expect(store.snapshot(for: source) != nil)
        clock.set(110.5)
        #expect(store.snapshot(for: source) == nil)
        #expect(!store.isReady)
        let status = try #require(store.status(for: source))
        #expect(!status.available)
        #expect(status.servableUntil == 110)
        #expect(status.kids == ["1", "2011-04-29"])  // still known, just no longer trusted
    }

    /// An Envoy jwt_authn provider's `remote_jwks.cache_duration` is that source's schedule: expiry at the
    /// duration, the refresh ahead of it (80%), as `--jwks-cache-duration` is for every other source.
    @Test func aSourcesOwnCacheDurationSetsItsExpiryAndRefresh() async throws {
        let clock = FakeClock(0)
        let fetcher = ScriptedFetcher(ScriptedFetcher.jwks(try Fixtures.text("rfc7517-a1.json")))
        let store = JWKSStore(configuration: JWKSStoreConfiguration(cacheDuration: 1200, logger: { _ in }),
                              fetcher: fetcher, clock: clock.function)
        store.register(source, cacheDuration: 100)
        #expect(await store.awaitKeys(source) != nil)
        #expect(store.status(for: source)?.nextAttemptAt == 80)
        #expect(store.snapshot(for: source)?.expiresAt == 100)
    }

    /// `warden serve --jwks-cache-duration 0` used to refetch in a tight loop (~1500 requests/s to the IdP).
    @Test(arguments: [(0.0, 1.0), (0.01, 1.0), (1.0, 1.0), (2.0, 1.6), (10.0, 8.0)])
    func refreshIsNeverScheduledSoonerThanTheMinimumInterval(cacheDuration: Double, refreshAt: Double) async throws {
        let clock = FakeClock(0)
        let fetcher = ScriptedFetcher(ScriptedFetcher.jwks(try Fixtures.text("rfc7517-a1.json")))
        let store = JWKSStore(configuration: JWKSStoreConfiguration(cacheDuration: cacheDuration, logger: { _ in }),
                              fetcher: fetcher, clock: clock.function)
        store.register(source)
        #expect(await store.awaitKeys(source) != nil)
        let next = try #require(store.status(for: source)?.nextAttemptAt)
        #expect(abs(next - refreshAt) < 1e-9)
        // Expired keys (cacheDuration 0) still serve until the refresh replaces them.
        clock.set(refreshAt - 0.001)
        #expect(store.snapshot(for: source) != nil)
        #expect(fetcher.requests.count == 1)
    }

    @Test func documentWithoutUsableKeysIsAFailedFetchAndKeepsLastGood() async throws {
        let clock = FakeClock(0)
        let fetcher = ScriptedFetcher(ScriptedFetcher.jwks(try Fixtures.text("rfc7517-a1.json")))
        let store = JWKSStore(
            configuration: JWKSStoreConfiguration(unknownKidRefetchInterval: 0, logger: { _ in }),
            fetcher: fetcher, clock: clock.function)
        store.register(source)
        let good = try #require(await store.awaitKeys(source))

        for (body, label) in [(#"{"keys":[]}"#, "no_usable_keys"), (#"{"keys":[{"kid":"x"}]}"#, "no_usable_keys"),
                              ("not json", "malformed_jwks"), (#"{"nokeys":1}"#, "malformed_jwks")] {
            fetcher.answer(ScriptedFetcher.jwks(body))
            let after = try #require(await store.awaitRefetch(source, kid: "x"))
            #expect(after.generation == good.generation)
            #expect(store.status(for: source)?.lastError?.label == label, "\(body)")
        }
        fetcher.answer(.document(FetchedDocument(status: 500, body: [])))
        #expect(await store.awaitRefetch(source, kid: "x")?.generation == good.generation)
        #expect(store.status(for: source)?.lastError == .httpStatus(500))
    }

    @Test func generationChangesOnlyWhenTheKeysChange() async throws {
        let clock = FakeClock(0)
        let a1 = try Fixtures.text("rfc7517-a1.json")
        let fetcher = ScriptedFetcher(ScriptedFetcher.jwks(a1))
        let store = JWKSStore(configuration: JWKSStoreConfiguration(unknownKidRefetchInterval: 0, logger: { _ in }),
                              fetcher: fetcher, clock: clock.function)
        store.register(source)
        let first = try #require(await store.awaitKeys(source))
        clock.advance(1)
        // Same keys, different formatting: same generation, newer fetchedAt.
        fetcher.answer(ScriptedFetcher.jwks("\n  " + a1 + "  \n"))
        let same = try #require(await store.awaitRefetch(source, kid: "zz"))
        #expect(same.generation == first.generation)
        #expect(same.fetchedAt == first.fetchedAt + 1)
        // One key dropped: new generation.
        let rsaOnly = #"{"keys":[{"kty":"EC","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM","use":"sig","kid":"1"}]}"#
        fetcher.answer(ScriptedFetcher.jwks(rsaOnly))
        let changed = try #require(await store.awaitRefetch(source, kid: "zz"))
        #expect(changed.generation > first.generation)
        #expect(changed.keys.kids == ["1"])
    }

    @Test func fetcherIsHeldToTheDocumentLimitAndTimeout() async throws {
        let fetcher = ScriptedFetcher(ScriptedFetcher.jwks(String(repeating: " ", count: 2000) + #"{"keys":[]}"#))
        let store = JWKSStore(configuration: JWKSStoreConfiguration(fetchTimeout: 3, maxDocumentBytes: 1024, logger: { _ in }),
                              fetcher: fetcher)
        store.register(source)
        #expect(await store.awaitKeys(source) == nil)
        #expect(store.status(for: source)?.lastError == .fetch(.tooLarge(limit: 1024)))
        #expect(fetcher.requests.first == FetchRequest(url: "http://idp.test/jwks.json", timeout: 3, maxBytes: 1024))
    }

    @Test func unregisterCompletesWaitersAndForgetsTheSource() async throws {
        let store = JWKSStore(configuration: JWKSStoreConfiguration(logger: { _ in }),
                              fetcher: ScriptedFetcher(.failure(.timedOut)))
        store.register(source)
        #expect(store.sources == [source])
        store.unregister(source)
        #expect(store.sources.isEmpty)
        #expect(store.snapshot(for: source) == nil)
        #expect(await store.awaitKeys(source) == nil)
        #expect(store.isReady)  // nothing registered, nothing to wait for
    }
}
