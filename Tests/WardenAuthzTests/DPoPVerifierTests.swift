import Testing
@testable import WardenAuthz
import WardenPolicy

/// The request-side DPoP rules that need no signed proof: how `htu` is compared (RFC 9449 §4.3 step 9,
/// RFC 3986 §6.2.2–6.2.3) and the bounded replay cache. Signed proofs are exercised through Envoy in
/// test_dpop.py.
@Suite("DPoP request checks")
struct DPoPVerifierTests {
    @Test(arguments: [
        ("https://API.example.com/orders", "https://api.example.com/orders"),
        ("HTTPS://api.example.com:443/orders", "https://api.example.com/orders"),
        ("http://api.example.com:80/x?y=1#z", "http://api.example.com/x"),
        ("https://api.example.com", "https://api.example.com/"),
        ("https://api.example.com:8443/a", "https://api.example.com:8443/a"),
        ("http://api.example.com/A%2Fb", "http://api.example.com/A%2Fb"),  // the path is compared as it is
    ])
    func htuIsNormalized(_ input: String, _ expected: String) {
        #expect(DPoPVerifier.normalized(input) == expected)
    }

    @Test(arguments: ["ftp://x/y", "/relative", "https://user@host/x", "https:///x", "no-scheme"])
    func notAnHTTPURI(_ input: String) {
        #expect(DPoPVerifier.normalized(input) == nil)
    }

    @Test func requestURIIsSchemeAuthorityAndPathWithoutQuery() {
        var r = RequestAttributes()
        (r.scheme, r.host, r.path) = ("https", "api.example.com", "/orders/7?expand=1")
        #expect(DPoPVerifier.requestURI(r) == "https://api.example.com/orders/7")
    }

    @Test func replayCacheRefusesASeenIdUntilItExpires() {
        let cache = ReplayCache(capacity: 10)
        #expect(cache.insert("k a", expires: 160, now: 100))
        #expect(!cache.insert("k a", expires: 160, now: 120))
        #expect(cache.insert("k a", expires: 230, now: 170))  // expired: a new proof may reuse it (RFC: within the window)
    }

    @Test func replayCacheIsBoundedAndCountsUnexpiredEvictions() {
        let cache = ReplayCache(capacity: 3)
        for i in 0..<5 { #expect(cache.insert("id\(i)", expires: 1000, now: 0)) }
        #expect(cache.count == 3)
        #expect(cache.evictedUnexpired == 2)
        #expect(!cache.insert("id4", expires: 1000, now: 1))
    }
}
