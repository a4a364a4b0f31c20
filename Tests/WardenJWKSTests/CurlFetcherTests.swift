import Foundation
import Testing
import WardenJWKS

@Suite("CurlFetcher against a real HTTP server (IdP.swift)")
struct CurlFetcherTests {
    @Test func getsBodyStatusAndETagAndHonoursIfNoneMatch() throws {
        let idp = try IdP()
        defer { idp.stop() }
        let fetcher = CurlFetcher()
        let document = try fetcher.get(FetchRequest(url: idp.jwksURL, timeout: 5, maxBytes: 1 << 20))
        #expect(document.status == 200)
        #expect(String(decoding: document.body, as: UTF8.self) == idp.jwksDocument)
        let etag = try #require(document.etag)
        let again = try fetcher.get(FetchRequest(url: idp.jwksURL, timeout: 5, maxBytes: 1 << 20, ifNoneMatch: etag))
        #expect(again.status == 304 && again.body.isEmpty)
        let missing = try fetcher.get(FetchRequest(url: idp.base + "/nothing", timeout: 5, maxBytes: 1 << 20))
        #expect(missing.status == 404)
    }

    @Test(arguments: ["file:///etc/passwd", "ftp://127.0.0.1/x", "dict://127.0.0.1/", "127.0.0.1/jwks.json"])
    func onlyHTTPAndHTTPSAreFetched(url: String) {
        #expect(throws: FetchError.unsupportedScheme(url)) {
            try CurlFetcher().get(FetchRequest(url: url, timeout: 1, maxBytes: 1024))
        }
    }

    @Test func timeoutAndRefusedConnectionAreTyped() throws {
        let idp = try IdP()
        idp.configure { $0.delay = 3 }
        #expect(throws: FetchError.timedOut) {
            try CurlFetcher().get(FetchRequest(url: idp.jwksURL, timeout: 0.5, maxBytes: 1024))
        }
        let url = idp.jwksURL
        idp.stop()
        #expect {
            try CurlFetcher().get(FetchRequest(url: url, timeout: 1, maxBytes: 1024))
        } throws: { ($0 as? FetchError)?.label == "connect" }
    }

    @Test func httpsVerifiesAgainstTheConfiguredCABundle() throws {
        let idp = try IdP(tls: true)
        defer { idp.stop() }
        let request = FetchRequest(url: idp.jwksURL, timeout: 5, maxBytes: 1 << 20)
        #expect(idp.jwksURL.hasPrefix("https://127.0.0.1:"))

        let ca = try #require(idp.caBundle)
        let trusting = CurlFetcher(caBundlePath: ca)
        let document = try trusting.get(request)
        #expect(document.status == 200)
        #expect(String(decoding: document.body, as: UTF8.self) == idp.jwksDocument)

        // Neither the system store nor a missing bundle trusts the self-signed certificate.
        for fetcher in [CurlFetcher(), CurlFetcher(caBundlePath: NSTemporaryDirectory() + "warden-missing-\(UUID().uuidString).pem")] {
            #expect {
                try fetcher.get(request)
            } throws: { ($0 as? FetchError)?.label == "tls" }
        }
    }

    @Test func storeUsesTheConfiguredCABundle() async throws {
        let idp = try IdP(tls: true)
        defer { idp.stop() }
        let store = JWKSStore(configuration: JWKSStoreConfiguration(caBundlePath: idp.caBundle, logger: { _ in }))
        let source = JWKSSource.discovery(issuer: idp.base)
        store.register(source)
        #expect(await store.awaitKeys(source)?.keys.kids == ["k1", "k2"])
        #expect(store.status(for: source)?.uri == idp.jwksURL)
    }

    /// An https jwksUri that redirects to plain http is not followed (an attacker's keys over http would be
    /// accepted otherwise); an https → https redirect still is.
    @Test func httpsNeverRedirectsToHTTP() async throws {
        let tlsIdP = try IdP(tls: true)
        let plain = try IdP()
        defer { tlsIdP.stop(); plain.stop() }
        let store = JWKSStore(configuration: JWKSStoreConfiguration(caBundlePath: tlsIdP.caBundle, logger: { _ in }))
        tlsIdP.configure { $0.redirectTo = plain.jwksURL }
        let downgraded = JWKSSource.remote(uri: tlsIdP.base + "/redirect")
        store.register(downgraded)
        #expect(await store.awaitKeys(downgraded) == nil)
        #expect(plain.stats.jwks == 0)
        tlsIdP.configure { $0.redirectTo = tlsIdP.jwksURL }
        let upgraded = JWKSSource.remote(uri: tlsIdP.base + "/redirect?https")
        store.register(upgraded)
        #expect(await store.awaitKeys(upgraded)?.keys.kids == ["k1", "k2"])
    }

    /// A discovery document served over https that names an http jwks_uri is refused.
    @Test func httpsDiscoveryNeverNamesHTTPKeys() async throws {
        let tlsIdP = try IdP(tls: true)
        let plain = try IdP()
        defer { tlsIdP.stop(); plain.stop() }
        tlsIdP.configure { $0.jwksURI = plain.jwksURL }
        let store = JWKSStore(configuration: JWKSStoreConfiguration(caBundlePath: tlsIdP.caBundle, logger: { _ in }))
        let source = JWKSSource.discovery(issuer: tlsIdP.base)
        store.register(source)
        #expect(await store.awaitKeys(source) == nil)
        #expect(plain.stats.jwks == 0)
        #expect(store.status(for: source)?.lastError?.description.contains("not https") == true)
    }
}
