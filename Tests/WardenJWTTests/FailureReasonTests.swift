import Foundation
import Testing
import WardenCrypto
import WardenJSON
@testable import WardenJWT

/// One crafted token per failure reason, with the Envoy body it must produce.
struct FailureReasonTests {
    static let now = 1_700_000_000.0
    static let good = #"{"iss":"https://issuer.example","sub":"alice","aud":"api","exp":1700000600,"nbf":1699999000}"#
    static let req = JWTRequirements(issuer: "https://issuer.example", audiences: ["api"])

    static func hs(_ payload: String = good, header: String = #"{"alg":"HS256","kid":"k1"}"#) -> String {
        Fixture.hmacToken(header: header, payload: payload, secret: Fixture.secret)
    }

    static func verify(_ token: String, _ req: JWTRequirements = req, keys: JWKSet = Fixture.operatorKeys, now: Double = now) -> Result<VerifiedJWT, JWTError> {
        JWTVerifier.verify(token, requirements: req, keys: keys, now: now)
    }

    struct Case: Sendable, CustomStringConvertible {
        let name: String
        let token: String
        let requirements: JWTRequirements
        let now: Double
        let expected: JWTError
        let envoy: String
        var description: String { name }
        init(_ name: String, _ token: String, req: JWTRequirements = FailureReasonTests.req, now: Double = FailureReasonTests.now, _ expected: JWTError, _ envoy: String) {
            self.name = name; self.token = token; self.requirements = req; self.now = now; self.expected = expected; self.envoy = envoy
        }
    }

    static let badFormat = "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
    static let cases: [Case] = {
        let t = hs()
        let parts = t.split(separator: ".").map(String.init)
        let noneHeader = Fixture.b64(#"{"alg":"none"}"#)
        let payload = Fixture.b64(good)
        return [
            Case("alg none", "\(noneHeader).\(payload).", .malformed(.notCompact(segments: 2)), badFormat),
            Case("alg none with signature", "\(noneHeader).\(payload).\(parts[2])", .unsupportedAlgorithm("none"), "Jwt header [alg] is not supported"),
            Case("alg None", hs(header: #"{"alg":"None"}"#), .unsupportedAlgorithm("None"), "Jwt header [alg] is not supported"),
            Case("alg NONE", hs(header: #"{"alg":"NONE"}"#), .unsupportedAlgorithm("NONE"), "Jwt header [alg] is not supported"),
            Case("alg ES256K", hs(header: #"{"alg":"ES256K"}"#), .unsupportedAlgorithm("ES256K"), "Jwt header [alg] is not supported"),
            Case("alg missing", hs(header: #"{"kid":"k1"}"#), .malformed(.algorithmMissing), "Jwt header [alg] field is required and must be a string"),
            Case("alg not a string", hs(header: #"{"alg":256}"#), .malformed(.algorithmMissing), "Jwt header [alg] field is required and must be a string"),
            Case("kid not a string", hs(header: #"{"alg":"HS256","kid":7}"#), .malformed(.kidNotString), "Jwt header [kid] field is not a string"),
            Case("crit with unknown extension", hs(header: #"{"alg":"HS256","kid":"k1","crit":["exp"],"exp":1}"#), .malformed(.unsupportedCritical(["exp"])), "Jwt verification fails"),
            Case("expired", hs(#"{"iss":"https://issuer.example","aud":"api","exp":1699999000}"#), .expired(exp: 1699999000, now: now), "Jwt is expired"),
            Case("nbf in future", hs(#"{"iss":"https://issuer.example","aud":"api","nbf":1700000100}"#), .notYetValid(nbf: 1700000100, now: now), "Jwt not yet valid"),
            Case("exp one second past skew", hs(#"{"iss":"https://issuer.example","aud":"api","exp":1699999939}"#), .expired(exp: 1699999939, now: now), "Jwt is expired"),
            Case("nbf one second past skew", hs(#"{"iss":"https://issuer.example","aud":"api","nbf":1700000061}"#), .notYetValid(nbf: 1700000061, now: now), "Jwt not yet valid"),
            Case("decimal exp past skew", hs(#"{"iss":"https://issuer.example","aud":"api","exp":1699999939.5}"#), .expired(exp: 1699999939, now: now), "Jwt is expired"),  // fraction dropped, as Envoy
            Case("issuer trailing slash", hs(#"{"iss":"https://issuer.example/","aud":"api"}"#), .issuerMismatch(expected: "https://issuer.example", actual: "https://issuer.example/"), "Jwt issuer is not configured"),
            Case("issuer http vs https", hs(#"{"iss":"http://issuer.example","aud":"api"}"#), .issuerMismatch(expected: "https://issuer.example", actual: "http://issuer.example"), "Jwt issuer is not configured"),
            Case("issuer missing", hs(#"{"aud":"api"}"#), .issuerMismatch(expected: "https://issuer.example", actual: nil), "Jwt issuer is not configured"),
            Case("audience not allowed", hs(#"{"iss":"https://issuer.example","aud":["web","mobile"]}"#), .audienceMismatch(got: ["web", "mobile"], allowed: ["api"]), "Audiences in Jwt are not allowed"),
            Case("audience missing", hs(#"{"iss":"https://issuer.example"}"#), .audienceMismatch(got: [], allowed: ["api"]), "Audiences in Jwt are not allowed"),
            Case("unknown kid", hs(header: #"{"alg":"HS256","kid":"other"}"#), .unknownKid("other"), "Jwks doesn't have key to match kid or alg from Jwt"),
            Case("bad signature", parts[0] + "." + parts[1] + "." + Base64URL.encode([UInt8](repeating: 7, count: 32)), .badSignature, "Jwt verification fails"),
            Case("truncated (two segments)", parts[0] + "." + parts[1], .malformed(.notCompact(segments: 2)), badFormat),
            Case("truncated signature", String(t.dropLast(3)), .badSignature, "Jwt verification fails"),
            Case("empty", "", .malformed(.notCompact(segments: 1)), badFormat),
            Case("four segments", t + ".x", .malformed(.notCompact(segments: 4)), badFormat),
            Case("JWE (five segments)", "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d", .malformed(.encrypted), badFormat),
            Case("header bad base64", "e$J." + parts[1] + "." + parts[2], .malformed(.headerBase64), "Jwt header is an invalid Base64url encoded"),
            // Complete padding decodes (absl, as Envoy) but the token never verifies; Envoy's body.
            Case("header padded", parts[0] + "=." + parts[1] + "." + parts[2], .lenientEncoding, "Jwt verification fails"),
            Case("header over-padded", parts[0] + "===." + parts[1] + "." + parts[2], .malformed(.headerBase64), "Jwt header is an invalid Base64url encoded"),
            Case("header non-canonical bits", "eyJhbGciOiJIUzI1NiIsIngiOjEyfR." + parts[1] + "." + parts[2], .malformed(.headerBase64), "Jwt header is an invalid Base64url encoded"),
            Case("header not JSON", Fixture.b64("{alg:HS256}") + "." + parts[1] + "." + parts[2], .malformed(.headerJSON("unexpected byte 0x61 at byte 1")), "Jwt header is an invalid JSON"),
            Case("payload bad base64", parts[0] + ".ab+c." + parts[2], .malformed(.payloadBase64), "Jwt payload is an invalid Base64url encoded"),
            Case("payload not an object", hs("[1,2]"), .malformed(.payloadJSON("not an object")), "Jwt payload is an invalid JSON"),
            Case("signature over-padded", t + "==", .malformed(.signatureBase64), "Jwt signature is an invalid Base64url encoded"),
            // jwt_verify_lib decodes with absl, which skips whitespace: junk after a space is part of the
            // signature, so the signature fails, not the format (Envoy's body for `Bearer <jwt> junk`).
            Case("signature then a space and junk", t + " trailing", .lenientEncoding, "Jwt verification fails"),
            // Same signature bytes, but not a JWS: never accepted (Envoy accepts these two).
            Case("signature with a space inside", String(t.dropLast(10)) + " " + String(t.suffix(10)), .lenientEncoding, "Jwt verification fails"),
            Case("signature padded", t + "=", .lenientEncoding, "Jwt verification fails"),
            Case("padded with an unknown kid", hs(header: #"{"alg":"HS256","kid":"other"}"#) + "=", .unknownKid("other"), "Jwks doesn't have key to match kid or alg from Jwt"),
            Case("signature then a space and a non-alphabet byte", t + " tr!", .malformed(.signatureBase64), "Jwt signature is an invalid Base64url encoded"),
            Case("exp as string", hs(#"{"iss":"https://issuer.example","exp":"1700000600"}"#), .malformed(.claimType(claim: "exp")), "Jwt payload [exp] field is not an integer"),
            Case("nbf as string", hs(#"{"iss":"https://issuer.example","nbf":"0"}"#), .malformed(.claimType(claim: "nbf")), "Jwt payload [nbf] field is not an integer"),
            Case("exp negative", hs(#"{"iss":"https://issuer.example","exp":-5}"#), .malformed(.claimOutOfRange(claim: "exp")), "Jwt payload [exp] field is not a positive 64 bit integer"),
            Case("exp huge", hs(#"{"iss":"https://issuer.example","exp":2.001e206}"#), .malformed(.claimOutOfRange(claim: "exp")), "Jwt payload [exp] field is not a positive 64 bit integer"),
            Case("iss not a string", hs(#"{"iss":1}"#), .malformed(.claimType(claim: "iss")), "Jwt payload [iss] field is not a string"),
            Case("aud list with a number", hs(#"{"iss":"https://issuer.example","aud":["api",1]}"#), .malformed(.claimType(claim: "aud")), "Jwt payload [aud] field is not a string or string list"),
            Case("duplicate claim", hs(#"{"iss":"https://issuer.example","iss":"https://evil.example"}"#), .malformed(.payloadJSON("duplicate key \"iss\" at byte 32")), "Jwt payload is an invalid JSON"),
            Case("deep nesting", hs(#"{"iss":"https://issuer.example","x":"# + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "}"),
                 .malformed(.payloadJSON("nesting deeper than 16 at byte 51")), "Jwt payload is an invalid JSON"),
            Case("oversized", hs(#"{"iss":"https://issuer.example","pad":""# + String(repeating: "a", count: 9000) + #""}"#),
                 .tokenTooLarge(size: 12135, limit: 8192), badFormat),
            Case("require expiration", hs(#"{"iss":"https://issuer.example","aud":"api"}"#), req: JWTRequirements(issuer: "https://issuer.example", requireExpiration: true), .missingExpiration, "Jwt is expired"),
            Case("max lifetime", hs(#"{"iss":"https://issuer.example","exp":1700090000}"#), req: JWTRequirements(issuer: "https://issuer.example", maxLifetime: 3600), .lifetimeTooLong(lifetime: 90000, limit: 3600), "Jwt verification fails"),  // Envoy 1.40 jwt_authn (test_token_policy.py)
        ]
    }()

    @Test(arguments: cases)
    func reason(_ c: Case) {
        let r = JWTVerifier.verify(c.token, requirements: c.requirements, keys: Fixture.operatorKeys, now: c.now)
        #expect(r.failure == c.expected, "\(c.name): \(String(describing: r.failure))")
        #expect(r.failure?.envoyMessage == c.envoy)
        if case .audienceMismatch = c.expected { #expect(r.failure?.httpStatus == 403) } else { #expect(r.failure?.httpStatus == 401) }
        #expect(!(r.failure?.detail.contains(c.token) ?? true) || c.token.isEmpty)
    }

    @Test("the good token verifies, and skew edges are inclusive on both sides (Envoy)")
    func skewEdges() throws {
        _ = try Self.verify(Self.hs()).get()
        let exp = 1_700_000_000.0
        let t = Self.hs(#"{"iss":"https://issuer.example","aud":"api","exp":1700000000,"nbf":1700000000}"#)
        #expect(throws: Never.self) { try Self.verify(t, now: exp + 60).get() }          // now == exp + skew: valid
        #expect(throws: Never.self) { try Self.verify(t, now: exp + 60.999).get() }      // whole seconds (Envoy's uint64 now)
        #expect(Self.verify(t, now: exp + 61).failure == .expired(exp: exp, now: exp + 61))
        #expect(throws: Never.self) { try Self.verify(t, now: exp - 60).get() }          // now + skew == nbf: valid
        #expect(Self.verify(t, now: exp - 60.001).failure == .notYetValid(nbf: exp, now: exp - 61))
        // Custom skew 0.
        let strict = JWTRequirements(issuer: "https://issuer.example", audiences: ["api"], clockSkew: 0)
        #expect(throws: Never.self) { try Self.verify(t, strict, now: exp).get() }
        #expect(Self.verify(t, strict, now: exp + 1).failure == .expired(exp: exp, now: exp + 1))
    }

    @Test("issuer mismatch details name the trailing slash and the scheme")
    func issuerDetails() {
        let slash = JWTError.issuerMismatch(expected: "https://issuer.example", actual: "https://issuer.example/")
        #expect(slash.detail.contains("trailing slash"))
        let scheme = JWTError.issuerMismatch(expected: "https://issuer.example", actual: "http://issuer.example")
        #expect(scheme.detail.contains("http vs https"))
        #expect(!JWTError.issuerMismatch(expected: "a", actual: "b").detail.contains("slash"))
    }

    @Test("an unconfigured issuer that differs from a configured one by a slash or scheme says so")
    func unconfiguredIssuerNearMiss() {
        let configured = ["https://issuer.example", "https://other.example/realms/a/"]
        let slash = JWTError.unconfiguredIssuer("https://issuer.example/", configured: configured)
        #expect(slash == .issuerMismatch(expected: "https://issuer.example", actual: "https://issuer.example/"))
        #expect(slash.detail.contains("trailing slash"))
        #expect(slash.envoyMessage == "Jwt issuer is not configured")
        let scheme = JWTError.unconfiguredIssuer("http://other.example/realms/a", configured: configured)
        #expect(scheme.detail.contains("http vs https") || scheme.detail.contains("scheme and a trailing slash"))
        #expect(JWTError.unconfiguredIssuer("https://evil.example", configured: configured) == .issuerNotConfigured("https://evil.example"))
        #expect(JWTError.unconfiguredIssuer(nil, configured: configured) == .issuerNotConfigured(nil))
        #expect(JWTError.unconfiguredIssuer("https://issuer.example/", configured: []) == .issuerNotConfigured("https://issuer.example/"))
    }

    @Test("audiences compare like Envoy: any match, scheme and trailing slash ignored; none configured = unchecked")
    func audiences() throws {
        let t = Self.hs(#"{"iss":"https://issuer.example","aud":["https://api.example/","x"]}"#)
        _ = try Self.verify(t, JWTRequirements(issuer: "https://issuer.example", audiences: ["api.example"])).get()
        _ = try Self.verify(t, JWTRequirements(issuer: "https://issuer.example", audiences: ["nope", "x"])).get()
        _ = try Self.verify(t, JWTRequirements(issuer: "https://issuer.example")).get()
        #expect(Self.verify(t, JWTRequirements(issuer: "https://issuer.example", audiences: ["y"])).failure?.httpStatus == 403)
    }

    @Test("alg confusion: HS256 signed with the RSA public key (PEM, DER, JWK bytes) never verifies against an RSA JWKS")
    func algorithmConfusion() throws {
        let n = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
        let jwkText = #"{"kty":"RSA","kid":"rsa1","e":"AQAB","n":"\#(n)"}"#
        let keys = try JWKSet.parse(Array(#"{"keys":[\#(jwkText)]}"#.utf8))
        let der = keys.keys[0].publicKey!.subjectPublicKeyInfo
        let pem = "-----BEGIN PUBLIC KEY-----\n" + Data(der).base64EncodedString(options: .lineLength64Characters) + "\n-----END PUBLIC KEY-----\n"
        for secret in [Array(pem.utf8), der, Array(jwkText.utf8), Base64URL.decode(n)!] {
            for header in [#"{"alg":"HS256","kid":"rsa1"}"#, #"{"alg":"HS256"}"#] {
                let token = Fixture.hmacToken(header: header, payload: Self.good, secret: secret)
                let r = Self.verify(token, keys: keys)
                #expect(r.failure == .badSignature, "\(header)")
            }
        }
        // And even an operator set that also allows symmetric keys will not accept the RSA key as a secret.
        let op = try JWKSet.parse(Array(#"{"keys":[\#(jwkText)]}"#.utf8), allowSymmetric: true)
        #expect(Self.verify(Fixture.hmacToken(header: #"{"alg":"HS256"}"#, payload: Self.good, secret: Array(pem.utf8)), keys: op).failure == .badSignature)
    }

    @Test("wrong crv: an ES256 token never verifies with a P-384 key, and alg/crv mismatches are skipped at load")
    func wrongCurve() throws {
        let set = try JWKSet.parse(Array(#"{"keys":[{"kty":"EC","crv":"P-256","alg":"ES384","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#.utf8))
        #expect(set.keys.isEmpty)
        #expect(set.skipped.first?.contains("does not fit crv") == true)
        let a3 = "eyJhbGciOiJFUzI1NiJ9.\(RFCExampleTests.payloadSegment).DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
        let p256 = try JWKSet.parse(Array(#"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#.utf8))
        let asES384 = a3.replacingOccurrences(of: "eyJhbGciOiJFUzI1NiJ9", with: Fixture.b64(#"{"alg":"ES384"}"#))
        #expect(JWTVerifier.verify(asES384, requirements: JWTRequirements(issuer: nil), keys: p256, now: 1300819380).failure == .badSignature)
    }

    @Test("jku, x5u and jwk headers are ignored: an attacker's embedded key is never used")
    func embeddedKeysIgnored() {
        let t = Self.hs(header: #"{"alg":"HS256","kid":"k1","jku":"http://127.0.0.1:1/jwks","jwk":{"kty":"oct","k":"AAAA"}}"#)
        #expect(throws: Never.self) { try Self.verify(t).get() }
        let forged = Fixture.hmacToken(header: #"{"alg":"HS256","jwk":{"kty":"oct","k":"AAAA"}}"#, payload: Self.good, secret: [0, 0, 0])
        #expect(Self.verify(forged).failure == .badSignature)
    }

    @Test("JWKS skips unusable keys with a reason and never fails the whole set")
    func jwksSkipping() throws {
        let doc = #"""
        {"keys":[
          {"kty":"RSA","kid":"enc","use":"enc","e":"AQAB","n":"AQAB"},
          {"kty":"EC","kid":"priv","crv":"P-256","d":"AA","x":"AA","y":"AA"},
          {"kty":"OKP","kid":"x","crv":"X25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
          {"kty":"OKP","kid":"ed","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
          {"kty":"oct","kid":"h","k":"AAAA"},
          {"kty":"XYZ"},
          "nope",
          {"kty":"OKP","kid":"ops","crv":"Ed25519","key_ops":["sign"],"x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
        ]}
        """#
        let set = try JWKSet.parse(Array(doc.utf8))
        #expect(set.kids == ["ed"])
        #expect(set.keys.first?.kty == "OKP")
        #expect(set.skipped.count == 7)
        #expect(throws: JWTError.self) { try JWKSet.parse(Array("[]".utf8)) }
        #expect(throws: JWTError.self) { try JWKSet.parse(Array(#"{"keys":{}}"#.utf8)) }
        #expect(throws: JWTError.self) { try JWKSet.parse(Array("{".utf8)) }
        #expect(JWTError.malformedJWKS("x").envoyMessage == "Jwks doesn't have any valid public key")
    }

    @Test("Envoy's bodies for the errors no token parse produces")
    func keyErrorBodies() {
        #expect(JWTError.jwksUnavailable("x").envoyMessage == "Jwks remote fetch is failed")
        #expect(JWTError.issuerNotConfigured("x").envoyMessage == "Jwt issuer is not configured")
        #expect(JWTError.unknownKid(nil).envoyMessage == "Jwks doesn't have key to match kid or alg from Jwt")
    }
}
