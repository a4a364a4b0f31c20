import Testing
import WardenJSON
@testable import WardenPolicy

// Every policy comparison is byte-wise, as Envoy's RBAC compares (issue 14): no Unicode canonical
// equivalence ("café" precomposed vs "cafe\u{301}" decomposed, "K" vs KELVIN SIGN U+212A) and no grapheme
// boundaries (a combining mark after `/`, `,`, `*` or a space must not hide it).

let nfc = "caf\u{E9}"        // café, precomposed
let nfd = "cafe\u{301}"      // café, decomposed: canonically equivalent, other bytes
let kelvin = "\u{212A}"      // KELVIN SIGN, canonically equivalent to "K"

func op(_ body: String) -> String { "rules:\n- to:\n  - operation:\n      \(body)" }
func when(_ key: String, _ values: String) -> String { "rules:\n- when:\n  - key: \"\(key)\"\n    values: \(values)" }
func src(_ body: String) -> String { "rules:\n- from:\n  - source:\n      \(body)" }

let bytewiseCases: [EvalCase] = [
    // Paths: `/admin/*` must cover a segment that starts with a combining mark.
    EvalCase(name: "DENY /admin/* matches /admin/\\u{301}x", yaml: allowAll + ap("d", "action: DENY\n" + op("paths: [\"/admin/*\"]")),
             req: Req(path: "/admin/\u{301}x"), expect: .deniedBy("foo/d", rule: 0)),
    EvalCase(name: "DENY suffix *\\u{301}.json matches /cafe\\u{301}.json", yaml: allowAll + ap("d", "action: DENY\n" + op("paths: [\"*\u{301}.json\"]")),
             req: Req(path: "/cafe\u{301}.json"), expect: .deniedBy("foo/d", rule: 0)),
    EvalCase(name: "ALLOW /café (NFC) does not match the NFD path", yaml: ap("p", op("paths: [\"/\(nfc)\"]")),
             req: Req(path: "/\(nfd)"), expect: .noAllowMatched),
    EvalCase(name: "ALLOW /café (NFD) does not match the NFC path", yaml: ap("p", op("paths: [\"/\(nfd)\"]")),
             req: Req(path: "/\(nfc)"), expect: .noAllowMatched),
    EvalCase(name: "ALLOW /café matches itself", yaml: ap("p", op("paths: [\"/\(nfc)\"]")),
             req: Req(path: "/\(nfc)"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "DENY prefix /cafe* matches the NFD path /cafe\\u{301}", yaml: allowAll + ap("d", "action: DENY\n" + op("paths: [\"/cafe*\"]")),
             req: Req(path: "/\(nfd)"), expect: .deniedBy("foo/d", rule: 0)),
    EvalCase(name: "ALLOW prefix /cafe* does not match the NFC path", yaml: ap("p", op("paths: [\"/cafe*\"]")),
             req: Req(path: "/\(nfc)"), expect: .noAllowMatched),
    EvalCase(name: "DENY template /files/{*} matches a segment of a combining mark", yaml: allowAll + ap("d", "action: DENY\n" + op("paths: [\"/files/{*}\"]")),
             req: Req(path: "/files/\u{301}"), expect: .deniedBy("foo/d", rule: 0)),
    EvalCase(name: "ALLOW path K does not match KELVIN SIGN", yaml: ap("p", op("paths: [\"/K\"]")),
             req: Req(path: "/\(kelvin)"), expect: .noAllowMatched),

    // Hosts: ASCII case folding only.
    EvalCase(name: "ALLOW host café (NFC) does not match the NFD host", yaml: ap("p", op("hosts: [\"\(nfc).example\"]")),
             req: Req(host: "\(nfd).example"), expect: .noAllowMatched),
    EvalCase(name: "ALLOW host É does not match é (Envoy folds ASCII only)", yaml: ap("p", op("hosts: [\"\u{C9}.example\"]")),
             req: Req(host: "\u{E9}.example"), expect: .noAllowMatched),
    EvalCase(name: "ALLOW host k does not match KELVIN SIGN", yaml: ap("p", op("hosts: [\"k.example\"]")),
             req: Req(host: "\(kelvin).example"), expect: .noAllowMatched),
    EvalCase(name: "DENY host prefix admin.* matches admin.\\u{301}…", yaml: allowAll + ap("d", "action: DENY\n" + op("hosts: [\"ADMIN.*\"]")),
             req: Req(host: "admin.\u{301}example.com"), expect: .deniedBy("foo/d", rule: 0)),

    // Methods.
    EvalCase(name: "ALLOW method GET does not match GE + T with a combining mark", yaml: ap("p", op("methods: [GET]")),
             req: Req(method: "GET\u{301}"), expect: .noAllowMatched),
    EvalCase(name: "DENY method prefix G* matches GET + combining mark", yaml: allowAll + ap("d", "action: DENY\n" + op("methods: [\"GET*\"]")),
             req: Req(method: "GET\u{301}"), expect: .deniedBy("foo/d", rule: 0)),

    // Header values (request.headers, inline headers).
    EvalCase(name: "ALLOW header café (NFC) does not match the NFD value", yaml: ap("p", when("request.headers[x-name]", "[\"\(nfc)\"]")),
             req: Req(headers: ["x-name": nfd]), expect: .noAllowMatched),
    EvalCase(name: "ALLOW header café (NFD) does not match the NFC value", yaml: ap("p", when("request.headers[x-name]", "[\"\(nfd)\"]")),
             req: Req(headers: ["x-name": nfc]), expect: .noAllowMatched),
    EvalCase(name: "DENY header prefix admin* matches admin + combining mark", yaml: allowAll + ap("d", "action: DENY\n" + when("request.headers[x-role]", "[\"admin*\"]")),
             req: Req(headers: ["x-role": "admin\u{301}"]), expect: .deniedBy("foo/d", rule: 0)),
    EvalCase(name: "DENY inline header admin matches an element followed by a comma + combining mark",
             yaml: allowAll + ap("d", "action: DENY\n" + when("request.experimental.inline.headers[x-role]", "[admin]")),
             req: Req(headers: ["x-role": "user,admin,\u{301}x"]), expect: .deniedBy("foo/d", rule: 0)),
    EvalCase(name: "ALLOW inline header café does not match the NFD element",
             yaml: ap("p", when("request.experimental.inline.headers[x-role]", "[\"\(nfc)\"]")),
             req: Req(headers: ["x-role": "user,\(nfd)"]), expect: .noAllowMatched),

    // SNI.
    EvalCase(name: "ALLOW SNI café does not match the NFD name", yaml: ap("p", when("connection.sni", "[\"\(nfc).example\"]")),
             req: Req(sni: "\(nfd).example"), expect: .noAllowMatched),

    // Peer principals and namespaces.
    EvalCase(name: "ALLOW principal café (NFC) does not match the NFD peer", yaml: ap("p", src("principals: [\"cluster.local/ns/\(nfc)/sa/web\"]")),
             req: Req(principal: "spiffe://cluster.local/ns/\(nfd)/sa/web"), expect: .noAllowMatched),
    EvalCase(name: "ALLOW namespace café (NFC) does not match the NFD peer", yaml: ap("p", src("namespaces: [\"\(nfc)\"]")),
             req: Req(principal: "spiffe://cluster.local/ns/\(nfd)/sa/web"), expect: .noAllowMatched),
    EvalCase(name: "DENY principal prefix matches a peer with a combining mark after it",
             yaml: allowAll + ap("d", "action: DENY\n" + src("principals: [\"cluster.local/ns/ops/*\"]")),
             req: Req(principal: "spiffe://cluster.local/ns/ops/\u{301}sa/x"), expect: .deniedBy("foo/d", rule: 0)),
    EvalCase(name: "ALLOW serviceAccount café does not match the NFD peer", yaml: ap("p", src("serviceAccounts: [\"foo/\(nfc)\"]")),
             req: Req(principal: "spiffe://cluster.local/ns/foo/sa/\(nfd)"), expect: .noAllowMatched),

    // remote.ip: x-forwarded-for is split on the comma byte.
    EvalCase(name: "DENY remoteIpBlocks sees the entry before a comma + combining mark",
             yaml: allowAll + ap("d", "action: DENY\n" + src("remoteIpBlocks: [\"1.1.1.1\"]")),
             req: Req(headers: ["x-forwarded-for": "1.1.1.1,\u{301}x, 2.2.2.2"]), trustedProxies: 2, expect: .deniedBy("foo/d", rule: 0)),

    // Token identity: request principals, claims, audiences, presenter.
    EvalCase(name: "ALLOW requestPrincipals café (NFC) does not match the NFD subject",
             yaml: ap("p", src("requestPrincipals: [\"https://issuer.example/\(nfc)\"]")),
             identity: identity(sub: nfd), expect: .noAllowMatched),
    EvalCase(name: "ALLOW requestPrincipals with an NFD issuer does not match the NFC issuer",
             yaml: ap("p", src("requestPrincipals: [\"https://idp/\(nfd)/*\"]")),
             identity: identity("https://idp/\(nfc)"), expect: .noAllowMatched),
    EvalCase(name: "ALLOW requestPrincipals splits at the last / byte (subject starts with a combining mark)",
             yaml: ap("p", src("requestPrincipals: [\"https://issuer.example/\u{301}alice\"]")),
             identity: identity(sub: "\u{301}alice"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "DENY requestPrincipals suffix *K does not match KELVIN SIGN", yaml: allowAll + ap("d", "action: DENY\n" + src("requestPrincipals: [\"*/K\"]")),
             identity: identity(sub: kelvin), expect: .allowedBy("foo/allow-all", rule: 0)),
    EvalCase(name: "ALLOW request.auth.principal café does not match the NFD subject",
             yaml: ap("p", when("request.auth.principal", "[\"https://issuer.example/\(nfc)\"]")),
             identity: identity(sub: nfd), expect: .noAllowMatched),
    EvalCase(name: "ALLOW claim value café (NFC) does not match the NFD claim",
             yaml: ap("p", when("request.auth.claims[group]", "[\"\(nfc)\"]")),
             identity: identity(claims: ["group": .string(nfd)]), expect: .noAllowMatched),
    EvalCase(name: "ALLOW claim list element café (NFD) does not match the NFC element",
             yaml: ap("p", when("request.auth.claims[groups]", "[\"\(nfd)\"]")),
             identity: identity(claims: ["groups": .array([.string(nfc)])]), expect: .noAllowMatched),
    EvalCase(name: "ALLOW claim name café (NFC) does not find the NFD claim",
             yaml: ap("p", when("request.auth.claims[\(nfc)]", "[\"yes\"]")),
             identity: identity(claims: [nfd: .string("yes")]), expect: .noAllowMatched),
    EvalCase(name: "ALLOW nested claim name café (NFD) does not find the NFC member",
             yaml: ap("p", when("request.auth.claims[org][\(nfd)]", "[\"yes\"]")),
             identity: identity(claims: ["org": .object([nfc: .string("yes")])]), expect: .noAllowMatched),
    EvalCase(name: "ALLOW claim name matches itself", yaml: ap("p", when("request.auth.claims[\(nfc)]", "[\"yes\"]")),
             identity: identity(claims: [nfc: .string("yes")]), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "DENY scope word after a space + combining mark is split on the space byte",
             yaml: allowAll + ap("d", "action: DENY\n" + when("request.auth.claims[scope]", "[read]")),
             identity: identity(claims: ["scope": .string("read \u{301}write")]), expect: .deniedBy("foo/d", rule: 0)),
    EvalCase(name: "ALLOW audience café does not match the NFD audience", yaml: ap("p", when("request.auth.audiences", "[\"\(nfc)\"]")),
             identity: identity(aud: [nfd]), expect: .noAllowMatched),
    EvalCase(name: "ALLOW presenter café does not match the NFD azp", yaml: ap("p", when("request.auth.presenter", "[\"\(nfc)\"]")),
             identity: identity(azp: nfd), expect: .noAllowMatched),
]

@Suite struct BytewiseMatchingTests {
    @Test(arguments: bytewiseCases)
    func policyMatchesCompareBytes(_ c: EvalCase) throws {
        let decision = AuthorizationEvaluator.evaluate(try effective(c.yaml), request: c.req.attributes, identity: c.identity,
                                                       options: EvaluationOptions(numTrustedProxies: c.trustedProxies))
        let got: Expect
        switch decision.verdict {
        case .allow(.allowPolicyMatched(let m)): got = .allowedBy(m.policy.description, rule: m.ruleIndex)
        case .allow(.noAllowPolicies): got = .allowNoPolicies
        case .deny(.denyPolicyMatched(let m)): got = .deniedBy(m.policy.description, rule: m.ruleIndex)
        case .deny(.noAllowPolicyMatched): got = .noAllowMatched
        case .deny(.invalidPath): got = .invalidPath
        }
        #expect(got == c.expect, "\(decision)")
    }

    /// The pattern primitives on their own: (pattern, value, matches).
    @Test(arguments: [
        (StringPattern.exact(nfc), nfd, false), (.exact(nfd), nfc, false), (.exact(nfc), nfc, true),
        (.exact("K"), kelvin, false), (.prefix("/admin/"), "/admin/\u{301}x", true), (.suffix("x"), "\u{301}x", true),
        (.suffix("e"), nfd, false), (.prefix("cafe"), nfd, true), (.prefix("cafe"), nfc, false),
        (StringPattern("*\u{301}x"), "a\u{301}x", true), (StringPattern("a\u{301}*"), "a\u{301}bc", true),
    ] as [(StringPattern, String, Bool)])
    func stringPatterns(_ p: StringPattern, _ value: String, _ expected: Bool) {
        #expect(p.matches(value) == expected, "\(p) \(value)")
    }

    /// Istio's notation is parsed by bytes: a `*` followed by a combining mark is still a wildcard.
    @Test func patternsParseByBytes() {
        #expect(StringPattern("*\u{301}x") == .suffix("\u{301}x"))
        #expect(StringPattern("x\u{301}*") == .prefix("x\u{301}"))
        let rp = RequestPrincipalPattern("https://idp/\u{301}alice")
        #expect(rp.issuer == .exact("https://idp") && rp.subject == .exact("\u{301}alice"))
        #expect(PathPattern("/a/{*}/\u{301}b") == .template(source: "/a/{*}/\u{301}b",
                                                          tokens: [.literal("/a/"), .oneSegment, .literal("/\u{301}b")]))
    }

    @Test func exactKeysCompareBytes() {
        #expect(ExactKey(nfc) != ExactKey(nfd))
        #expect(Set([ExactKey(nfc), ExactKey(nfd)]).count == 2)
        #expect(["K": 1].exactValue(forKey: kelvin) == nil)
        #expect([nfc: 1].exactValue(forKey: nfd) == nil)
        #expect([nfc: 1].exactValue(forKey: nfc) == 1)
    }
}
