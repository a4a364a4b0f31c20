import Testing
import WardenJSON
@testable import WardenPolicy

/// `when` keys on `experimental.envoy.filters.*`, as istiod compiles them
/// (`envoyFilterGenerator` in pilot/pkg/security/authz/model/generator.go, `validateMapKey` in
/// pkg/config/security/security.go) and as Envoy's metadata matcher evaluates the result; plus Warden's
/// fail-closed answer when Envoy did not send the namespace at all.
@Suite struct FilterMetadataTests {
    // MARK: Keys

    struct KeyCase: Sendable, CustomTestStringConvertible {
        var key: String
        /// (namespace, field), or nil when the key is rejected with istiod's "should have format a[b]".
        var parsed: (String, String)?
        var testDescription: String { key }
    }

    static let keyCases: [KeyCase] = [
        KeyCase(key: "experimental.envoy.filters.network.mysql_proxy[db.table]", parsed: ("envoy.filters.network.mysql_proxy", "db.table")),
        KeyCase(key: "experimental.envoy.filters.http.set_metadata[role]", parsed: ("envoy.filters.http.set_metadata", "role")),
        // istiod splits at the first `[` and drops one trailing `]`: one path segment, never a nested path.
        KeyCase(key: "experimental.envoy.filters.a.b[c][d]", parsed: ("envoy.filters.a.b", "c][d")),
        KeyCase(key: "experimental.envoy.filters.a.b[c[d]", parsed: ("envoy.filters.a.b", "c[d")),
        KeyCase(key: "experimental.envoy.filters.a.b[]]", parsed: ("envoy.filters.a.b", "]")),
        KeyCase(key: "experimental.envoy.filters.a.b", parsed: nil),
        KeyCase(key: "experimental.envoy.filters.a.b[]", parsed: nil),
        KeyCase(key: "experimental.envoy.filters.a.b[c]x", parsed: nil),
    ]

    @Test(arguments: keyCases)
    func keysSplitAsIstiodSplitsThem(_ c: KeyCase) throws {
        let yaml = ap("p", "rules:\n- when:\n  - key: \"\(c.key)\"\n    values: [x]")
        guard let (namespace, field) = c.parsed else {
            #expect(throws: PolicyLoadFailure.self) { try PolicySet.parse(yaml: yaml, file: "test.yaml") }
            do { _ = try PolicySet.parse(yaml: yaml, file: "test.yaml") } catch {
                #expect("\(error)".contains("bad key (\(c.key)): should have format a[b]"), "\(error)")
            }
            return
        }
        let set = try PolicySet.parse(yaml: yaml, file: "test.yaml")
        let key = try #require(set.authorizationPolicies.first?.rules.first?.when.first?.key)
        #expect(key == .envoyFilterMetadata(FilterMetadataKey(namespace: namespace, field: field)))
        #expect(key.description == c.key)
        #expect(set.filterMetadataNamespaces == [namespace])
    }

    // MARK: Values

    @Test(arguments: [
        ("admin", MetadataValuePattern.string(.exact("admin"))),
        ("adm*", .string(.prefix("adm"))),
        ("*", .string(.presence)),
        ("[a", .string(.exact("[a"))),
        ("[admin]", .listElement(.exact("admin"))),
        ("[adm*]", .listElement(.prefix("adm"))),
        ("[*]", .listElement(.presence)),
        // strings.Trim(v, "[]") strips every bracket at either end; the rest is one string.
        ("[[a]]", .listElement(.exact("a"))),
        ("[v1, v2]", .listElement(.exact("v1, v2"))),
        ("[]", .listElement(.exact(""))),
    ])
    func valuesCompileAsIstiodCompilesThem(_ text: String, _ pattern: MetadataValuePattern) {
        #expect(MetadataValuePattern(text) == pattern)
    }

    // MARK: Decisions

    static let ns = "envoy.filters.http.set_metadata"
    static let key = "experimental.envoy.filters.http.set_metadata"

    enum Outcome: Sendable, Equatable {
        case allowed
        case deniedByDeny(unsent: [String])
        case noAllowMatched
    }

    struct DecisionCase: Sendable, CustomTestStringConvertible {
        var name: String
        var action = "ALLOW"
        var field = "role"
        var values: [String] = []
        var notValues: [String] = []
        var extra = ""
        /// The request's `metadata_context`; nil = Envoy sent no namespace at all.
        var metadata: [String: [String: JSONValue]]?
        var path = "/"
        var expect: Outcome
        var testDescription: String { name }
    }

    static func sent(_ fields: [String: JSONValue]) -> [String: [String: JSONValue]] { [ns: fields] }

    static let decisionCases: [DecisionCase] = [
        // Envoy's ValueMatcher: a string matcher needs a string, `[v]` a list with a matching string element.
        DecisionCase(name: "string value", values: ["admin"], metadata: sent(["role": "admin"]), expect: .allowed),
        DecisionCase(name: "string value, other string", values: ["admin"], metadata: sent(["role": "user"]), expect: .noAllowMatched),
        DecisionCase(name: "prefix", values: ["adm*"], metadata: sent(["role": "administrator"]), expect: .allowed),
        DecisionCase(name: "suffix", values: ["*min"], metadata: sent(["role": "admin"]), expect: .allowed),
        DecisionCase(name: "presence needs a non-empty string", values: ["*"], metadata: sent(["role": ""]), expect: .noAllowMatched),
        DecisionCase(name: "string matcher never matches a list", values: ["admin"], metadata: sent(["role": ["admin"]]), expect: .noAllowMatched),
        DecisionCase(name: "list element", values: ["[admin]"], metadata: sent(["role": ["user", "admin"]]), expect: .allowed),
        DecisionCase(name: "list element prefix", values: ["[adm*]"], metadata: sent(["role": ["user", "administrator"]]), expect: .allowed),
        DecisionCase(name: "list matcher never matches a string", values: ["[admin]"], metadata: sent(["role": "admin"]), expect: .noAllowMatched),
        DecisionCase(name: "numbers are not strings (unlike claims)", values: ["42"], metadata: sent(["role": 42]), expect: .noAllowMatched),
        DecisionCase(name: "booleans are not strings", values: ["true"], metadata: sent(["role": true]), expect: .noAllowMatched),
        DecisionCase(name: "non-string list elements never match", values: ["[1]"], metadata: sent(["role": [1, "2"]]), expect: .noAllowMatched),
        DecisionCase(name: "a struct is no string", values: ["*"], metadata: sent(["role": ["a": "b"]]), expect: .noAllowMatched),
        DecisionCase(name: "dotted field name is one key", field: "db.table", values: ["[update]"],
                     metadata: sent(["db.table": ["select", "update"]]), expect: .allowed),
        DecisionCase(name: "dotted field name is not a path", field: "db.table", values: ["[update]"],
                     metadata: sent(["db": ["table": ["update"]]]), expect: .noAllowMatched),
        DecisionCase(name: "[a][b] is the one key a][b", field: "a][b", values: ["x"], metadata: sent(["a][b": "x"]), expect: .allowed),
        DecisionCase(name: "[a][b] is not a nested path", field: "a][b", values: ["x"], metadata: sent(["a": ["b": "x"]]), expect: .noAllowMatched),
        DecisionCase(name: "several values: any one", values: ["[ops]", "admin"], metadata: sent(["role": ["ops"]]), expect: .allowed),
        // A sent namespace without the field: a missing attribute (values fail, notValues pass), as in Envoy.
        DecisionCase(name: "field missing, values", values: ["admin"], metadata: sent(["other": "admin"]), expect: .noAllowMatched),
        DecisionCase(name: "field missing, notValues", notValues: ["banned"], metadata: sent(["other": "x"]), expect: .allowed),
        DecisionCase(name: "notValues excludes", notValues: ["banned"], metadata: sent(["role": "banned"]), expect: .noAllowMatched),
        DecisionCase(name: "notValues list element excludes", notValues: ["[banned]"], metadata: sent(["role": ["ok", "banned"]]), expect: .noAllowMatched),
        // Namespace not sent: Warden cannot know the field. ALLOW rules do not match, even on notValues.
        DecisionCase(name: "ALLOW, namespace not sent, values", values: ["admin"], metadata: nil, expect: .noAllowMatched),
        DecisionCase(name: "ALLOW, namespace not sent, notValues", notValues: ["banned"], metadata: nil, expect: .noAllowMatched),
        DecisionCase(name: "ALLOW, another namespace sent", notValues: ["banned"], metadata: ["envoy.filters.http.other": ["role": "x"]],
                     expect: .noAllowMatched),
        // DENY: namespace sent → evaluated; not sent → the rule matches (fail closed) and says why.
        DecisionCase(name: "DENY matches", action: "DENY", values: ["admin"], metadata: sent(["role": "admin"]), expect: .deniedByDeny(unsent: [])),
        DecisionCase(name: "DENY does not match", action: "DENY", values: ["admin"], metadata: sent(["role": "user"]), expect: .allowed),
        DecisionCase(name: "DENY, field missing", action: "DENY", values: ["admin"], metadata: sent(["other": "admin"]), expect: .allowed),
        DecisionCase(name: "DENY, namespace not sent, values", action: "DENY", values: ["admin"], metadata: nil,
                     expect: .deniedByDeny(unsent: [ns])),
        DecisionCase(name: "DENY, namespace not sent, notValues", action: "DENY", notValues: ["admin"], metadata: nil,
                     expect: .deniedByDeny(unsent: [ns])),
        DecisionCase(name: "DENY, another namespace sent", action: "DENY", values: ["admin"], metadata: ["envoy.filters.http.other": ["role": "admin"]],
                     expect: .deniedByDeny(unsent: [ns])),
        // The rule's other parts still decide: a DENY for /admin does not widen to /public.
        DecisionCase(name: "DENY, namespace not sent, to does not match", action: "DENY", values: ["admin"],
                     extra: "  to:\n  - operation:\n      paths: [\"/admin*\"]\n", metadata: nil, path: "/public", expect: .allowed),
        DecisionCase(name: "DENY, namespace not sent, to matches", action: "DENY", values: ["admin"],
                     extra: "  to:\n  - operation:\n      paths: [\"/admin*\"]\n", metadata: nil, path: "/admin/x", expect: .deniedByDeny(unsent: [ns])),
        DecisionCase(name: "DENY, namespace not sent, another condition fails", action: "DENY", values: ["admin"],
                     extra: "  - key: request.headers[x-a]\n    values: [\"1\"]\n", metadata: nil, expect: .allowed),
    ]

    @Test(arguments: decisionCases)
    func decisions(_ c: DecisionCase) throws {
        var when = "  - key: \"\(Self.key)[\(c.field)]\"\n"
        if !c.values.isEmpty { when += "    values: [\(c.values.map { "\"\($0)\"" }.joined(separator: ", "))]\n" }
        if !c.notValues.isEmpty { when += "    notValues: [\(c.notValues.map { "\"\($0)\"" }.joined(separator: ", "))]\n" }
        // `extra` lines starting with "  - key" are more conditions; others are siblings of `when`.
        let rule = c.extra.hasPrefix("  - key") ? "- when:\n" + when + c.extra : "- when:\n" + when + c.extra
        let yaml = ap("p", "action: \(c.action)\nrules:\n" + rule)
        var req = Req(path: c.path)
        req.metadata = c.metadata ?? [:]
        let d = AuthorizationEvaluator.evaluate(try effective(yaml), request: req.attributes, identity: nil)
        let got: Outcome
        switch d.verdict {
        case .allow(.allowPolicyMatched), .allow(.noAllowPolicies): got = .allowed
        case .deny(.denyPolicyMatched(let m)): got = .deniedByDeny(unsent: m.unsentMetadata)
        case .deny(.noAllowPolicyMatched): got = .noAllowMatched
        case .deny(.invalidPath): got = .noAllowMatched
        }
        #expect(got == c.expect, "\(d)")
    }

    @Test func reasonsSayWhatEnvoyMustSend() throws {
        let deny = ap("block", "action: DENY\nrules:\n- when:\n  - key: \"\(Self.key)[role]\"\n    values: [admin]")
        let d = AuthorizationEvaluator.evaluate(try effective(deny), request: Req().attributes, identity: nil)
        #expect(d.reason == "denied by DENY policy foo/block rule[0] (fail closed: metadata namespace \(Self.ns) not sent by Envoy; "
                + "list it in the ext_authz filter's metadata_context_namespaces)")
        #expect(d.deniedBy == "foo/block")

        let allow = ap("only", "rules:\n- when:\n  - key: \"\(Self.key)[role]\"\n    values: [admin]")
        let a = AuthorizationEvaluator.evaluate(try effective(allow), request: Req().attributes, identity: nil)
        #expect(a.reason == "denied: no ALLOW policy matched (foo/only: rule[0] when[0] \(Self.key)[role] (metadata namespace \(Self.ns) "
                + "not sent by Envoy: list it in the ext_authz filter's metadata_context_namespaces))")
    }

    @Test func auditAssumesLikeDeny() throws {
        let yaml = allowAll + ap("audit", "action: AUDIT\nrules:\n- when:\n  - key: \"\(Self.key)[role]\"\n    values: [admin]")
        let d = AuthorizationEvaluator.evaluate(try effective(yaml), request: Req().attributes, identity: nil)
        #expect(d.isAllowed)
        #expect(d.auditMatches.map(\.unsentMetadata) == [[Self.ns]])
    }
}

// Metadata rows read as the JSON they stand for.
extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}
