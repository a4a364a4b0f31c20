import Testing
@testable import WardenAuthz
import WardenJSON
import WardenJWKS
import WardenJWT
import WardenPolicy

/// DPoP server nonces on the socket-free Check path (RFC 9449 §9, §8.2). The proofs are ES256, signed once
/// with joserfc for a fixed key and `iat` = testNow (there is no signing in WardenCrypto); their nonces were
/// computed in Python from the documented format with `nonceKey`, so Swift's minting is checked too.
@Suite("DPoP server nonces in a check")
struct DPoPNonceCheckTests {
    static let nonceKey = Array(0..<32).map(UInt8.init)
    static let jkt = "z4Xc5iOHapBxTYtcs8ROOlZCx1CwX2L8ri5P9z9yWtA"
    static let boundToken = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImsxIn0.eyJhdWQiOiJhcGkiLCJjbmYiOnsiamt0IjoiejRYYzVpT0hhcEJ4VFl0Y3M4Uk9PbFpDeDFDd1gyTDhyaTVQOXo5eVd0QSJ9LCJleHAiOjE3NjcyMjU5MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.jZaH-Bq5nQqj6x2TOSBxGsdZFh6bKR7Ow9ndkie-Tkw"
    /// No nonce claim.
    static let withoutNonce = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7ImNydiI6IlAtMjU2IiwieCI6IkxQdzI1VUFJUk81YzUwanVJR1VCLXhkeU42SWxMXzE4MGpuVlM1cmdVaFUiLCJ5IjoiZXl4a1BpV0FZbDREM1dMX2Z1U1JnZXZZcnpxdVF6MnZUNjE3VnA3ZUhSUSIsImt0eSI6IkVDIn19.eyJqdGkiOiAicDEiLCAiaHRtIjogIkdFVCIsICJodHUiOiAiaHR0cDovL2FwaS5leGFtcGxlLmNvbS9kYXRhIiwgImlhdCI6IDE3NjcyMjU2MDAsICJhdGgiOiAiSExWMW4zVlNNQm9KY3hMZ2wzYS1xOGJXNUFBck1iam1feTZIZ3ZBcDVCTSJ9.QLIScS5l-LYVShPWwub3ZSCKwomd4WIW19Y3tSbmxr8Coafw7CO-O_Z69dMMLp7351mzvf4oSRCILTAPyx_kJw"
    /// A nonce issued 200 s before testNow (past half of a 300 s lifetime).
    static let withOldNonce = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7ImNydiI6IlAtMjU2IiwieCI6IkxQdzI1VUFJUk81YzUwanVJR1VCLXhkeU42SWxMXzE4MGpuVlM1cmdVaFUiLCJ5IjoiZXl4a1BpV0FZbDREM1dMX2Z1U1JnZXZZcnpxdVF6MnZUNjE3VnA3ZUhSUSIsImt0eSI6IkVDIn19.eyJqdGkiOiAicDIiLCAiaHRtIjogIkdFVCIsICJodHUiOiAiaHR0cDovL2FwaS5leGFtcGxlLmNvbS9kYXRhIiwgImlhdCI6IDE3NjcyMjU2MDAsICJhdGgiOiAiSExWMW4zVlNNQm9KY3hMZ2wzYS1xOGJXNUFBck1iam1feTZIZ3ZBcDVCTSIsICJub25jZSI6ICJBUUFBQUFCcFZiZzRNNHdSQjVTTW5kaWV0UUZtR21VY0hkZi0tNk4xYml1R19fbDZ1UHp5cS00In0._RaJMZdOH385m5qiRwFgLgIMetZMOKfqzIE7zb-M-agyXYSJKnHz75vY6DU-IpGUQZGIxO8pRHbVRZZoFqNhSQ"
    /// A nonce issued 10 s before testNow.
    static let withYoungNonce = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7ImNydiI6IlAtMjU2IiwieCI6IkxQdzI1VUFJUk81YzUwanVJR1VCLXhkeU42SWxMXzE4MGpuVlM1cmdVaFUiLCJ5IjoiZXl4a1BpV0FZbDREM1dMX2Z1U1JnZXZZcnpxdVF6MnZUNjE3VnA3ZUhSUSIsImt0eSI6IkVDIn19.eyJqdGkiOiAicDMiLCAiaHRtIjogIkdFVCIsICJodHUiOiAiaHR0cDovL2FwaS5leGFtcGxlLmNvbS9kYXRhIiwgImlhdCI6IDE3NjcyMjU2MDAsICJhdGgiOiAiSExWMW4zVlNNQm9KY3hMZ2wzYS1xOGJXNUFBck1iam1feTZIZ3ZBcDVCTSIsICJub25jZSI6ICJBUUFBQUFCcFZiajJjMzN6RW5Ld0pCNk50ZXRhQ1BDRnFqNndobUhrYVFVMk9UVjRqQ0MtSlJvIn0.ehOWx7MqjbkWb_-QnJzHhrrMKLnTDl5opOxK4_K9BDlaItBzGqk8YvT9nCokVAholdhhNpdqwUl2mKIdoQOHxw"
    /// A nonce issued 400 s before testNow (expired).
    static let withExpiredNonce = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7ImNydiI6IlAtMjU2IiwieCI6IkxQdzI1VUFJUk81YzUwanVJR1VCLXhkeU42SWxMXzE4MGpuVlM1cmdVaFUiLCJ5IjoiZXl4a1BpV0FZbDREM1dMX2Z1U1JnZXZZcnpxdVF6MnZUNjE3VnA3ZUhSUSIsImt0eSI6IkVDIn19.eyJqdGkiOiAicDQiLCAiaHRtIjogIkdFVCIsICJodHUiOiAiaHR0cDovL2FwaS5leGFtcGxlLmNvbS9kYXRhIiwgImlhdCI6IDE3NjcyMjU2MDAsICJhdGgiOiAiSExWMW4zVlNNQm9KY3hMZ2wzYS1xOGJXNUFBck1iam1feTZIZ3ZBcDVCTSIsICJub25jZSI6ICJBUUFBQUFCcFZiZHcyQjdJQ1ZCaGJZZDctRUlQdUFJeUlvcTFMUmhidS1uWGVuVFFOSTVzcndFIn0.jXrFevA5N-KXoXPMQKUTjTVIHYzVR4qioexYxvRZ-7U0EgfytozUw2tQeY8gI5sRphsGP__7dqdWJIYp9lQJ2Q"

    func service(nonces: Bool = true, tokenCache: (Int, Int) = (0, 0)) throws -> CheckService {
        var options = AuthzOptions()
        if nonces { options.dpopNonces = DPoPNonces(key: Self.nonceKey, lifetime: 300) }
        return CheckService(policies: try policies(), scope: WorkloadScope(), keyStore: JWKSStore(), options: options,
                            tokenCache: tokenCache, clock: { testNow })
    }

    func check(_ service: CheckService, _ proof: String) -> CheckResult {
        service.decide(request("GET", "/data", headers: ["authorization": "DPoP \(Self.boundToken)", "dpop": proof]))
    }

    @Test func theFixturesAgreeWithSwift() {
        #expect(Self.boundToken == token(["cnf": .object(["jkt": .string(Self.jkt)])]))
        let nonces = DPoPNonces(key: Self.nonceKey, lifetime: 300)!
        #expect(nonces.mint(jkt: Self.jkt, now: testNow - 200) == (try? DPoPProof.verify(Self.withOldNonce).nonce))
    }

    @Test func aProofWithoutANonceIsAskedToUseOne() throws {
        let result = check(try service(), Self.withoutNonce)
        #expect(result.reasonCode == .jwtDPoPNonceRequired)
        let deny = try #require(result.decision.deny)
        #expect(deny.status == 401 && deny.body == "DPoP proof needs the server's nonce")
        let challenge = try #require(result.decision.header("www-authenticate"))
        #expect(challenge.hasPrefix("DPoP realm=") && challenge.contains(#"error="use_dpop_nonce""#))
        #expect(challenge.contains(#"error_description="Resource server requires nonce in DPoP proof""#))
        let nonce = try #require(result.decision.header("dpop-nonce"))
        #expect(DPoPNonces(key: Self.nonceKey, lifetime: 300)!.check(nonce, jkt: Self.jkt, now: testNow) == .valid(issuedAt: testNow))
        #expect(deny.headers.filter { $0.name == "dpop-nonce" }.count == 1)  // RFC 9449 §8: exactly one
    }

    @Test func withoutTheFlagNothingChanges() throws {
        let result = check(try service(nonces: false), Self.withoutNonce)
        #expect(result.reasonCode == .allowed)
        #expect(result.decision.allow?.responseHeadersToAdd == [])
    }

    @Test func anExpiredNonceIsRefusedWithAFreshOne() throws {
        let result = check(try service(), Self.withExpiredNonce)
        #expect(result.reasonCode == .jwtDPoPNonceExpired)
        #expect(result.decision.header("www-authenticate")?.contains(#"error="use_dpop_nonce""#) == true)
        #expect(result.decision.header("dpop-nonce") != nil)
    }

    @Test func aNonceFromAnotherKeyIsInvalid() throws {
        var options = AuthzOptions()
        options.dpopNonces = DPoPNonces(key: Self.nonceKey.map { $0 ^ 1 }, lifetime: 300)
        let other = CheckService(policies: try policies(), scope: WorkloadScope(), keyStore: JWKSStore(), options: options, clock: { testNow })
        #expect(check(other, Self.withYoungNonce).reasonCode == .jwtDPoPNonceInvalid)
    }

    @Test func aYoungNonceAllowsWithoutANewOne() throws {
        let result = check(try service(), Self.withYoungNonce)
        #expect(result.reasonCode == .allowed)
        #expect(result.decision.allow?.responseHeadersToAdd == [])
        #expect(result.record.dpopNonce == nil)
    }

    /// RFC 9449 §8.2: past half its lifetime, the allow carries the next nonce to the client — and that
    /// answer is this check's alone, never kept as the token's cached allow.
    @Test func anOldNonceAllowsWithTheNextOneAndIsNotMemoized() throws {
        let s = try service(tokenCache: (100, 1 << 20))
        _ = check(s, Self.withYoungNonce)  // the token is cached now
        let result = check(s, Self.withOldNonce)
        #expect(result.reasonCode == .allowed)
        let added = try #require(result.decision.allow?.responseHeadersToAdd)
        #expect(added.map(\.name) == ["dpop-nonce"])
        #expect(DPoPNonces(key: Self.nonceKey, lifetime: 300)!.check(added[0].value, jkt: Self.jkt, now: testNow) == .valid(issuedAt: testNow))
        #expect(result.answerKey == nil)
        // The same two checks without nonces: the second allow is the cached token's kept answer, so the
        // nil above is the nonce's doing.
        let plain = try service(nonces: false, tokenCache: (100, 1 << 20))
        _ = check(plain, Self.withYoungNonce)
        #expect(check(plain, Self.withOldNonce).answerKey != nil)
    }
}
