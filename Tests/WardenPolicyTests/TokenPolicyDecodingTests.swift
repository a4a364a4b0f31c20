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

    @Test func anotherAPIVersionIsSkippedWithANote() throws {
        let set = try PolicySet.parse(yaml: Self.doc("  jwtRules: []", apiVersion: "security.warden.io/v2"), file: "tp.yaml")
        #expect(set.tokenPolicies.isEmpty)
        #expect(set.notes.contains { $0.message.contains("TokenPolicy") })
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
