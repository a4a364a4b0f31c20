import Synchronization
import Testing
import WardenAuthz
import WardenExtAuthz
import WardenJSON
import WardenJWKS
import WardenJWT
import WardenPolicy

/// The parsed-token memo in front of the verified-token cache must never let a repeated token skip a
/// check that would now fail: time, issuer, keys.
private final class Clock: Sendable {
    private let now = Mutex(testNow)
    func read() -> Double { now.withLock { $0 } }
    func advance(_ seconds: Double) { now.withLock { $0 += seconds } }
}

private func cachedPipeline(_ set: PolicySet, clock: Clock) -> CheckPipeline {
    CheckPipeline(policies: set, scope: WorkloadScope(), keyStore: JWKSStore(), tokenCache: VerifiedTokenCache(),
                  options: AuthzOptions(), clock: { clock.read() })
}

private func bearer(_ t: String) -> RequestAttributes { request(headers: ["authorization": "Bearer \(t)"]) }

@Test func repeatedTokenIsAllowedAndCountedAsCacheHit() throws {
    let p = cachedPipeline(try policies(), clock: Clock())
    for _ in 0..<3 { #expect(p.decide(bearer(good)).decision.httpStatus == 200) }
    // First check verifies the signature; the next two are hits (memo or cache), none a second verify.
    #expect(p.tokenCache!.statistics.hits + p.recentTokenHits == 2)
    #expect(p.tokenCache!.statistics.insertions == 1)
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

/// A memo hit answers with the `jwt_payload` metadata encoded once per token: the bytes must be exactly
/// what encoding the decision gives, and what the first (verified, not remembered) check answered.
@Test func rememberedTokenAnswersTheSameBytes() throws {
    let p = cachedPipeline(try policies(), clock: Clock())
    let claims: [String: JSONValue] = ["scope": .array([.string("read"), .string("write")]), "n": .number(1.5),
                                       "nested": .object(["b": .bool(true), "z": .null, "a": .string("ü\u{0}")])]
    let t = bearer(token(claims))
    let first = p.decide(t)
    let second = p.decide(t)
    #expect(first.decision.isAllowed && second.decision == first.decision)
    #expect(p.recentTokenHits == 1)
    let expected = CheckResponse(first.decision).serializedBytes()
    #expect(first.serializedCheckResponse() == expected)
    #expect(second.serializedCheckResponse() == expected)
    let decoded = try CheckResponse(serializedBytes: second.serializedCheckResponse())
    guard case .structValue(let payload)? = decoded.dynamicMetadata["jwt_payload"] else {
        Issue.record("no jwt_payload metadata")
        return
    }
    #expect(payload["nested"] == .structValue(["a": .string("ü\u{0}"), "b": .bool(true), "z": .null]))
    // A decision changed after the check is encoded as it is now, not from the cached bytes.
    var edited = second
    if case .allow(var ok) = edited.decision {
        ok.dynamicMetadata["jwt_payload"] = .object(["sub": .string("someone else")])
        edited.decision = .allow(ok)
    }
    #expect(edited.serializedCheckResponse() == CheckResponse(edited.decision).serializedBytes())
    #expect(edited.serializedCheckResponse() != expected)
}

/// A remembered token's allow answer is reused only while it would be built the same: same compiled
/// policies and header; a reload that changes the output headers, another header location or a
/// query-parameter token builds it anew. Every answer's bytes are its decision's encoding.
@Test func rememberedAllowAnswerFollowsPolicyAndLocation() throws {
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
    func check(_ r: RequestAttributes) -> CheckOutcome {
        let o = p.decide(r)
        #expect(o.decision.isAllowed)
        #expect(o.serializedCheckResponse() == CheckResponse(o.decision).serializedBytes())
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
