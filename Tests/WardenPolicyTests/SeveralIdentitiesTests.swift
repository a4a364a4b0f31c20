import Testing
import WardenJSON
@testable import WardenPolicy

// A request with several verified tokens carries several identities (issue 14). It is allowed only if it
// would be allowed for each identity alone: a DENY on any identity denies (in either token order), every
// identity needs an ALLOW, and `notRequestPrincipals` / `notValues` are checked against each.

let alice = identity("https://a.example", sub: "alice", claims: ["groups": .array([.string("admins")])])
let bob = identity("https://a.example", sub: "bob", claims: ["groups": .array([.string("admins")])])
let mallory = identity("https://b.example", sub: "mallory", claims: ["groups": .array([.string("banned")])])

struct SeveralCase: Sendable, CustomTestStringConvertible {
    var name: String
    var yaml: String
    var identities: [RequestIdentity]
    var expect: Expect
    var testDescription: String { name }
}

let denyMallory = ap("deny", "action: DENY\n" + src("requestPrincipals: [\"https://b.example/mallory\"]"))

let severalCases: [SeveralCase] = [
    SeveralCase(name: "DENY on the second identity's principal", yaml: allowAll + denyMallory, identities: [alice, mallory],
                expect: .deniedBy("foo/deny", rule: 0)),
    SeveralCase(name: "DENY on the first identity's principal", yaml: allowAll + denyMallory, identities: [mallory, alice],
                expect: .deniedBy("foo/deny", rule: 0)),
    SeveralCase(name: "DENY matching neither", yaml: allowAll + denyMallory, identities: [alice, bob], expect: .allowedBy("foo/allow-all", rule: 0)),
    SeveralCase(name: "DENY notRequestPrincipals: one identity from another issuer denies",
                yaml: allowAll + ap("deny", "action: DENY\n" + src("notRequestPrincipals: [\"https://a.example/*\"]")),
                identities: [alice, mallory], expect: .deniedBy("foo/deny", rule: 0)),
    SeveralCase(name: "DENY claim value on the second identity",
                yaml: allowAll + ap("deny", "action: DENY\n" + when("request.auth.claims[groups]", "[banned]")),
                identities: [alice, mallory], expect: .deniedBy("foo/deny", rule: 0)),
    SeveralCase(name: "DENY claim notValues: one identity without the group denies",
                yaml: allowAll + ap("deny", "action: DENY\nrules:\n- when:\n  - key: request.auth.claims[groups]\n    notValues: [admins]"),
                identities: [alice, mallory], expect: .deniedBy("foo/deny", rule: 0)),
    SeveralCase(name: "ALLOW for one issuer: the other identity is not allowed",
                yaml: ap("p", src("requestPrincipals: [\"https://a.example/*\"]")), identities: [alice, mallory], expect: .noAllowMatched),
    SeveralCase(name: "ALLOW for one issuer, both identities from it", yaml: ap("p", src("requestPrincipals: [\"https://a.example/*\"]")),
                identities: [alice, bob], expect: .allowedBy("foo/p", rule: 0)),
    SeveralCase(name: "ALLOW any principal", yaml: ap("p", src("requestPrincipals: [\"*\"]")), identities: [alice, mallory],
                expect: .allowedBy("foo/p", rule: 0)),
    SeveralCase(name: "ALLOW notRequestPrincipals: the excluded identity is not allowed",
                yaml: ap("p", src("notRequestPrincipals: [\"https://b.example/mallory\"]")), identities: [mallory, alice], expect: .noAllowMatched),
    SeveralCase(name: "ALLOW claim: every identity must have it", yaml: ap("p", when("request.auth.claims[groups]", "[admins]")),
                identities: [alice, mallory], expect: .noAllowMatched),
    SeveralCase(name: "ALLOW claim: both have it", yaml: ap("p", when("request.auth.claims[groups]", "[admins]")),
                identities: [bob, alice], expect: .allowedBy("foo/p", rule: 0)),
    SeveralCase(name: "ALLOW policies allowing different identities: each is allowed",
                yaml: ap("p", src("requestPrincipals: [\"https://a.example/*\"]")) + ap("q", src("requestPrincipals: [\"https://b.example/*\"]")),
                identities: [alice, mallory], expect: .allowedBy("foo/p", rule: 0)),
    SeveralCase(name: "no policies", yaml: "", identities: [alice, mallory], expect: .allowNoPolicies),
]

@Suite struct SeveralIdentitiesTests {
    @Test(arguments: severalCases)
    func eachIdentityMustBeAllowed(_ c: SeveralCase) throws {
        let d = AuthorizationEvaluator.evaluate(try effective(c.yaml), request: Req().attributes, identities: c.identities)
        let got: Expect
        switch d.verdict {
        case .allow(.allowPolicyMatched(let m)): got = .allowedBy(m.policy.description, rule: m.ruleIndex)
        case .allow(.noAllowPolicies): got = .allowNoPolicies
        case .deny(.denyPolicyMatched(let m)): got = .deniedBy(m.policy.description, rule: m.ruleIndex)
        case .deny(.noAllowPolicyMatched): got = .noAllowMatched
        case .deny(.invalidPath): got = .invalidPath
        }
        #expect(got == c.expect, "\(d)")
        // The answer never depends on the tokens' order.
        let reversed = AuthorizationEvaluator.evaluate(try effective(c.yaml), request: Req().attributes, identities: c.identities.reversed())
        #expect(reversed.isAllowed == d.isAllowed)
    }

    /// The reason names the identity the decision is about; one identity or none reads as before.
    @Test func reasonNamesTheDecidingIdentity() throws {
        let eff = try effective(allowAll + denyMallory)
        let d = AuthorizationEvaluator.evaluate(eff, request: Req().attributes, identities: [alice, mallory])
        #expect(d.decidingIdentity == .init(index: 1, count: 2, principal: "https://b.example/mallory"))
        #expect(d.reason == "denied by DENY policy foo/deny rule[0] (identity 2 of 2, \"https://b.example/mallory\")")
        let ok = AuthorizationEvaluator.evaluate(eff, request: Req().attributes, identities: [alice, bob])
        #expect(ok.reason == "allowed by ALLOW policy foo/allow-all rule[0] (identity 1 of 2, \"https://a.example/alice\"; every identity is allowed)")
        let one = AuthorizationEvaluator.evaluate(eff, request: Req().attributes, identities: [mallory])
        #expect(one.decidingIdentity == nil && one.reason == "denied by DENY policy foo/deny rule[0]")
    }

    /// A DENY policy's match on any identity is reported over an earlier identity's missing ALLOW; AUDIT
    /// matches of every identity are kept; a dry-run DENY matches if any identity does, a dry-run ALLOW
    /// only if every identity does.
    @Test func auditDryRunAndPrecedence() throws {
        let yaml = ap("p", src("requestPrincipals: [\"https://a.example/*\"]")) + denyMallory
            + ap("audit-b", "action: AUDIT\n" + src("requestPrincipals: [\"https://b.example/*\"]"))
            + ap("dry-deny", "action: DENY\n" + src("requestPrincipals: [\"https://b.example/*\"]"), annotations: "  annotations:\n    istio.io/dry-run: \"true\"")
            + ap("dry-allow", src("requestPrincipals: [\"https://a.example/*\"]"), annotations: "  annotations:\n    istio.io/dry-run: \"true\"")
        let d = AuthorizationEvaluator.evaluate(try effective(yaml), request: Req().attributes, identities: [alice, mallory])
        #expect(!d.isAllowed)
        if case .deny(.denyPolicyMatched(let m)) = d.verdict { #expect(m.policy.name == "deny") } else { Issue.record("\(d)") }
        #expect(d.auditMatches.map(\.policy.name) == ["audit-b"])
        #expect(d.dryRun.first { $0.policy.name == "dry-deny" }?.matchedRule == 0)
        #expect(d.dryRun.first { $0.policy.name == "dry-allow" }?.matchedRule == nil)
    }
}

