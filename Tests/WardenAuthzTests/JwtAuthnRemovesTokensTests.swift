import Testing
import WardenAuthz
import WardenJSON
import WardenPolicy

/// A jwt_authn document runs as a filter ahead of Istio's in one Envoy filter chain: a token its provider
/// verified without `forward: true` is removed before the next filter (Envoy
/// `source/extensions/filters/http/jwt_authn/authenticator.cc` `handleGoodJwt` → `removeJwt`; `extractor.cc`:
/// a header location removes the header, a query parameter location the parameter, a cookie nothing). So the
/// Istio step (and a later jwt_authn document) never sees it: no request principal.
@Suite struct JwtAuthnRemovesTokensTests {
    /// Provider `p` for `issuer`, required on every path but /open (no requirement: nothing verified).
    static func jwtAuthn(forward: Bool, locations: String = "") -> String {
        """
        name: envoy.filters.http.jwt_authn
        typed_config:
          providers:
            p:
              issuer: "\(issuer)"
              local_jwks: {inline_string: '\(jwks)'}
              forward: \(forward)
              \(locations)
          rules:
          - match: {prefix: /open}
          - match: {prefix: /}
            requires: {provider_name: p}
        """
    }

    /// An Istio RequestAuthentication for the same issuer and an ALLOW on its principals.
    static func istio(locations: String = "") -> String {
        """
        apiVersion: security.istio.io/v1
        kind: RequestAuthentication
        metadata: {name: jwt, namespace: default}
        spec:
          jwtRules:
          - issuer: "\(issuer)"
            jwks: '\(jwks)'
            \(locations)
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: principals, namespace: default}
        spec:
          action: ALLOW
          rules: [{from: [{source: {requestPrincipals: ["\(issuer)/*"]}}]}]
        """
    }

    /// A second jwt_authn document requiring a token of the same issuer on every path.
    static let second = """
        name: envoy.filters.http.jwt_authn
        typed_config:
          providers:
            q:
              issuer: "\(issuer)"
              local_jwks: {inline_string: '\(jwks)'}
              forward: true
          rules:
          - match: {prefix: /}
            requires: {provider_name: q}
        """

    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var documents: [String]
        var path: String
        var headers: [String: String]
        var status: Int
        var body: String
        var testDescription: String { name }
    }

    static let t = token()

    static let rows: [Row] = [
        Row(name: "forward false, Authorization: removed, Istio sees no principal", documents: [jwtAuthn(forward: false), istio()],
            path: "/api", headers: ["authorization": "Bearer \(t)"], status: 403, body: "RBAC: access denied"),
        Row(name: "forward true: the token reaches Istio", documents: [jwtAuthn(forward: true), istio()],
            path: "/api", headers: ["authorization": "Bearer \(t)"], status: 200, body: ""),
        Row(name: "forward false, ?access_token=: the parameter is removed", documents: [jwtAuthn(forward: false), istio()],
            path: "/api?access_token=\(t)", headers: [:], status: 403, body: "RBAC: access denied"),
        Row(name: "forward false, a cookie: Envoy leaves cookies in place",
            documents: [jwtAuthn(forward: false, locations: "from_cookies: [session]"), istio(locations: "fromCookies: [session]")],
            path: "/api", headers: ["cookie": "session=\(t)"], status: 200, body: ""),
        Row(name: "forward false, a rule without requirement: nothing verified, nothing removed",
            documents: [jwtAuthn(forward: false), istio()],
            path: "/open", headers: ["authorization": "Bearer \(t)"], status: 200, body: ""),
        Row(name: "forward false at x-token: Istio's Authorization copy stays",
            documents: [jwtAuthn(forward: false, locations: "from_headers: [{name: x-token}]"), istio()],
            path: "/api", headers: ["x-token": t, "authorization": "Bearer \(t)"], status: 200, body: ""),
        Row(name: "forward false: a later jwt_authn document finds no token", documents: [jwtAuthn(forward: false), second],
            path: "/api", headers: ["authorization": "Bearer \(t)"], status: 401, body: "Jwt is missing"),
    ]

    @Test(arguments: rows)
    func theNextFilterSeesOnlyWhatTheLastOnePassedOn(_ row: Row) throws {
        let service = pipeline(try PolicySet.parse(yaml: row.documents.joined(separator: "\n---\n")))
        let result = service.decide(request("GET", row.path, headers: row.headers))
        #expect(result.decision.httpStatus == row.status, "\(result.record.reason)")
        #expect((result.decision.deny?.body ?? "") == row.body)
    }

    /// The later document's challenge names the URI it got: the removed parameter is gone, the rest kept in order.
    @Test func aLaterChallengeNamesThePathWithoutTheRemovedParameter() throws {
        let service = pipeline(try PolicySet.parse(yaml: [Self.jwtAuthn(forward: false), Self.second].joined(separator: "\n---\n")))
        let result = service.decide(request("GET", "/api?a=1&access_token=\(Self.t)&b=2", headers: [:]))
        let challenge = result.decision.deny?.headers.first { $0.name == "www-authenticate" }?.value
        #expect(challenge == #"Bearer realm="http://api.example.com/api?a=1&b=2""#)
    }
}
