import Testing
import WardenJSON
@testable import WardenJWT

/// Header fields and registered claims are picked out of the members in one pass: exactly the
/// members with those names, nothing that merely resembles them.
struct RegisteredMemberTests {
    static func parse(header: String, payload: String) -> Result<UnverifiedJWT, JWTError> {
        let token = Fixture.hmacToken(header: header, payload: payload, secret: Fixture.secret)
        do throws(JWTError) { return .success(try UnverifiedJWT.parse(token)) } catch { return .failure(error) }
    }

    @Test func headerFields() throws {
        let jwt = try Self.parse(header: #"{"typ":"JWT","cty":"x","kid":"k1","alg":"HS256","Alg":"none","kid2":1}"#, payload: "{}").get()
        #expect(jwt.header.alg == "HS256")
        #expect(jwt.header.kid == "k1")
        #expect(jwt.header.typ == "JWT")
        #expect(jwt.header.cty == "x")
        #expect(jwt.header.members.count == 6)
        let bare = try Self.parse(header: #"{"alg":"HS256","typ":1,"\u212Aid":2}"#, payload: "{}").get()
        #expect(bare.header.kid == nil)  // KELVIN SIGN + "id" is canonically "Kid", not "kid"
        #expect(bare.header.typ == nil)
    }

    @Test(arguments: [
        (#"{"Alg":"HS256"}"#, JWTError.malformed(.algorithmMissing)),
        (#"{"alg ":"HS256"}"#, .malformed(.algorithmMissing)),
        (#"{"alg":"HS256","kid":5}"#, .malformed(.kidNotString)),
        (#"{"alg":"HS256","crit":[]}"#, .malformed(.unsupportedCritical(["(malformed crit)"]))),
        (#"{"alg":"XX1"}"#, .unsupportedAlgorithm("XX1")),
    ])
    func headerErrors(header: String, error: JWTError) {
        #expect(Self.parse(header: header, payload: "{}").failure == error)
    }

    @Test func claims() throws {
        let jwt = try Self.parse(header: #"{"alg":"HS256"}"#, payload: #"{"iss":"i","sub":"s","aud":["a","b"],"azp":"p","exp":3,"nbf":1,"iat":2,"jti":"j","ISS":5,"isss":5,"scope":"x"}"#).get()
        #expect(jwt.issuer == "i")
        #expect(jwt.subject == "s")
        #expect(jwt.audiences == ["a", "b"])
        #expect(jwt.presenter == "p")
        #expect(jwt.expiresAt == 3)
        #expect(jwt.notBefore == 1)
        #expect(jwt.issuedAt == 2)
        #expect(jwt.claims.count == 11)
        let none = try Self.parse(header: #"{"alg":"HS256"}"#, payload: #"{"azp":1,"Iss":1,"aud ":1}"#).get()
        #expect(none.issuer == nil && none.presenter == nil && none.audiences.isEmpty)
    }

    @Test("times are whole seconds and exp 0 means no expiration, as in jwt_verify_lib", arguments: [
        (#"{"exp":0,"nbf":0,"iat":0}"#, nil as Double?, 0 as Double?),
        (#"{"exp":0.9,"nbf":7.9}"#, nil, 7),
        (#"{"exp":1700000000.75,"nbf":1}"#, 1_700_000_000, 1),
    ])
    func wholeSecondTimes(payload: String, exp: Double?, nbf: Double?) throws {
        let jwt = try Self.parse(header: #"{"alg":"HS256"}"#, payload: payload).get()
        #expect(jwt.expiresAt == exp)
        #expect(jwt.notBefore == nbf)
    }

    @Test func expZeroIsNotExpired() throws {
        let jwt = try Self.parse(header: #"{"alg":"HS256"}"#, payload: #"{"iss":"i","exp":0}"#).get()
        #expect(throws: Never.self) { try jwt.checkClaims(JWTRequirements(issuer: "i"), now: 1_800_000_000) }
        #expect(throws: JWTError.missingExpiration) {
            try jwt.checkClaims(JWTRequirements(issuer: "i", requireExpiration: true), now: 1_800_000_000)
        }
    }

    @Test("now is compared in whole seconds", arguments: [(1060.99, true), (1061.0, false)])
    func wholeSecondNow(now: Double, valid: Bool) throws {
        let jwt = try Self.parse(header: #"{"alg":"HS256"}"#, payload: #"{"iss":"i","exp":1000}"#).get()
        var accepted = true
        do throws(JWTError) { try jwt.checkClaims(JWTRequirements(issuer: "i", clockSkew: 60), now: now) } catch { accepted = false }
        #expect(accepted == valid)
    }

    @Test("claim errors come in Envoy's order whatever the member order", arguments: [
        (#"{"aud":1,"jti":1,"exp":"x","nbf":"x","iat":"x","sub":1,"iss":1}"#, JWTError.malformed(.claimType(claim: "iss"))),
        (#"{"aud":1,"jti":1,"exp":"x","nbf":"x","iat":"x","sub":1}"#, .malformed(.claimType(claim: "sub"))),
        (#"{"aud":1,"jti":1,"exp":"x","nbf":-1,"iat":"x"}"#, .malformed(.claimType(claim: "iat"))),
        (#"{"aud":1,"jti":1,"exp":"x","nbf":-1}"#, .malformed(.claimOutOfRange(claim: "nbf"))),
        (#"{"aud":1,"jti":1,"exp":"x"}"#, .malformed(.claimType(claim: "exp"))),
        (#"{"aud":1,"jti":1}"#, .malformed(.claimType(claim: "jti"))),
        (#"{"aud":[1]}"#, .malformed(.claimType(claim: "aud"))),
    ])
    func claimOrder(payload: String, error: JWTError) {
        #expect(Self.parse(header: #"{"alg":"HS256"}"#, payload: payload).failure == error)
    }
}
