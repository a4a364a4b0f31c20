import Testing
@testable import WardenPolicy

/// `TokenPolicy` documents load as strictly as Istio's kinds (unknown fields are errors with file and line)
/// and are scoped like RequestAuthentication.
@Suite("TokenPolicy loading and scoping")
struct TokenPolicyDecodingTests {
    static func doc(_ spec: String, namespace: String = "shop", apiVersion: String = "security.warden.io/v1alpha1") -> String {
        "apiVersion: \(apiVersion)\nkind: TokenPolicy\nmetadata: {name: tp, namespace: \(namespace)}\nspec:\n\(spec)\n"
    }

    @Test func decodesEveryField() throws {
        let set = try PolicySet.parse(yaml: Self.doc("""
          selector: {matchLabels: {app: orders}}
          jwtRules:
          - issuer: https://idp.example.com
            typ: [at+jwt]
            maxLifetime: 15m
            requiredClaims: [{name: client_id}, {name: acr, values: [mfa, hwk]}]
            subjects: {suffix: "@example.com"}
            senderConstrained: true
        """), file: "tp.yaml")
        let tp = try #require(set.tokenPolicies.first)
        #expect(tp.ref == PolicyRef(namespace: "shop", name: "tp"))
        #expect(tp.origin == ResourceOrigin(file: "tp.yaml", line: 1))
        #expect(tp.selector?.matchLabels == ["app": "orders"])
        let rule = try #require(tp.rules.first)
        #expect(rule.typ == ["at+jwt"])
        #expect(rule.maxLifetime == .seconds(900))
        #expect(rule.requiredClaims == [RequiredClaim(name: "client_id"), RequiredClaim(name: "acr", values: ["mfa", "hwk"])])
        #expect(rule.subjects == .suffix("@example.com"))
        #expect(rule.senderConstrained)
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        var spec: String
        var message: String
        var testDescription: String { message }
    }

    @Test(arguments: [
        Bad(spec: "  jwtRules: [{issuer: x, audience: y}]", message: "unknown field"),
        Bad(spec: "  jwtRules: [{typ: [at+jwt]}]", message: "issuer must be set"),
        Bad(spec: "  jwtRules: [{issuer: x, maxLifetime: soon}]", message: "invalid duration"),
        Bad(spec: "  jwtRules: [{issuer: x, subjects: {prefix: a, suffix: b}}]", message: "exactly one of exact, prefix, suffix, contains"),
        Bad(spec: "  jwtRules: [{issuer: x, subjects: {regex: a}}]", message: "unknown field"),
        Bad(spec: "  jwtRules: [{issuer: x, typ: [\"at jwt\"]}]", message: "must be a media type"),
        Bad(spec: "  jwtRules: [{issuer: x, requiredClaims: [{values: [a]}]}]", message: "requiredClaims name must be set"),
        Bad(spec: "  selector: {matchLabels: {app: a}}\n  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: g}]\n  jwtRules: []", message: "only one of targetRefs or workloadSelector can be set"),
    ])
    func rejectsWithFileAndLine(_ bad: Bad) {
        do {
            _ = try PolicySet.parse(yaml: Self.doc(bad.spec), file: "tp.yaml")
            Issue.record("accepted: \(bad.spec)")
        } catch {
            let text = error.description
            #expect(text.contains(bad.message), "\(text)")
            #expect(text.hasPrefix("tp.yaml:"), "\(text)")
        }
    }

    /// A version Warden does not know may restrict access in ways it cannot read: refused, not skipped.
    @Test func anotherAPIVersionIsALoadError() {
        #expect(throws: PolicyLoadFailure.self) {
            try PolicySet.parse(yaml: Self.doc("  jwtRules: []", apiVersion: "security.warden.io/v2"), file: "tp.yaml")
        }
    }

    @Test func decodesIntrospection() throws {
        let set = try PolicySet.parse(yaml: Self.doc("""
          jwtRules:
          - issuer: https://idp.example.com
            introspection:
              endpoint: https://idp.example.com/oauth2/introspect
              clientId: warden
              clientSecretFile: /etc/warden/secret
              clientAuthMethod: client_secret_post
              cacheDuration: 1m
              negativeCacheDuration: 5s
              timeout: 500ms
        """), file: "tp.yaml")
        let i = try #require(set.tokenPolicies.first?.rules.first?.introspection)
        #expect(i.endpoint == "https://idp.example.com/oauth2/introspect")
        #expect(i.clientID == "warden" && i.clientSecretFile == "/etc/warden/secret")
        #expect(i.clientAuthMethod == .clientSecretPost)
        #expect(i.cacheDuration == .seconds(60) && i.negativeCacheDuration == .seconds(5) && i.timeout == .milliseconds(500))
        let defaults = try PolicySet.parse(yaml: Self.doc("""
          jwtRules:
          - issuer: x
            introspection: {endpoint: "http://127.0.0.1:8080/introspect", clientId: w, clientSecretFile: /s}
        """), file: "tp.yaml").tokenPolicies[0].rules[0].introspection
        #expect(defaults?.clientAuthMethod == .clientSecretBasic && defaults?.cacheDuration == .seconds(300))
    }

    @Test func decodesTokenExchange() throws {
        let set = try PolicySet.parse(yaml: Self.doc("""
          tokenExchange:
          - issuer: https://idp.example.com
            to: [{operation: {hosts: [orders.internal], paths: ["/orders*"]}}]
            endpoint: https://idp.example.com/oauth2/token
            clientId: gateway
            clientSecretFile: /etc/warden/secret
            audiences: [orders-api]
            resources: ["https://orders.internal/"]
            scope: orders:read
            actorTokenFile: /var/run/secrets/tokens/warden
            header: x-upstream-token
            expiryMargin: 1m
        """), file: "tp.yaml")
        let x = try #require(set.tokenPolicies.first?.exchanges.first)
        #expect(x.issuer == "https://idp.example.com" && x.to.count == 1 && x.endpoint == "https://idp.example.com/oauth2/token")
        #expect(x.audiences == ["orders-api"] && x.resources == ["https://orders.internal/"] && x.scope == "orders:read")
        #expect(x.header == "x-upstream-token" && x.expiryMargin == .seconds(60) && x.timeout == .seconds(2))
        #expect(x.actorTokenFile == "/var/run/secrets/tokens/warden" && x.clientAuthMethod == .clientSecretBasic)
    }

    static let exchangeRows: [Bad] = [
        Bad(spec: "  tokenExchange: [{issuer: x, endpoint: https://i/t, clientId: c, clientSecretFile: /s}]", message: "needs audiences or resources"),
        Bad(spec: "  tokenExchange: [{issuer: x, endpoint: http://idp.example.com/t, clientId: c, clientSecretFile: /s, audiences: [a]}]", message: "token endpoint must be https"),
        Bad(spec: "  tokenExchange: [{issuer: x, endpoint: https://i/t, clientId: c, clientSecretFile: /s, resources: [orders]}]", message: "absolute URI"),
        Bad(spec: "  tokenExchange: [{issuer: x, endpoint: https://i/t, clientId: c, clientSecretFile: /s, audiences: [a], header: 'x bad'}]", message: "HTTP field name"),
        Bad(spec: "  tokenExchange: [{endpoint: https://i/t, clientId: c, clientSecretFile: /s, audiences: [a]}]", message: "tokenExchange.issuer is required"),
        Bad(spec: "  tokenExchange: [{issuer: x, endpoint: https://i/t, clientId: c, clientSecretFile: /s, audiences: [a], audience: b}]", message: "unknown field"),
    ]

    @Test(arguments: exchangeRows)
    func rejectsBadExchange(_ bad: Bad) {
        rejectsWithFileAndLine(bad)
    }

    static let introspectionRows: [Bad] = [
        Bad(spec: "  jwtRules: [{issuer: x, introspection: {clientId: w, clientSecretFile: /s}}]", message: "discovered from the issuer, and the issuer must be an https URL"),
        Bad(spec: "  jwtRules: [{issuer: x, introspection: {endpoint: https://i/x, clientSecretFile: /s}}]", message: "introspection.clientId is required"),
        Bad(spec: "  jwtRules: [{issuer: x, introspection: {endpoint: https://i/x, clientId: w}}]", message: "introspection.clientSecretFile is required"),
        Bad(spec: "  jwtRules: [{issuer: x, introspection: {endpoint: http://idp.example.com/i, clientId: w, clientSecretFile: /s}}]", message: "must be https"),
        Bad(spec: "  jwtRules: [{issuer: x, introspection: {endpoint: 'https://u:p@idp/i', clientId: w, clientSecretFile: /s}}]", message: "must not carry credentials"),
        Bad(spec: "  jwtRules: [{issuer: x, introspection: {endpoint: ftp://idp/i, clientId: w, clientSecretFile: /s}}]", message: "must be an https URL"),
        Bad(spec: "  jwtRules: [{issuer: x, introspection: {endpoint: https://i/x, clientId: w, clientSecretFile: /s, clientAuthMethod: tls_client_auth}}]", message: "is not supported"),
        Bad(spec: "  jwtRules: [{issuer: x, introspection: {endpoint: https://i/x, clientId: w, clientSecretFile: /k, clientAuthMethod: private_key_jwt, signingAlgorithm: HS256}}]", message: "is not one of"),
        Bad(spec: "  jwtRules: [{issuer: x, introspection: {endpoint: https://i/x, clientId: w, clientSecretFile: /s, signingAlgorithm: RS256}}]", message: "private_key_jwt only"),
        Bad(spec: "  jwtRules: [{issuer: x, introspection: {endpoint: https://i/x, clientId: w, clientSecretFile: /s, introspectJWTs: maybe}}]", message: "introspectJWTs"),
        Bad(spec: "  jwtRules: [{issuer: x, introspection: {endpoint: https://i/x, clientId: w, clientSecretFile: /s, cacheDuration: 2d}}]", message: "invalid duration"),
        Bad(spec: "  jwtRules: [{issuer: x, introspection: {endpoint: https://i/x, clientId: w, clientSecretFile: /s, secret: s}}]", message: "unknown field"),
    ]

    @Test(arguments: introspectionRows)
    func rejectsBadIntrospection(_ bad: Bad) {
        rejectsWithFileAndLine(bad)
    }

    @Test func scopedLikeRequestAuthentication() throws {
        let yaml = Self.doc("  jwtRules: [{issuer: a}]", namespace: "shop") + "---\n" + Self.doc("  jwtRules: [{issuer: b}]", namespace: "istio-system")
            .replacingOccurrences(of: "name: tp", with: "name: mesh") + "---\n"
            + Self.doc("  selector: {matchLabels: {app: web}}\n  jwtRules: [{issuer: c}]", namespace: "shop").replacingOccurrences(of: "name: tp", with: "name: web")
        let set = try PolicySet.parse(yaml: yaml, file: "tp.yaml")
        let orders = set.effective(for: WorkloadScope(namespace: "shop", labels: ["app": "orders"]))
        #expect(Set(orders.tokenRulesByIssuer.keys.map(\.text)) == ["a", "b"])
        let web = set.effective(for: WorkloadScope(namespace: "shop", labels: ["app": "web"]))
        #expect(Set(web.tokenRulesByIssuer.keys.map(\.text)) == ["a", "b", "c"])
        let other = set.effective(for: WorkloadScope(namespace: "billing"))
        #expect(Set(other.tokenRulesByIssuer.keys.map(\.text)) == ["b"])
    }
}
