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

    @Test(arguments: [("HTTPS://API.EXAMPLE.COM/x", "https://api.example.com/x"),
                      ("https://api.\u{212A}.com/x", "https://api.\u{212A}.com/x")])  // Kelvin sign: no Unicode folding
    func onlyASCIIIsLowerCased(_ input: String, _ expected: String) {
        #expect(DPoPVerifier.normalized(input) == expected)
    }

    @Test func replayCacheIsBoundedAndCountsUnexpiredEvictions() {
        let cache = ReplayCache(capacity: 3)
        for i in 0..<5 { #expect(cache.insert("id\(i)", expires: 1000, now: 0)) }
        #expect(cache.count == 3)
        #expect(cache.evictedUnexpired == 2)
        #expect(!cache.insert("id4", expires: 1000, now: 1))
    }
}

/// The deadline timer's queue: whatever order deadlines arrive in, they come out earliest first.
@Suite("Deadline timer heap")
struct DueHeapTests {
    @Test(arguments: [[5, 1, 4, 2, 3], [1, 2, 3, 4, 5], [5, 4, 3, 2, 1], [7, 7, 1, 9, 0, 3, 3, 8]])
    func popsInDueOrder(_ dues: [UInt64]) {
        var heap = DueHeap()
        for d in dues { heap.push(d) {} }
        var out: [UInt64] = []
        while let d = heap.firstDue {
            out.append(d)
            _ = heap.pop()
        }
        #expect(out == dues.sorted())
    }

    @Test func largeRandomOrder() {
        var heap = DueHeap()
        var rng = SystemRandomNumberGenerator()
        let dues = (0..<5000).map { _ in UInt64.random(in: 0..<1_000_000, using: &rng) }
        for d in dues { heap.push(d) {} }
        var last: UInt64 = 0
        var count = 0
        while let d = heap.firstDue {
            #expect(d >= last)
            last = d
            _ = heap.pop()
            count += 1
        }
        #expect(count == dues.count)
    }
}
