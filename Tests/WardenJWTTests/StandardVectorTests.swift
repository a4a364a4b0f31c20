import Foundation
import Testing
import WardenCrypto
@testable import WardenJWT

/// RFC 7515 Appendix A and RFC 8037 examples: published tokens and keys.
struct RFCExampleTests {
    static let payloadSegment = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"

    struct Example: Sendable, CustomStringConvertible {
        let name: String
        let jwks: String
        let token: String
        let operatorConfigured: Bool
        var description: String { name }
    }

    static let examples: [Example] = [
        Example(name: "RFC 7515 A.1 HS256",
                jwks: #"{"keys":[{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}]}"#,
                token: "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.\(payloadSegment).dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                operatorConfigured: true),
        Example(name: "RFC 7515 A.2 RS256",
                jwks: #"{"keys":[{"kty":"RSA","e":"AQAB","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"}]}"#,
                token: "eyJhbGciOiJSUzI1NiJ9.\(payloadSegment).cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw",
                operatorConfigured: false),
        Example(name: "RFC 7515 A.3 ES256",
                jwks: #"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#,
                token: "eyJhbGciOiJFUzI1NiJ9.\(payloadSegment).DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q",
                operatorConfigured: false),
    ]

    @Test("RFC 7515 Appendix A tokens verify (exp 1300819380 checked at that time)", arguments: examples)
    func rfc7515(_ e: Example) throws {
        let keys = try JWKSet.parse(Array(e.jwks.utf8), allowSymmetric: e.operatorConfigured)
        #expect(keys.keys.count == 1, "\(keys.skipped)")
        let result = JWTVerifier.verify(e.token, requirements: JWTRequirements(issuer: "joe"), keys: keys, now: 1300819380)
        let jwt = try result.get()
        #expect(jwt.issuer == "joe")
        #expect(jwt.expiresAt == 1300819380)
        #expect(jwt.claims["http://example.com/is_root"] == .bool(true))
        #expect(jwt.payloadSegment == Self.payloadSegment)
        // And the same token today is expired, with Envoy's body.
        let late = JWTVerifier.verify(e.token, requirements: JWTRequirements(issuer: "joe"), keys: keys, now: 1300819380 + 61)
        #expect(late.failure?.envoyMessage == "Jwt is expired")
        // A tampered payload fails the signature.
        let tampered = e.token.replacingOccurrences(of: ".eyJpc3MiOiJqb2Ui", with: ".eyJpc3MiOiJqb2Ei")
        #expect(JWTVerifier.verify(tampered, requirements: JWTRequirements(issuer: nil), keys: keys, now: 1300819380).failure == .badSignature)
    }

    @Test("RFC 7515 A.1 HMAC key is refused from a remote JWKS")
    func remoteJWKSNeverYieldsHMAC() throws {
        let keys = try JWKSet.parse(Array(Self.examples[0].jwks.utf8))
        #expect(keys.keys.isEmpty)
        #expect(keys.skipped.count == 1 && keys.skipped[0].contains("operator-configured"))
    }

    @Test("RFC 8037 A.4 Ed25519")
    func rfc8037() throws {
        let keys = try JWKSet.parse(Array(#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#.utf8))
        let jws = try CompactJWS.parse("eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")
        #expect(String(decoding: jws.payload, as: UTF8.self) == "Example of Ed25519 signing")
        #expect(jws.algorithm == .EdDSA)
        try jws.verifySignature(with: keys)
        let bad = try CompactJWS.parse("eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmY.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")
        #expect(throws: JWTError.badSignature) { try bad.verifySignature(with: keys) }
    }
}

/// Wycheproof JWS and JWK suites, applied to compact-JWS verification.
struct WycheproofJOSETests {
    struct Case: Sendable, CustomStringConvertible {
        let tcId: Int
        let comment: String
        let valid: Bool
        let jwks: [UInt8]
        let operatorConfigured: Bool
        let jws: String?
        var description: String { "tcId \(tcId) \(valid ? "valid" : "invalid") \(comment)" }
    }

    /// Cases where Warden deliberately disagrees with the vector's label, and why.
    static let deviations: [Int: String] = [
        346: "key alg PS256, token alg PS384: a declared key alg must equal the token alg (RFC 7517 §4.4, Envoy)",
        347: "key alg \"ES521\" is not an algorithm: the key is skipped",
        350: "key alg PS256, token alg PS384 (as 346)",
        351: "key alg \"ES521\" (as 347)",
        372: "'?' inserted into the header: not base64url; strict decoding rejects it",
        373: "'?' inserted into the payload: not base64url; strict decoding rejects it",
        367: "the jws in the file is byte-identical to the valid tcId 357 (the padding the comment names is absent)",
        370: "as 367: identical to tcId 357",
    ]

    static func signatureCases() -> [Case] {
        let doc = Fixture.json(Fixture.wycheproof.appendingPathComponent("json_web_signature_test.json"))
        var out: [Case] = []
        for g in doc["testGroups"] as! [[String: Any]] {
            let key = (g["public"] ?? g["private"]) as! [String: Any]
            let oct = key["kty"] as? String == "oct"
            for t in g["tests"] as! [[String: Any]] {
                out.append(Case(tcId: t["tcId"] as! Int, comment: t["comment"] as! String, valid: t["result"] as! String == "valid",
                                jwks: Fixture.jsonBytes(["keys": [key]]), operatorConfigured: oct, jws: t["jws"] as? String))
            }
        }
        return out
    }

    static func keyCases() -> [Case] {
        let doc = Fixture.json(Fixture.wycheproof.appendingPathComponent("json_web_key_test.json"))
        var out: [Case] = []
        for g in doc["testGroups"] as! [[String: Any]] {
            let set = (g["public"] ?? g["private"]) as! [String: Any]
            for t in g["tests"] as! [[String: Any]] {
                out.append(Case(tcId: t["tcId"] as! Int, comment: t["comment"] as! String, valid: t["result"] as! String == "valid",
                                jwks: Fixture.jsonBytes(set), operatorConfigured: true, jws: t["jws"] as? String))
            }
        }
        return out
    }

    static func accepts(_ c: Case) -> Bool {
        guard let token = c.jws, let keys = try? JWKSet.parse(c.jwks, allowSymmetric: c.operatorConfigured),
              let jws = try? CompactJWS.parse(token) else { return false }
        return (try? jws.verifySignature(with: keys)) != nil
    }

    @Test("json_web_signature_test.json", arguments: signatureCases())
    func signature(_ c: Case) {
        let expected = Self.deviations[c.tcId] == nil ? c.valid : !c.valid
        #expect(Self.accepts(c) == expected, "\(c) \(Self.deviations[c.tcId] ?? "")")
    }

    @Test("json_web_key_test.json", arguments: keyCases())
    func key(_ c: Case) {
        #expect(Self.accepts(c) == c.valid, "\(c)")
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let e) = self { return e }
        return nil
    }
}
