import Foundation
import Testing
@testable import WardenAuthz
import WardenCrypto
import WardenJSON
import WardenJWT
import WardenPolicy

/// `TokenPolicy` (security.warden.io/v1alpha1): what RequestAuthentication cannot say — the RFC 9068
/// access-token profile (`typ`), Envoy's `max_lifetime` and `subjects`, required claims, sender-constrained
/// tokens. One row per rule; each token is checked twice (the second time from the token cache).
@Suite("TokenPolicy checks")
struct TokenPolicyTests {
    static func tokenPolicy(_ rule: String, namespace: String = "default") -> String {
        """
        apiVersion: security.warden.io/v1alpha1
        kind: TokenPolicy
        metadata: {name: strict, namespace: \(namespace)}
        spec:
          jwtRules:
          - issuer: "\(issuer)"
        \(rule)
        """
    }

    static func header(typ: String?) -> String {
        typ.map { #"{"alg":"HS256","typ":"\#($0)","kid":"k1"}"# } ?? #"{"alg":"HS256","kid":"k1"}"#
    }

    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var rule: String
        var claims: [String: JSONValue] = [:]
        var typ: String? = "JWT"
        var namespace = "default"
        var status: Int
        var reason: ReasonCode
        var body: String? = nil
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(name: "typ at+jwt required, an ID token (typ JWT)", rule: "    typ: [at+jwt]", status: 401, reason: .jwtTypeNotAllowed,
            body: "Jwt type is not allowed"),
        Row(name: "typ at+jwt required, no typ", rule: "    typ: [at+jwt]", typ: nil, status: 401, reason: .jwtTypeNotAllowed),
        Row(name: "typ at+jwt required, at+jwt", rule: "    typ: [at+jwt]", typ: "at+jwt", status: 200, reason: .allowed),
        Row(name: "typ at+jwt required, application/AT+JWT (RFC 7515 §4.1.9)", rule: "    typ: [at+jwt]", typ: "application/AT+JWT",
            status: 200, reason: .allowed),
        Row(name: "maxLifetime: exp 300 s ahead, max 10m", rule: "    maxLifetime: 10m", status: 200, reason: .allowed),
        Row(name: "maxLifetime: exp 300 s ahead, max 5m (Envoy: exp − now ≥ max fails)", rule: "    maxLifetime: 5m", status: 401,
            reason: .jwtLifetimeTooLong, body: "Jwt verification fails"),
        Row(name: "maxLifetime: no exp", rule: "    maxLifetime: 10m", claims: ["exp": .null], status: 401, reason: .jwtLifetimeTooLong),
        Row(name: "required claim present", rule: "    requiredClaims: [{name: client_id}]", claims: ["client_id": .string("web")],
            status: 200, reason: .allowed),
        Row(name: "required claim missing", rule: "    requiredClaims: [{name: client_id}]", status: 401, reason: .jwtRequiredClaim,
            body: "Jwt is missing a required claim"),
        Row(name: "required claim with another value", rule: "    requiredClaims: [{name: acr, values: [mfa]}]", claims: ["acr": .string("pwd")],
            status: 401, reason: .jwtRequiredClaim, body: "Jwt claim value is not allowed"),
        Row(name: "required claim: a list holding the value", rule: "    requiredClaims: [{name: amr, values: [mfa]}]",
            claims: ["amr": .array([.string("pwd"), .string("mfa")])], status: 200, reason: .allowed),
        Row(name: "required nested claim", rule: "    requiredClaims: [{name: org.tier, values: [gold]}]",
            claims: ["org": .object(["tier": .string("gold")])], status: 200, reason: .allowed),
        Row(name: "required claim compared by bytes (decomposed é)", rule: "    requiredClaims: [{name: team, values: [\"caf\\u00e9\"]}]",
            claims: ["team": .string("cafe\u{301}")], status: 401, reason: .jwtRequiredClaim),
        Row(name: "subjects prefix, matching", rule: "    subjects: {prefix: \"ali\"}", status: 200, reason: .allowed),
        Row(name: "subjects prefix, other sub (Envoy's body)", rule: "    subjects: {prefix: \"spiffe://\"}", status: 401,
            reason: .jwtSubjectNotAllowed, body: "Jwt verification fails"),
        Row(name: "sender-constrained required, a bearer token", rule: "    senderConstrained: true", status: 401, reason: .jwtBindingRequired,
            body: "Jwt must be sender-constrained"),
        Row(name: "a TokenPolicy of another namespace does not apply", rule: "    typ: [at+jwt]", namespace: "other", status: 200,
            reason: .allowed),
    ]

    @Test(arguments: rows)
    func tokenPolicyRule(_ row: Row) throws {
        let set = try policies(Self.tokenPolicy(row.rule, namespace: row.namespace))
        let service = pipeline(set, tokenCache: (100, 1 << 20))
        let t = token(row.claims.filter { $0.value != .null }, header: Self.header(typ: row.typ))
        let bearer = row.claims["exp"] == .null ? tokenWithoutExp(header: Self.header(typ: row.typ)) : t
        for _ in 0..<2 {
            let result = service.decide(request(headers: ["authorization": "Bearer \(bearer)"]))
            #expect(result.decision.httpStatus == row.status, "\(result.record.reason)")
            #expect(result.reasonCode == row.reason)
            if let body = row.body { #expect(result.decision.deny?.body == body) }
        }
    }

    @Test func aBoundTokenSatisfiesSenderConstrained() throws {
        let service = pipeline(try policies(Self.tokenPolicy("    senderConstrained: true")))
        var r = request(headers: ["authorization": "Bearer \(token(["cnf": .object(["x5t#S256": .string(clientAThumbprint)])]))"])
        r.sourceCertificate = urlEncoded(clientA)
        #expect(service.decide(r).decision.isAllowed)
    }

    @Test func rulesForOneIssuerAllApply() throws {
        let yaml = Self.tokenPolicy("    typ: [at+jwt]") + "\n---\n" + Self.tokenPolicy("    requiredClaims: [{name: client_id}]")
            .replacingOccurrences(of: "name: strict", with: "name: strict-2")
        let service = pipeline(try policies(yaml))
        let at = Self.header(typ: "at+jwt")
        #expect(service.decide(request(headers: ["authorization": "Bearer \(token(header: at))"])).reasonCode == .jwtRequiredClaim)
        #expect(service.decide(request(headers: ["authorization": "Bearer \(token(["client_id": .string("c")]))"])).reasonCode == .jwtTypeNotAllowed)
        #expect(service.decide(request(headers: ["authorization": "Bearer \(token(["client_id": .string("c")], header: at))"])).decision.isAllowed)
    }
}

/// An HS256 token like `token()` but without `exp`.
func tokenWithoutExp(header: String) -> String {
    let claims: [String: JSONValue] = ["iss": .string(issuer), "sub": .string("alice"), "aud": .string("api")]
    let signingInput = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(JSONValue.object(claims).serialized.utf8))
    let mac = HMACKey(secret).authenticationCode(for: Array(signingInput.utf8), digest: .sha256)
    return signingInput + "." + Base64URL.encode(mac)
}

/// RFC 8693 §4.1: the `act` chain, current actor first; a malformed link still counts toward the depth.
@Suite("Delegation chain (act)")
struct DelegationChainTests {
    @Test(arguments: [
        ("{}", [String]()),
        (#"{"act":{"sub":"gateway"}}"#, ["gateway"]),
        (#"{"act":{"sub":"orders","act":{"sub":"gateway"}}}"#, ["orders", "gateway"]),
        (#"{"act":"gateway"}"#, [""]),
        (#"{"act":{"act":{"sub":"x"}}}"#, ["", "x"]),
    ])
    func actors(_ json: String, _ expected: [String]) throws {
        guard case .object(let claims) = try JSONParser.parse(json) else { Issue.record("not an object"); return }
        #expect(TokenConstraints.actors(in: claims) == expected)
    }

    @Test func aDeepChainIsCutAt33() throws {
        var json = #"{"sub":"a"}"#
        for _ in 0..<40 { json = #"{"sub":"a","act":"# + json + "}" }
        guard case .object(let claims) = try JSONParser.parse("{\"act\":\(json)}", limits: JSONLimits(maxDepth: 64)) else { return }
        #expect(TokenConstraints.actors(in: claims).count == 33)
    }
}
