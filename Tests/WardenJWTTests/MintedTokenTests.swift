import Foundation
import Testing
import WardenCrypto
import WardenJSON
@testable import WardenJWT

/// Tokens minted by joserfc/cryptography for every algorithm, with and without `kid`: Fixtures/minted-tokens.json,
/// written by Tests/IntegrationTests/swift_fixtures/jwt_tokens.py and checked there against joserfc on every
/// integration run (test_swift_fixtures.py).
struct MintedTokenTests {
    struct Minted: Sendable {
        let now: Double
        let jwks: [UInt8]
        let secrets: [UInt8]
        let tokens: [(alg: String, kid: String?, token: String)]
        let pem: [String: String]
    }

    static let minted: Minted = {
        let doc = Fixture.json(Fixture.packageRoot.appendingPathComponent("Tests/WardenJWTTests/Fixtures/minted-tokens.json"))
        let tokens = (doc["tokens"] as! [[String: Any]]).map { ($0["alg"] as! String, $0["kid"] as? String, $0["token"] as! String) }
        return Minted(now: (doc["now"] as! NSNumber).doubleValue, jwks: Fixture.jsonBytes(doc["jwks"]!),
                      secrets: Fixture.jsonBytes(doc["secrets"]!), tokens: tokens, pem: doc["pem"] as! [String: String])
    }()

    static var now: Double { minted.now }

    static let requirements = JWTRequirements(issuer: "https://issuer.example", audiences: ["api"])

    static func keys(for alg: String) throws -> JWKSet {
        alg.hasPrefix("HS") ? try JWKSet.parse(minted.secrets, allowSymmetric: true) : try JWKSet.parse(minted.jwks)
    }

    @Test("the fixture has every algorithm, with and without kid")
    func everyAlgorithm() {
        let algorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512"]
        #expect(Self.minted.tokens.map(\.alg) == algorithms.flatMap { [$0, $0] })
        #expect(Self.minted.tokens.map { $0.kid == nil } == algorithms.flatMap { _ in [false, true] })
    }

    @Test("every algorithm, with and without kid", arguments: 0..<26)
    func verifies(_ i: Int) throws {
        let t = Self.minted.tokens[i]
        let keys = try Self.keys(for: t.alg)
        #expect(keys.skipped.isEmpty, "\(keys.skipped)")
        let jwt = try JWTVerifier.verify(t.token, requirements: Self.requirements, keys: keys, now: Self.now).get()
        #expect(jwt.algorithm?.rawValue == t.alg)
        #expect(jwt.subject == "user-\(t.alg)")
        #expect(jwt.principal == "https://issuer.example/user-\(t.alg)")
        #expect(jwt.audiences == ["api", "other"])
        #expect(jwt.presenter == "client-1")
        #expect(jwt.claims["nested"]?["a"]?["b"] == .string("c"))
        #expect(jwt.expiresAt == Self.now + 3600)
    }

    @Test("asymmetric keys also load from PEM SubjectPublicKeyInfo", arguments: ["rsa", "p256", "p384", "p521", "ed25519"])
    func pem(_ kid: String) throws {
        let key = JWK(publicKey: try PublicKey(pem: Self.minted.pem[kid]!), kid: kid)
        let set = JWKSet(keys: [key])
        for t in Self.minted.tokens where t.kid == kid {
            #expect(throws: Never.self) { try JWTVerifier.verify(t.token, requirements: Self.requirements, keys: set, now: Self.now).get() }
        }
    }

    @Test("the key decides: a token verifies only with the key of its own type and curve")
    func crossKeyRejection() throws {
        let all = try JWKSet.parse(Self.minted.jwks)
        for t in Self.minted.tokens where t.kid != nil && !t.alg.hasPrefix("HS") {
            for other in all.keys where other.kid != t.kid {
                // Rename the other key to the token's kid so only type/curve can stop it.
                let renamed = JWK(publicKey: other.publicKey!, kid: t.kid)
                let r = JWTVerifier.verify(t.token, requirements: Self.requirements, keys: JWKSet(keys: [renamed]), now: Self.now)
                #expect(r.failure == .badSignature, "\(t.alg) with \(other.kid!)")
            }
        }
    }
}
