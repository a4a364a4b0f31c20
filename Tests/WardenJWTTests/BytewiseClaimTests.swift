import Testing
import WardenJSON
@testable import WardenJWT

/// `iss`, `aud` and `kid` are compared byte for byte, as Envoy's jwt_verify_lib compares `std::string`s:
/// an issuer configured as `https://idp/é` (precomposed) does not accept a token whose `iss` is the
/// decomposed spelling, nor the other way round, and `K` is not KELVIN SIGN (U+212A).
@Suite struct BytewiseClaimTests {
    static let nfc = "https://idp/caf\u{E9}"
    static let nfd = "https://idp/cafe\u{301}"

    static func token(iss: String, aud: String = "api", kid: String = "k1") -> UnverifiedJWT {
        let payload = JSONValue.object(["iss": .string(iss), "sub": .string("alice"), "aud": .string(aud)]).serialized
        let t = Fixture.hmacToken(header: #"{"alg":"HS256","kid":"\#(kid)"}"#, payload: payload, secret: Fixture.secret)
        return try! UnverifiedJWT.parse(t)
    }

    @Test(arguments: [(nfc, nfc, true), (nfd, nfd, true), (nfc, nfd, false), (nfd, nfc, false),
                      ("https://idp/K", "https://idp/\u{212A}", false)])
    func issuerBytes(_ configured: String, _ iss: String, _ accepted: Bool) {
        let jwt = Self.token(iss: iss)
        var ok = true
        do throws(JWTError) { try jwt.checkClaims(JWTRequirements(issuer: configured), now: 0) } catch {
            ok = false
            #expect(error == .issuerMismatch(expected: configured, actual: iss))
        }
        #expect(ok == accepted)
    }

    @Test(arguments: [("caf\u{E9}", "caf\u{E9}", true), ("caf\u{E9}", "cafe\u{301}", false), ("cafe\u{301}", "caf\u{E9}", false),
                      // Envoy's sanitizing strips `https://` and a trailing `/` byte-wise, whatever follows them.
                      ("https://api/", "api", true), ("https://\u{301}x", "\u{301}x/", true), ("https://api/", "api\u{301}", false)])
    func audienceBytes(_ allowed: String, _ aud: String, _ accepted: Bool) {
        let jwt = Self.token(iss: "i", aud: aud)
        var ok = true
        do throws(JWTError) { try jwt.checkClaims(JWTRequirements(issuer: "i", audiences: [allowed]), now: 0) } catch { ok = false }
        #expect(ok == accepted, "\(allowed) \(aud)")
    }

    @Test func kidIsMatchedByBytes() throws {
        let keys = JWKSet(keys: [JWK(secret: Fixture.secret, kid: "K")])
        #expect(throws: Never.self) { try Self.token(iss: "i", kid: "K").verifySignature(with: keys) }
        #expect(throws: JWTError.unknownKid("\u{212A}")) { try Self.token(iss: "i", kid: "\u{212A}").verifySignature(with: keys) }
    }
}
