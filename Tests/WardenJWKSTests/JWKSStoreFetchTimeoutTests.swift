import WardenSync
import Foundation
import Testing
import WardenJWKS

/// Per-source fetch timeouts (a rule's `timeout`) against a real, slow IdP (IdP.swift `delay`).
@Suite("JWKS store per-source fetch timeout")
struct JWKSStoreFetchTimeoutTests {
    @Test func sourceTimeoutBoundsItsFetchWhileTheDefaultStillWaits() async throws {
        let idp = try IdP()
        defer { idp.stop() }
        idp.configure { $0.delay = 1.5 }
        let store = JWKSStore(configuration: JWKSStoreConfiguration(fetchTimeout: 5, logger: { _ in }))
        let short = JWKSSource.remote(uri: idp.jwksURL)
        let standard = JWKSSource.remote(uri: idp.jwksURL + "?default")  // same document, its own source
        store.register(short, fetchTimeout: 0.3)
        store.register(standard)
        #expect(store.status(for: short)?.fetchTimeout == 0.3)
        #expect(store.status(for: standard)?.fetchTimeout == 5)

        // Timed inside the completions: the test task itself may resume late on a busy machine.
        let answered = Locked<[String: (at: Date, snapshot: KeySnapshot?)]>([:])
        let start = Date()
        store.keys(for: short) { snapshot in answered.withLock { $0["short"] = (Date(), snapshot) } }
        store.keys(for: standard) { snapshot in answered.withLock { $0["standard"] = (Date(), snapshot) } }
        #expect(await eventually(timeout: 10) { answered.withLock { $0.count == 2 } })
        let results = answered.withLock { $0 }

        let timedOut = try #require(results["short"])
        #expect(timedOut.snapshot == nil)
        #expect(timedOut.at.timeIntervalSince(start) < 1.4, "answered after \(timedOut.at.timeIntervalSince(start)) s")
        #expect(await eventually(timeout: 3) { store.status(for: short)?.lastError == .fetch(.timedOut) })

        let waited = try #require(results["standard"])
        #expect(waited.snapshot?.keys.kids == ["k1", "k2"])
        #expect(waited.at.timeIntervalSince(start) >= 1.4)
    }

    @Test func latestRegistrationDecidesTheTimeout() async throws {
        let idp = try IdP()
        defer { idp.stop() }
        idp.configure { $0.delay = 1.5 }
        let store = JWKSStore(configuration: JWKSStoreConfiguration(fetchTimeout: 5, retryBackoffBase: 0.1, retryJitter: 0,
                                                                    logger: { _ in }))
        let source = JWKSSource.remote(uri: idp.jwksURL)
        store.register(source)
        #expect(store.status(for: source)?.fetchTimeout == 5)

        // Shortened before the first fetch: that fetch gives up after 0.3 s.
        store.register(source, fetchTimeout: 0.3)
        #expect(store.status(for: source)?.fetchTimeout == 0.3)
        // Nil proves the timeout (with 5 s the slow IdP would answer); timed inside the completion,
        // as the test task may resume late on a busy machine.
        let start = Date()
        let answered = Locked<(at: Date, snapshot: KeySnapshot?)?>(nil)
        store.keys(for: source) { snapshot in answered.withLock { $0 = (Date(), snapshot) } }
        #expect(await eventually(timeout: 10) { answered.withLock { $0 != nil } })
        let (at, snapshot) = try #require(answered.withLock { $0 })
        #expect(snapshot == nil)
        #expect(at.timeIntervalSince(start) < 1.4, "answered after \(at.timeIntervalSince(start)) s")
        #expect(await eventually(timeout: 3) { store.status(for: source)?.lastError == .fetch(.timedOut) })

        // Registered again without one (a reload dropping `timeout`): back to the store's 5 s, and
        // the next fetch (after the 0.1 s retry backoff) waits for the slow IdP and succeeds.
        store.register(source)
        #expect(store.status(for: source)?.fetchTimeout == 5)
        var refreshed: KeySnapshot?
        let deadline = Date().addingTimeInterval(10)
        while refreshed == nil, Date() < deadline {
            refreshed = await store.awaitKeys(source)
            if refreshed == nil { try await Task.sleep(nanoseconds: 50_000_000) }
        }
        #expect(refreshed?.keys.kids == ["k1", "k2"])
        #expect(store.status(for: source)?.consecutiveFailures == 0)
    }

    /// Both requests of a discovery source (discovery document, then `jwks_uri`) carry its timeout;
    /// none, zero, negative or infinite means the store's.
    @Test(arguments: [(0.75, 0.75), (nil, 2.5), (0, 2.5), (-1, 2.5), (.infinity, 2.5)] as [(Double?, Double)])
    func everyRequestOfTheSourceCarriesItsTimeout(registered: Double?, expected: Double) async throws {
        let document = #"{"issuer":"http://idp.test","jwks_uri":"http://idp.test/jwks.json","keys":[]}"#
        let fetcher = ScriptedFetcher(ScriptedFetcher.jwks(document))
        let store = JWKSStore(configuration: JWKSStoreConfiguration(fetchTimeout: 2.5, logger: { _ in }), fetcher: fetcher)
        let source = JWKSSource.discovery(issuer: "http://idp.test")
        store.register(source, fetchTimeout: registered)
        _ = await store.awaitKeys(source)
        #expect(fetcher.requests.map(\.url) == ["http://idp.test/.well-known/openid-configuration", "http://idp.test/jwks.json"])
        #expect(fetcher.requests.map(\.timeout) == [expected, expected])
        #expect(store.status(for: source)?.fetchTimeout == expected)
    }

    @Test func inlineSourcesReportNoFetchTimeout() throws {
        let store = JWKSStore(configuration: JWKSStoreConfiguration(logger: { _ in }))
        let source = JWKSSource.inline(try Fixtures.text("rfc7517-a1.json"))
        store.register(source, fetchTimeout: 1)
        #expect(store.status(for: source)?.fetchTimeout == nil)
    }
}
