import Testing
@testable import WardenAuthz
import WardenSync
import WardenJSON
import WardenJWKS
import WardenJWT
import WardenPolicy

/// The token cache must never let a repeated token skip a check that would now fail: time, issuer, keys.
private final class Clock: Sendable {
    private let now = Locked(testNow)
    func read() -> Double { now.withLock { $0 } }
    func advance(_ seconds: Double) { now.withLock { $0 += seconds } }
}

private func cachedPipeline(_ set: PolicySet, clock: Clock, entries: Int = 1000, bytes: Int = 1 << 20) -> CheckService {
    pipeline(set, tokenCache: (entries, bytes), clock: { clock.read() })
}

private func bearer(_ t: String) -> RequestAttributes { request(headers: ["authorization": "Bearer \(t)"]) }

@Test func repeatedTokenIsAllowedAndCountedAsCacheHit() throws {
    let p = cachedPipeline(try policies(), clock: Clock())
    for _ in 0..<3 { #expect(p.decide(bearer(good)).decision.httpStatus == 200) }
    // First check verifies the signature; the next two are hits, none a second verify.
    #expect(p.tokenCacheStatistics.hits == 2)
    #expect(p.tokenCacheStatistics.misses == 1)
    #expect(p.tokenCacheStatistics.entries == 1)
    #expect(p.decide(bearer(good)).record.tokens.first?.fromCache == true)
}

@Test func rememberedTokenStillExpires() throws {
    let clock = Clock()
    let p = cachedPipeline(try policies(), clock: clock)
    #expect(p.decide(bearer(good)).decision.httpStatus == 200)
    #expect(p.decide(bearer(good)).decision.httpStatus == 200)
    clock.advance(300 + 61)  // past exp + the 60 s skew
    let late = p.decide(bearer(good))
    #expect(late.decision.httpStatus == 401)
    #expect(late.decision.deny?.body == "Jwt is expired")
}

@Test func rememberedTokenFailsOnceItsKeyIsReplaced() throws {
    let p = cachedPipeline(try policies(), clock: Clock())
    #expect(p.decide(bearer(good)).decision.httpStatus == 200)
    #expect(p.decide(bearer(good)).decision.httpStatus == 200)
    let otherSecret = Array("another secret, 32 bytes long!!!".utf8)
    let otherJWKS = #"{"keys":[{"kty":"oct","kid":"k1","alg":"HS256","k":"\#(Base64URL.encode(otherSecret))"}]}"#
    p.install(try PolicySet.parse(yaml: """
    apiVersion: security.istio.io/v1
    kind: RequestAuthentication
    metadata: {name: jwt, namespace: default}
    spec:
      jwtRules:
      - issuer: "\(issuer)"
        audiences: [api]
        jwks: '\(otherJWKS)'
    """))
    let after = p.decide(bearer(good))
    #expect(after.decision.httpStatus == 401)
    #expect(after.decision.deny?.body == "Jwt verification fails")
    #expect(p.decide(bearer(token(key: otherSecret))).decision.httpStatus == 200)
}

@Test func rememberedTokenFromAnotherIssuerIsStillRejected() throws {
    let p = cachedPipeline(try policies(), clock: Clock())
    #expect(p.decide(bearer(good)).decision.httpStatus == 200)
    // Same token, now under policies that trust no issuer at the header location.
    p.install(try PolicySet.parse(yaml: """
    apiVersion: security.istio.io/v1
    kind: RequestAuthentication
    metadata: {name: jwt, namespace: default}
    spec:
      jwtRules:
      - issuer: "https://other.example"
        jwks: '\(jwks)'
    """))
    let after = p.decide(bearer(good))
    #expect(after.decision.httpStatus == 401)
    #expect(after.decision.deny?.body == "Jwt issuer is not configured")
}

/// A cached token's allow answer is built for each request: a reload that changes the output headers,
/// another header location or a query-parameter token each give their own answer.
@Test func cachedTokenAnswerFollowsPolicyAndLocation() throws {
    func rules(_ claimHeader: String) throws -> PolicySet {
        try PolicySet.parse(yaml: """
        apiVersion: security.istio.io/v1
        kind: RequestAuthentication
        metadata: {name: jwt, namespace: default}
        spec:
          jwtRules:
          - issuer: "\(issuer)"
            jwks: '\(jwks)'
            outputClaimToHeaders:
            - {header: \(claimHeader), claim: sub}
            fromHeaders:
            - {name: authorization, prefix: "Bearer "}
            - {name: x-jwt}
            fromParams: [token]
        """)
    }
    let p = cachedPipeline(try rules("x-sub"), clock: Clock())
    func check(_ r: RequestAttributes) -> CheckResult {
        let o = p.decide(r)
        #expect(o.decision.isAllowed)
        return o
    }
    let first = check(bearer(good))
    let second = check(bearer(good))
    #expect(second.decision == first.decision)
    #expect(second.decision.allow?.headersToSet == [HTTPHeader("x-sub", "alice")])
    #expect(second.decision.allow?.headersToRemove.contains("authorization") == true)
    // Same token in another header: that header is the one removed.
    let other = check(request(headers: ["x-jwt": good]))
    #expect(other.decision.allow?.headersToRemove.contains("x-jwt") == true)
    #expect(other.decision.allow?.headersToRemove.contains("authorization") == false)
    #expect(check(bearer(good)).decision == first.decision)
    // A query-parameter token: its key is stripped, per request path.
    let query = check(request("GET", "/p?token=\(good)&a=1"))
    #expect(query.decision.allow?.queryParametersToRemove.contains("token") == true)
    // Reload with another claim header: the remembered answer is not reused.
    p.install(try rules("x-user"))
    let reloaded = check(bearer(good))
    #expect(reloaded.decision.allow?.headersToSet == [HTTPHeader("x-user", "alice")])
    #expect(reloaded.decision.allow?.headersToRemove.contains("x-sub") == false)
}

/// Keys reloaded with the verifying key still in the set (a new generation, same fingerprint): the
/// cached token still stands for its signature check.
@Test func cachedTokenSurvivesAReloadThatKeepsItsKey() throws {
    let p = cachedPipeline(try policies(), clock: Clock())
    #expect(p.decide(bearer(good)).decision.isAllowed)
    let extra = #"{"keys":[{"kty":"oct","kid":"k1","alg":"HS256","k":"\#(Base64URL.encode(secret))"},{"kty":"oct","kid":"k2","alg":"HS256","k":"\#(Base64URL.encode(Array("another secret, 32 bytes long!!!".utf8)))"}]}"#
    p.install(try PolicySet.parse(yaml: """
    apiVersion: security.istio.io/v1
    kind: RequestAuthentication
    metadata: {name: jwt, namespace: default}
    spec:
      jwtRules:
      - issuer: "\(issuer)"
        audiences: [api]
        jwks: '\(extra)'
    """))
    let after = p.decide(bearer(good))
    #expect(after.decision.isAllowed)
    #expect(after.record.tokens.first?.fromCache == true)
}

/// Bounded by entries and by estimated bytes: neither is ever exceeded, whatever is inserted.
@Test(arguments: [(4, 1 << 20), (1000, 3 * TokenCache.cost(ofTokenBytes: 200))] as [(Int, Int)])
func cacheStaysWithinItsBounds(entries: Int, bytes: Int) throws {
    let p = cachedPipeline(try policies(), clock: Clock(), entries: entries, bytes: bytes)
    for i in 0..<64 {
        #expect(p.decide(bearer(token(["n": .number(Double(i))]))).decision.isAllowed)
        let s = p.tokenCacheStatistics
        #expect(s.entries <= entries && s.bytes <= bytes)
    }
    #expect(p.tokenCacheStatistics.entries > 0)
}

@Test func disabledCacheVerifiesEveryTime() throws {
    let p = cachedPipeline(try policies(), clock: Clock(), entries: 0, bytes: 0)
    for _ in 0..<3 { #expect(p.decide(bearer(good)).record.tokens.first?.fromCache == false) }
    #expect(p.tokenCacheStatistics.hits == 0 && p.tokenCacheStatistics.entries == 0)
}

/// A full cache keeps admitting new tokens: by the byte bound with live entries (each new token evicts),
/// and after the tokens it holds expire (they make room, they do not freeze it).
@Test func fullCacheKeepsAdmittingNewTokens() throws {
    let clock = Clock()
    let p = cachedPipeline(try policies(), clock: clock, entries: 1000, bytes: 3 * TokenCache.cost(ofTokenBytes: 260))
    for i in 0..<12 {
        let t = bearer(token(["n": .number(Double(i))]))
        #expect(p.decide(t).record.tokens.first?.fromCache == false)
        #expect(p.decide(t).record.tokens.first?.fromCache == true, "token \(i) was not admitted")
    }
    clock.advance(400)  // every token above has expired (exp = testNow + 300)
    for i in 0..<12 {
        let t = bearer(token(["n": .number(Double(100 + i)), "exp": .number(testNow + 1000)]))
        #expect(p.decide(t).decision.isAllowed)
        #expect(p.decide(t).record.tokens.first?.fromCache == true, "token \(i) after expiry was not admitted")
    }
    let s = p.tokenCacheStatistics
    #expect(s.bytes <= 3 * TokenCache.cost(ofTokenBytes: 260) && s.entries <= 3)
}
