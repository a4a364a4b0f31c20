import WardenSync
import Foundation
import Testing
import WardenJWKS
import WardenJWT

/// The store against a real HTTP identity provider on 127.0.0.1 (IdP.swift: libcurl talks to a real socket).
@Suite("JWKS store against a real IdP")
struct JWKSStoreIdPTests {
    @Test func fetchesAndParsesRemoteJWKS() async throws {
        let idp = try IdP(keys: [.init(kid: "k1"), .init(kid: "k2", kty: "EC", crv: "P-384"), .init(kid: "k3", kty: "OKP")])
        defer { idp.stop() }
        let store = JWKSStore(configuration: JWKSStoreConfiguration(cacheDuration: 60, logger: { _ in }))
        let source = JWKSSource.remote(uri: idp.jwksURL)
        store.register(source)
        store.register(source)  // idempotent
        #expect(!store.isReady)
        store.start()
        defer { store.stop() }

        #expect(store.waitUntilReady(timeout: 10))
        let snapshot = try #require(store.snapshot(for: source))
        #expect(snapshot.keys.kids == ["k1", "k2", "k3"])
        #expect(snapshot.expiresAt == snapshot.fetchedAt + 60)
        let status = try #require(store.status(for: source))
        #expect(status.uri == idp.jwksURL)
        #expect(status.kids == ["k1", "k2", "k3"])
        #expect(status.fetches == .init(succeeded: 1, failed: 0, notModified: 0))
        #expect(status.available && status.lastError == nil)
        // Background refresh at 80% of the cache duration.
        #expect(abs(try #require(status.nextAttemptAt) - (snapshot.fetchedAt + 48)) < 0.001)
        #expect(idp.stats.jwks == 1)
    }

    @Test func discoveryFindsJWKSURIAndLogsIssuerMismatch() async throws {
        let idp = try IdP()
        defer { idp.stop() }
        let log = LogLines()
        let store = JWKSStore(configuration: JWKSStoreConfiguration(logger: log.logger))
        // The configured issuer has a trailing slash the IdP's document does not: keys still load
        // (the discovery URL is not doubled), and the mismatch is logged because tokens would fail `iss`.
        let source = JWKSSource.discovery(issuer: idp.base + "/")
        store.register(source)
        let snapshot = try #require(await store.awaitKeys(source))
        #expect(snapshot.keys.kids == ["k1", "k2"])
        #expect(store.status(for: source)?.uri == idp.jwksURL)
        #expect(idp.stats.discovery == 1)
        #expect(idp.stats.jwks == 1)
        #expect(log.all.contains { $0.contains("document names issuer \"\(idp.base)\"") })

        let exact = JWKSSource.discovery(issuer: idp.base)
        store.register(exact)
        #expect(await store.awaitKeys(exact) != nil)
        #expect(log.all.filter { $0.contains("document names issuer") }.count == 1)
    }

    @Test func discoveryRejectsNonHTTPJWKSURI() async throws {
        let idp = try IdP()
        defer { idp.stop() }
        idp.configure { $0.jwksURI = "file:///etc/passwd" }
        let store = JWKSStore(configuration: JWKSStoreConfiguration(logger: { _ in }))
        let source = JWKSSource.discovery(issuer: idp.base)
        store.register(source)
        #expect(await store.awaitKeys(source) == nil)
        let status = try #require(store.status(for: source))
        #expect(status.lastError?.label == "discovery_invalid")
        #expect(status.uri == nil)
        #expect(idp.stats.jwks == 0)
    }

    @Test func rotationIsPickedUpByOneUnknownKidRefetch() async throws {
        let idp = try IdP(keys: [.init(kid: "old")])
        defer { idp.stop() }
        let store = JWKSStore(configuration: JWKSStoreConfiguration(cacheDuration: 600, logger: { _ in }))
        let source = JWKSSource.remote(uri: idp.jwksURL)
        store.register(source)
        let before = try #require(await store.awaitKeys(source))
        #expect(before.keys.kids == ["old"])

        try idp.addKey(.init(kid: "new", kty: "EC", crv: "P-256"))
        #expect(store.snapshot(for: source)?.keys.kids == ["old"])  // no fetch on the request path
        let after = try #require(await store.awaitRefetch(source, kid: "new"))
        #expect(after.keys.kids == ["old", "new"])
        #expect(after.generation > before.generation)
        #expect(idp.stats.jwks == 2)

        // A kid that is now present needs no fetch; another unknown one within the interval is refused.
        #expect(await store.awaitRefetch(source, kid: "new")?.generation == after.generation)
        #expect(await store.awaitRefetch(source, kid: "bogus")?.keys.kids == ["old", "new"])
        #expect(idp.stats.jwks == 2)
        let status = try #require(store.status(for: source))
        #expect(status.unknownKidRefetches == 1)
        #expect(status.unknownKidRateLimited == 1)
    }

    @Test func unchangedDocumentIsRevalidatedWithETag() async throws {
        let idp = try IdP()
        defer { idp.stop() }
        let store = JWKSStore(configuration: JWKSStoreConfiguration(cacheDuration: 600, unknownKidRefetchInterval: 0, logger: { _ in }))
        let source = JWKSSource.remote(uri: idp.jwksURL)
        store.register(source)
        let first = try #require(await store.awaitKeys(source))
        let second = try #require(await store.awaitRefetch(source, kid: "missing"))
        #expect(second.generation == first.generation)
        #expect(second.fetchedAt >= first.fetchedAt)
        #expect(idp.stats.notModified == 1)
        #expect(store.status(for: source)?.fetches == .init(succeeded: 1, failed: 0, notModified: 1))
    }

    @Test func outageAfterWarmCacheKeepsServingAndBacksOff() async throws {
        let idp = try IdP()
        defer { idp.stop() }
        let store = JWKSStore(configuration: JWKSStoreConfiguration(
            cacheDuration: 1, refreshBefore: 0.5, retryBackoffBase: 0.2, retryBackoffMax: 0.8, retryJitter: 0,
            logger: { _ in }))
        let source = JWKSSource.remote(uri: idp.jwksURL)
        store.register(source)
        store.start()
        defer { store.stop() }
        #expect(store.waitUntilReady(timeout: 10))
        let warm = try #require(store.snapshot(for: source))

        idp.configure { $0.down = true; $0.downStatus = 503 }
        let start = Date()
        var servedThroughout = true
        while Date().timeIntervalSince(start) < 3 {
            if store.snapshot(for: source)?.generation != warm.generation { servedThroughout = false }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        #expect(servedThroughout)  // also past expiresAt (1 s): stale-while-error
        let status = try #require(store.status(for: source))
        #expect(status.lastError == .httpStatus(503))
        #expect(status.available)
        #expect(status.consecutiveFailures >= 3)
        // Retries 0.2, 0.4, 0.8, 0.8 … s apart: a handful in 3 s (about 5; the bound leaves room for a
        // loaded machine), not a hammering loop (hundreds). The exact spacing is asserted just below.
        let failures = status.fetches.failed
        #expect((3...12).contains(failures), "failed fetches in 3 s: \(failures)")
        #expect(abs(try #require(status.nextAttemptAt) - (try #require(status.lastErrorAt)) - 0.8) < 1e-6)

        idp.configure { $0.down = false }
        #expect(await eventually(timeout: 5) { store.status(for: source)?.consecutiveFailures == 0 })
        let recovered = try #require(store.status(for: source)?.fetches)
        #expect(recovered.succeeded + recovered.notModified >= 2)
    }

    /// The persisted copy cannot be turned into an attacker's keys or outlive itself: a `fetched_at` in the
    /// future, a file replaced by a symlink, or a directory others can write are refused at restart.
    @Test(arguments: ["future", "symlink", "world-writable"])
    func persistedKeysAreOnlyTrustedFromASafeCopy(_ tamper: String) async throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let idp = try IdP(keys: [.init(kid: "persisted")])
        let source = JWKSSource.remote(uri: idp.jwksURL)
        let config = JWKSStoreConfiguration(cacheDuration: 600, fetchTimeout: 1, cacheDirectory: directory, logger: { _ in })
        let first = JWKSStore(configuration: config)
        first.register(source)
        #expect(await first.awaitKeys(source)?.keys.kids == ["persisted"])
        idp.stop()
        let file = directory + "/" + (try FileManager.default.contentsOfDirectory(atPath: directory).first { $0.hasSuffix(".json") })!
        switch tamper {
        case "future":
            var text = try String(contentsOfFile: file, encoding: .utf8)
            let stamp = try #require(text.firstRange(of: try Regex(#""fetched_at":[0-9.e+]+"#)))
            text.replaceSubrange(stamp, with: #""fetched_at":\#(Date().timeIntervalSince1970 + 30 * 86400)"#)
            try text.write(toFile: file, atomically: false, encoding: .utf8)
        case "symlink":
            try FileManager.default.moveItem(atPath: file, toPath: directory + "/elsewhere")
            try FileManager.default.createSymbolicLink(atPath: file, withDestinationPath: directory + "/elsewhere")
        default:
            #expect(chmod(directory, 0o777) == 0)
        }
        let log = LogLines()
        var restartedConfig = config
        restartedConfig.logger = log.logger
        let restarted = JWKSStore(configuration: restartedConfig)
        restarted.register(source)
        #expect(restarted.snapshot(for: source) == nil)
        #expect(log.all.contains { $0.contains("in the future") || $0.contains("not a regular file") || $0.contains("writable by group or others") },
                "\(log.all)")
    }

    @Test func restartDuringOutageServesPersistedKeys() async throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let idp = try IdP(keys: [.init(kid: "persisted"), .init(kid: "p2", kty: "OKP")])
        let source = JWKSSource.remote(uri: idp.jwksURL)
        let config = JWKSStoreConfiguration(cacheDuration: 600, fetchTimeout: 1, cacheDirectory: directory, logger: { _ in })

        let first = JWKSStore(configuration: config)
        first.register(source)
        #expect(await first.awaitKeys(source)?.keys.kids == ["persisted", "p2"])
        let files = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(files.count == 1 && files[0].hasPrefix("jwks-") && files[0].hasSuffix(".json"), "\(files)")

        idp.stop()  // the IdP is gone: connection refused from now on

        let log = LogLines()
        var restartedConfig = config
        restartedConfig.logger = log.logger
        let restarted = JWKSStore(configuration: restartedConfig)
        restarted.register(source)
        // Served before any fetch, straight from the cache directory.
        let snapshot = try #require(restarted.snapshot(for: source))
        #expect(snapshot.keys.kids == ["persisted", "p2"])
        #expect(restarted.isReady)
        restarted.start()
        defer { restarted.stop() }
        #expect(await eventually(timeout: 5) { (restarted.status(for: source)?.fetches.failed ?? 0) >= 1 })
        let status = try #require(restarted.status(for: source))
        #expect(status.fetches.succeeded == 0)
        #expect(status.fromPersistedCache)
        #expect(status.lastError?.label == "connect")
        #expect(restarted.snapshot(for: source)?.keys.kids == ["persisted", "p2"])
        #expect(log.all.contains { $0.contains("loaded persisted JWKS") })

        // Another source never gets these keys.
        let other = JWKSSource.remote(uri: idp.base + "/other.json")
        restarted.register(other)
        #expect(restarted.snapshot(for: other) == nil)
    }

    @Test func bogusKidFloodIsRateLimited() async throws {
        let idp = try IdP()
        defer { idp.stop() }
        let store = JWKSStore(configuration: JWKSStoreConfiguration(cacheDuration: 600, unknownKidRefetchInterval: 1, logger: { _ in }))
        let source = JWKSSource.remote(uri: idp.jwksURL)
        store.register(source)
        #expect(await store.awaitKeys(source) != nil)
        let fetchesBefore = idp.stats.jwks

        let completed = Counter(), withKeys = Counter()
        let start = Date()
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<250 {
                store.refetchForUnknownKid(source, kid: "bogus-\(UInt64.random(in: 0...UInt64.max))") { snapshot in
                    completed.increment()
                    if snapshot != nil { withKeys.increment() }
                }
                usleep(8_000)
            }
        }
        #expect(await eventually(timeout: 10) { completed.count == 1000 })
        let elapsed = Date().timeIntervalSince(start)
        #expect(withKeys.count == 1000)  // every caller still got the good keys
        let refetches = (idp.stats.jwks) - fetchesBefore
        #expect(refetches >= 1)
        #expect(refetches <= Int(elapsed) + 1, "\(refetches) fetches in \(elapsed) s")
        let status = try #require(store.status(for: source))
        #expect(status.unknownKidRefetches == refetches)
        #expect(status.unknownKidRateLimited > 0)
    }

    @Test func slowIdPDoesNotBlockWarmRequestPath() async throws {
        let idp = try IdP()
        defer { idp.stop() }
        let store = JWKSStore(configuration: JWKSStoreConfiguration(cacheDuration: 1.5, refreshBefore: 1, logger: { _ in }))  // refresh due after 1 s
        let source = JWKSSource.remote(uri: idp.jwksURL)
        store.register(source)
        store.start()
        defer { store.stop() }
        #expect(store.waitUntilReady(timeout: 10))

        idp.configure { $0.delay = 2 }
        // The refresh starts about 1 s after the first fetch; allow a loaded machine some slack.
        #expect(await eventually(timeout: 8) { (idp.stats.inFlight) >= 1 })
        var slowest = 0.0
        var missing = 0
        let start = Date()
        while Date().timeIntervalSince(start) < 1 {
            let t = measure { if store.snapshot(for: source) == nil { missing += 1 } }
            slowest = max(slowest, t)
        }
        let completionWait = measure {
            store.keys(for: source) { _ in }
            store.refetchForUnknownKid(source, kid: "whatever") { _ in }
        }
        #expect(store.status(for: source)?.fetchInFlight == true)  // the refresh really was in flight
        #expect(missing == 0)
        #expect(slowest < 0.05, "slowest snapshot() took \(slowest) s")
        #expect(completionWait < 0.05)
    }

    @Test func coldStartCallersWaitForTheFirstFetchTogether() async throws {
        let idp = try IdP()
        defer { idp.stop() }
        idp.configure { $0.delay = 1 }
        let store = JWKSStore(configuration: JWKSStoreConfiguration(fetchTimeout: 5, logger: { _ in }))
        let source = JWKSSource.remote(uri: idp.jwksURL)
        store.register(source)

        let results = Locked<[KeySnapshot?]>([])
        let start = Date()
        var slowestCall = 0.0
        for _ in 0..<10 {
            slowestCall = max(slowestCall, measure {
                store.keys(for: source) { snapshot in results.withLock { $0.append(snapshot) } }
            })
        }
        #expect(slowestCall < 0.05)  // the callers' threads are never blocked
        #expect(await eventually(timeout: 8) { results.withLock { $0.count } == 10 })
        #expect(Date().timeIntervalSince(start) >= 0.9)
        #expect(results.withLock { $0.allSatisfy { $0?.keys.kids == ["k1", "k2"] } })
        #expect(idp.stats.jwks == 1)  // ten cold callers, one fetch
    }

    @Test func coldStartWaitIsBoundedByFetchTimeout() async throws {
        let idp = try IdP()
        defer { idp.stop() }
        idp.configure { $0.delay = 4 }
        let store = JWKSStore(configuration: JWKSStoreConfiguration(fetchTimeout: 1, logger: { _ in }))
        let source = JWKSSource.remote(uri: idp.jwksURL)
        store.register(source)
        // Timed inside the completion: the test task itself may resume late on a busy machine.
        let answered = Locked<(at: Date, snapshot: KeySnapshot?)?>(nil)
        let start = Date()
        store.keys(for: source) { snapshot in answered.withLock { $0 = (Date(), snapshot) } }
        #expect(await eventually(timeout: 5) { answered.withLock { $0 != nil } })
        let (at, snapshot) = try #require(answered.withLock { $0 })
        #expect(snapshot == nil)
        #expect(at.timeIntervalSince(start) < 1.6, "answered after \(at.timeIntervalSince(start)) s")
        #expect(await eventually(timeout: 3) { store.status(for: source)?.lastError == .fetch(.timedOut) })
        #expect(!store.waitUntilReady(timeout: 0.1))
    }

    @Test(arguments: [false, true])
    func oversizedDocumentIsRejected(withoutContentLength: Bool) async throws {
        let idp = try IdP()
        defer { idp.stop() }
        idp.configure { $0.padding = 200_000; $0.omitContentLength = withoutContentLength }
        let store = JWKSStore(configuration: JWKSStoreConfiguration(maxDocumentBytes: 65536, logger: { _ in }))
        let source = JWKSSource.remote(uri: idp.jwksURL)
        store.register(source)
        #expect(await store.awaitKeys(source) == nil)
        #expect(store.status(for: source)?.lastError == .fetch(.tooLarge(limit: 65536)))

        idp.configure { $0.padding = 1000 }  // under the limit: accepted (after the retry backoff)
        let roomy = JWKSStore(configuration: JWKSStoreConfiguration(maxDocumentBytes: 65536, logger: { _ in }))
        roomy.register(source)
        #expect(await roomy.awaitKeys(source)?.keys.kids == ["k1", "k2"])
    }

    @Test func nonHTTPSchemesAreRejected() async throws {
        let store = JWKSStore(configuration: JWKSStoreConfiguration(logger: { _ in }))
        for uri in ["file:///etc/hostname", "ftp://127.0.0.1/jwks.json", "gopher://127.0.0.1/"] {
            let source = JWKSSource.remote(uri: uri)
            store.register(source)
            #expect(await store.awaitKeys(source) == nil)
            #expect(store.status(for: source)?.lastError == .fetch(.unsupportedScheme(uri)))
        }

        // A redirect may not leave http/https either.
        let idp = try IdP()
        defer { idp.stop() }
        idp.configure { $0.redirectTo = "file:///etc/passwd" }
        let redirected = JWKSSource.remote(uri: idp.base + "/redirect")
        store.register(redirected)
        #expect(await store.awaitKeys(redirected) == nil)
        #expect(store.status(for: redirected)?.lastError?.label == "unsupported_scheme")

        idp.configure { $0.redirectTo = idp.jwksURL }  // an http redirect is followed
        let followed = JWKSSource.remote(uri: idp.base + "/redirect?ok")
        store.register(followed)
        #expect(await store.awaitKeys(followed)?.keys.kids == ["k1", "k2"])
    }
}
