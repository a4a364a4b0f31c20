import Foundation
import Testing
import WardenCrypto
import WardenJSON
@testable import WardenJWT

/// Tokens minted by Python joserfc/cryptography (Fixtures/mint_tokens.py) for every algorithm.
struct MintedTokenTests {
    static let now = 1_700_000_000.0

    struct Minted: Sendable {
        let jwks: [UInt8]
        let secrets: [UInt8]
        let tokens: [(alg: String, kid: String?, token: String)]
        let pem: [String: String]
    }

    static let minted: Minted = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-jwt-\(getpid())-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let python = ProcessInfo.processInfo.environment["WARDEN_PYTHON"] ?? Fixture.packageRoot.appendingPathComponent(".venv/bin/python").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-W", "ignore", Fixture.packageRoot.appendingPathComponent("Tests/WardenJWTTests/Fixtures/mint_tokens.py").path,
                       dir.path, String(Int(now))]
        p.standardOutput = FileHandle.nullDevice
        do { try p.run() } catch { fatalError("cannot run \(python): \(error)") }
        let deadline = Date().addingTimeInterval(120)
        while p.isRunning && Date() < deadline { usleep(50_000) }
        if p.isRunning { p.terminate(); fatalError("mint_tokens.py timed out") }
        precondition(p.terminationStatus == 0, "mint_tokens.py failed")
        let doc = Fixture.json(dir.appendingPathComponent("cases.json"))
        let tokens = (doc["tokens"] as! [[String: Any]]).map { ($0["alg"] as! String, $0["kid"] as? String, $0["token"] as! String) }
        return Minted(jwks: Fixture.jsonBytes(doc["jwks"]!), secrets: Fixture.jsonBytes(doc["secrets"]!), tokens: tokens,
                      pem: doc["pem"] as! [String: String])
    }()

    static let requirements = JWTRequirements(issuer: "https://issuer.example", audiences: ["api"])

    static func keys(for alg: String) throws -> JWKSet {
        alg.hasPrefix("HS") ? try JWKSet.parse(minted.secrets, allowSymmetric: true) : try JWKSet.parse(minted.jwks)
    }

    @Test("every algorithm, with and without kid", arguments: 0..<26)
    func verifies(_ i: Int) throws {
        let t = Self.minted.tokens[i]
        let keys = try Self.keys(for: t.alg)
        #expect(keys.skipped.isEmpty, "\(keys.skipped)")
        let jwt = try JWTVerifier.verify(t.token, requirements: Self.requirements, keys: keys, now: Self.now).get()
        #expect(jwt.algorithm.rawValue == t.alg)
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
