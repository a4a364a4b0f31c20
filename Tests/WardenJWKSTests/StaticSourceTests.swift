import Foundation
import Testing
import WardenJWKS

@Suite("Inline and file JWKS sources")
struct StaticSourceTests {
    @Test func inlineKeysAreParsedAtRegistrationAndNeverExpire() throws {
        let clock = FakeClock(0)
        let store = JWKSStore(configuration: JWKSStoreConfiguration(cacheDuration: 1, maxStaleness: 1, logger: { _ in }),
                              clock: clock.function)
        let source = JWKSSource.inline(try Fixtures.text("rfc7517-a1.json"))
        store.register(source)
        #expect(store.snapshot(for: source)?.keys.kids == ["1", "2011-04-29"])
        clock.set(1_000_000)
        #expect(store.snapshot(for: source) != nil)
        let status = try #require(store.status(for: source))
        #expect(status.uri == nil && status.nextAttemptAt == nil)
        #expect(!source.description.contains("MKBCTNIcKUSD"))  // inline documents are not echoed
    }

    /// Credentials in a URI never reach /config_dump, /metrics or a log line.
    @Test(arguments: [
        ("https://user:pa55@idp.example/jwks?key=s3cret&v=1", "https://<redacted>@idp.example/jwks?key=…&v=…"),
        ("https://idp.example/jwks", "https://idp.example/jwks"),
        ("http://a@b@idp.example/x", "http://<redacted>@idp.example/x"),
    ])
    func urisAreRedacted(_ uri: String, _ redacted: String) {
        #expect(JWKSSource.redacted(uri: uri) == redacted)
        #expect(JWKSSource.remote(uri: uri).redactedDescription == "remote:" + redacted)
        #expect(JWKSSource.redactedText("remote:\(uri): fetch failed (\(uri) said 503)") == "remote:\(redacted): fetch failed (\(redacted) said 503)")
    }

    /// The request path reads keys through the slot `register` hands out: it follows the store, and an
    /// unregistered source's slot is emptied (checks then ask the store, which no longer knows it).
    @Test func keySlotFollowsRegistration() throws {
        let store = JWKSStore(configuration: JWKSStoreConfiguration(logger: { _ in }))
        let source = JWKSSource.inline(try Fixtures.text("rfc7517-a1.json"))
        let slot = store.register(source)
        #expect(slot.snapshot(now: 0)?.keys.kids == ["1", "2011-04-29"])
        #expect(store.register(source) === slot)
        store.unregister(source)
        #expect(slot.snapshot(now: 0) == nil)
        #expect(store.register(source).snapshot(now: 0) != nil)
    }

    @Test(arguments: [
        ("{", "malformed_jwks"),
        (#"{"keys":[]}"#, "no_usable_keys"),
        (#"{"keys":{}}"#, "malformed_jwks"),
    ])
    func badInlineKeysAreRecorded(text: String, label: String) throws {
        let store = JWKSStore(configuration: JWKSStoreConfiguration(logger: { _ in }))
        let source = JWKSSource.inline(text)
        store.register(source)
        #expect(store.snapshot(for: source) == nil)
        #expect(store.status(for: source)?.lastError?.label == label)
        #expect(!store.isReady)
    }

    @Test func fileKeysAreReadAtRegistrationAndReloadedOnUnknownKid() async throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/jwks.json"
        try Fixtures.text("rfc7517-a1.json").write(toFile: path, atomically: true, encoding: .utf8)
        let store = JWKSStore(configuration: JWKSStoreConfiguration(logger: { _ in }))
        let source = JWKSSource.file(path: path)
        store.register(source)
        let first = try #require(store.snapshot(for: source))
        #expect(first.keys.kids == ["1", "2011-04-29"])
        #expect(store.status(for: source)?.uri == path)

        let rotated = try Fixtures.text("rfc7517-a1.json").replacingOccurrences(of: "2011-04-29", with: "2024-01-01")
        try rotated.write(toFile: path, atomically: true, encoding: .utf8)
        let second = try #require(await store.awaitRefetch(source, kid: "2024-01-01"))
        #expect(second.keys.kids == ["1", "2024-01-01"])
        #expect(second.generation > first.generation)
    }

    @Test func missingOrOversizedFileIsRecorded() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = JWKSStore(configuration: JWKSStoreConfiguration(maxDocumentBytes: 100, logger: { _ in }))
        let missing = JWKSSource.file(path: directory + "/nope.json")
        store.register(missing)
        #expect(store.snapshot(for: missing) == nil)
        #expect(store.status(for: missing)?.lastError == .fileUnreadable(path: directory + "/nope.json", reason: "no such file"))

        let big = directory + "/big.json"
        try Fixtures.text("rfc7517-a1.json").write(toFile: big, atomically: true, encoding: .utf8)
        let oversized = JWKSSource.file(path: big)
        store.register(oversized)
        #expect(store.status(for: oversized)?.lastError == .fetch(.tooLarge(limit: 100)))
    }

    static let hmacKey = #"{"kty":"oct","kid":"hmac","alg":"HS256","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#

    @Test func symmetricKeysOnlyFromOperatorConfiguredSources() async throws {
        let store = JWKSStore(configuration: JWKSStoreConfiguration(logger: { _ in }),
                              fetcher: ScriptedFetcher(ScriptedFetcher.jwks(#"{"keys":[\#(Self.hmacKey)]}"#)))
        let inline = JWKSSource.inline(#"{"keys":[\#(Self.hmacKey)]}"#)
        store.register(inline)
        #expect(store.snapshot(for: inline)?.keys.kids == ["hmac"])

        // The same document from a jwks_uri yields no key: an HMAC secret is never public.
        let remote = JWKSSource.remote(uri: "https://idp.test/jwks")
        store.register(remote)
        #expect(await store.awaitKeys(remote) == nil)
        guard case .noUsableKeys(let skipped)? = store.status(for: remote)?.lastError else {
            Issue.record("expected noUsableKeys, got \(String(describing: store.status(for: remote)?.lastError))")
            return
        }
        #expect(skipped.count == 1)
    }
}
