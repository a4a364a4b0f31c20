import Testing
import WardenAuthz
import WardenJSON
import WardenJWT
import WardenPolicy

// Token-side comparisons are byte-wise, as Envoy's jwt_authn makes them (issue 14): issuers select their
// rule by bytes, query and cookie delimiters are found by bytes (a combining mark after `=` or `?` must
// not hide a token, which would then reach the application unverified), and two tokens that differ only
// by a canonically equivalent character are two different tokens.

let issuerNFC = "https://idp.example/caf\u{E9}"
let issuerNFD = "https://idp.example/cafe\u{301}"
let secret2 = Array("another 32-byte secret for rule 2".utf8.prefix(32))

/// Rules for both spellings of one issuer, each with its own key (`k1` = `secret`, `k2` = `secret2`),
/// or only the NFC one.
func spellingPolicies(both: Bool) throws -> PolicySet {
    let jwks2 = #"{"keys":[{"kty":"oct","kid":"k2","alg":"HS256","k":"\#(Base64URL.encode(secret2))"}]}"#
    return try PolicySet.parse(yaml: """
    apiVersion: security.istio.io/v1
    kind: RequestAuthentication
    metadata: {name: jwt, namespace: default}
    spec:
      jwtRules:
      - issuer: "\(issuerNFC)"
        jwks: '\(jwks)'
    \(both ? "  - issuer: \"\(issuerNFD)\"\n    jwks: '\(jwks2)'" : "")
    """)
}

@Test(arguments: [
    // One rule for the NFC issuer: the NFD spelling is another issuer.
    (false, issuerNFC, "k1", 200, ReasonCode.allowed),
    (false, issuerNFD, "k1", 401, .jwtIssuerNotConfigured),
    // Rules for both spellings: each token is verified by its own rule's keys, never the other's.
    (true, issuerNFD, "k2", 200, .allowed),
    (true, issuerNFD, "k1", 401, .jwtUnknownKid),
    (true, issuerNFC, "k2", 401, .jwtUnknownKid),
] as [(Bool, String, String, Int, ReasonCode)])
func issuerSelectsItsRuleByBytes(_ both: Bool, _ iss: String, _ kid: String, _ status: Int, _ reason: ReasonCode) throws {
    let t = token(["iss": .string(iss)], kid: kid, key: kid == "k1" ? secret : secret2)
    let r = pipeline(try spellingPolicies(both: both)).decide(request("GET", "/", headers: ["authorization": "Bearer \(t)"]))
    #expect(r.decision.httpStatus == status)
    #expect(r.reasonCode == reason)
}

/// A token whose text contains `K`, and the same text with KELVIN SIGN (U+212A) in its place: Swift's `==`
/// calls them equal.
let tokenWithK: String = (0..<200).lazy.map { token(["n": .number(Double($0))]) }.first { $0.contains("K") }!
let tokenWithKelvin = tokenWithK.replacingAll("K", with: "\u{212A}")

@Test(arguments: [
    // `=` followed by a combining mark still ends the name: the value is a (malformed) token.
    ("/?access_token=\u{301}abc", [:], 401, ReasonCode.jwtMalformed),
    ("/x?\u{301}=1&access_token=abc", [:], 401, .jwtMalformed),
    ("/", ["cookie": "session=\u{301}abc"], 401, .jwtMalformed),
    ("/", ["cookie": "a=b;\u{301}x=1; session=abc"], 401, .jwtMalformed),
    // The same token spelled with U+212A is another token: two different tokens in one location.
    ("/", ["cookie": "session=K; session=KELVIN"], 401, .jwtMultipleTokens),
    ("/?access_token=K&access_token=KELVIN", [:], 401, .jwtMultipleTokens),
    ("/", ["cookie": "session=K; session=K"], 200, .allowed),
] as [(String, [String: String], Int, ReasonCode)])
func carriersAreParsedByBytes(_ path: String, _ headers: [String: String], _ status: Int, _ reason: ReasonCode) throws {
    let set = try policies(rule: """
        fromParams: [access_token]
        fromCookies: [session]
    """)
    func fill(_ s: String) -> String {
        s.replacingAll("=KELVIN", with: "=\(tokenWithKelvin)").replacingAll("=K", with: "=\(tokenWithK)")
    }
    let r = pipeline(set).decide(request("GET", fill(path), headers: headers.mapValues(fill)))
    #expect(r.decision.httpStatus == status)
    #expect(r.reasonCode == reason)
}
