import Foundation
import Testing
@testable import WardenPolicy

/// `warden validate`'s warnings: valid policies that probably do not do what their author meant. One row
/// per trap, with the code CI pipelines can fail on and the field it points at.
@Suite("Policy warnings (warden validate, logged at load)")
struct PolicyLintTests {
    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var yaml: String
        /// (code, field) of every warning expected, in order.
        var expected: [(PolicyWarning.Code, String)]
        var testDescription: String { name }
    }

    static let backedRA = """
    apiVersion: security.istio.io/v1
    kind: RequestAuthentication
    metadata: {name: jwt, namespace: shop}
    spec:
      jwtRules:
      - {issuer: "https://idp.example.com", audiences: [orders], jwksUri: "https://idp.example.com/jwks.json"}
    ---
    """

    static func allow(_ rule: String, selector: String = "") -> String {
        backedRA + "\n" + """
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: p, namespace: shop}
        spec:
        \(selector)  action: ALLOW
          rules:
          - from: [{source: {requestPrincipals: ["https://idp.example.com/*"]}}]
        \(rule)
        """
    }

    static let rows: [Row] = [
        Row(name: "clean", yaml: allow("    to: [{operation: {paths: [\"/orders/*\", \"*.json\", \"/files/{**}\"]}}]"), expected: []),
        Row(name: "contains-match on a scope claim",
            yaml: allow("    when: [{key: \"request.auth.claims[scope]\", values: [\"*orders:write*\"]}]"),
            expected: [(.wildcardBothEnds, "spec.rules[0].when[0].values[0]")]),
        Row(name: "contains-match on a path and a host",
            yaml: allow("    to: [{operation: {paths: [\"*admin*\"], hosts: [\"*.example.*\"]}}]"),
            expected: [(.wildcardBothEnds, "spec.rules[0].to[0].operation.hosts[0]"),
                       (.wildcardBothEnds, "spec.rules[0].to[0].operation.paths[0]")]),
        Row(name: "star inside header values and methods",
            yaml: allow("    to: [{operation: {methods: [\"G*T\"]}}]\n    when: [{key: \"request.headers[x-tenant]\", notValues: [\"a*b\"]}]"),
            expected: [(.wildcardInside, "spec.rules[0].to[0].operation.methods[0]"),
                       (.wildcardInside, "spec.rules[0].when[0].notValues[0]")]),
        Row(name: "star inside a principal and a request principal's subject",
            yaml: allow("    when: [{key: source.principal, values: [\"cluster.local/ns/*/sa/x\"]}, {key: request.auth.principal, values: [\"*/*\"]}]"),
            expected: [(.wildcardInside, "spec.rules[0].when[0].values[0]"), (.wildcardInside, "spec.rules[0].when[1].values[0]")]),
        Row(name: "namespaces are globs in istiod: no warning",
            yaml: allow("    when: [{key: source.namespace, values: [\"team-*-prod\"]}]"), expected: []),
        Row(name: "selector without labels",
            yaml: allow("", selector: "  selector: {matchLabels: {}}\n"),
            expected: [(.selectorWithoutLabels, "spec.selector")]),
        Row(name: "private and symmetric keys in inline jwks",
            yaml: """
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata: {name: jwt, namespace: shop}
            spec:
              jwtRules:
              - issuer: "https://idp.example.com"
                audiences: [orders]
                jwks: '{"keys":[{"kty":"oct","k":"c2VjcmV0"},{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cLxW9lbDmc7Wz9iwDOAqvk"}]}'
            """,
            expected: [(.requestAuthenticationBlocksNothing, ""), (.jwksPrivateKey, "spec.jwtRules[0].jwks"),
                       (.jwksPrivateKey, "spec.jwtRules[0].jwks")]),
        Row(name: "a rule without audiences accepts ID tokens",
            yaml: "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: shop}\n"
                + "spec:\n  jwtRules: [{issuer: \"https://idp.example.com\", jwksUri: \"https://idp.example.com/k\"}]\n",
            expected: [(.requestAuthenticationBlocksNothing, ""), (.idTokenAccepted, "spec.jwtRules[0].audiences")]),
        Row(name: "a rule without audiences whose TokenPolicy checks typ",
            yaml: "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: shop}\n"
                + "spec:\n  jwtRules: [{issuer: \"https://idp.example.com\", jwksUri: \"https://idp.example.com/k\"}]\n---\n"
                + "apiVersion: security.warden.io/v1alpha1\nkind: TokenPolicy\nmetadata: {name: tp, namespace: istio-system}\n"
                + "spec:\n  jwtRules: [{issuer: \"https://idp.example.com\", typ: [at+jwt]}, {issuer: \"https://other\"}]\n",
            expected: [(.requestAuthenticationBlocksNothing, ""), (.jwtRuleAnyAudience, "spec.jwtRules[0].audiences"),
                       (.tokenPolicyUnknownIssuer, "spec.jwtRules[1].issuer")]),
        Row(name: "skipped documents",
            yaml: "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: x}\n",
            expected: [(.resourceSkipped, "")]),
    ]

    @Test(arguments: rows)
    func warns(_ row: Row) throws {
        let set = try PolicySet.parse(yaml: row.yaml, file: "p.yaml")
        let warnings = PolicyLint(policies: set, rootNamespace: "istio-system").warnings()
        #expect(warnings.map(\.code) == row.expected.map(\.0), "\(warnings.map(\.description))")
        #expect(warnings.map(\.field) == row.expected.map(\.1))
        for w in warnings { #expect(w.description.hasPrefix("warning[\(w.code.rawValue)]: p.yaml:")) }
    }

    @Test func theContainsMatchWarningSaysWhatToWrite() throws {
        let set = try PolicySet.parse(yaml: Self.allow("    when: [{key: \"request.auth.claims[scope]\", values: [\"*orders:write*\"]}]"), file: "p.yaml")
        let message = try #require(PolicyLint(policies: set, rootNamespace: "istio-system").warnings().first?.message)
        #expect(message.contains("suffix match for the literal text \"orders:write*\""))
        #expect(message.contains("write \"orders:write\""))
    }

    /// The codes are a contract with CI pipelines: every one is documented in the README.
    @Test func everyCodeIsDocumented() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        for code in PolicyWarning.Code.allCases {
            #expect(readme.contains("`\(code.rawValue)`"), "README lacks `\(code.rawValue)`")
        }
    }
}
