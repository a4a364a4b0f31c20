import Testing
import WardenJSON
@testable import WardenPolicy

enum Expect: Sendable, Equatable {
    case allowedBy(String, rule: Int)
    case allowNoPolicies
    case deniedBy(String, rule: Int)
    case noAllowMatched
    case invalidPath
}

struct EvalCase: Sendable, CustomTestStringConvertible {
    var name: String
    var yaml: String
    var req = Req()
    var identity: RequestIdentity? = nil
    var trustedProxies = 0
    var expect: Expect

    var testDescription: String { name }
}

let allowAll = ap("allow-all", "rules:\n- {}")

/// One row per semantic rule of Istio's AuthorizationPolicy (and Warden's documented extensions).
let evaluatorCases: [EvalCase] = [
    // Precedence and policy shapes.
    EvalCase(name: "no policies allow", yaml: "", expect: .allowNoPolicies),
    EvalCase(name: "DENY wins over a matching ALLOW", yaml: allowAll + ap("deny-get", "action: DENY\nrules:\n- to:\n  - operation:\n      methods: [GET]"),
             expect: .deniedBy("foo/deny-get", rule: 0)),
    EvalCase(name: "ALLOW applies, none matches: deny", yaml: ap("only-post", "rules:\n- to:\n  - operation:\n      methods: [POST]"), expect: .noAllowMatched),
    EvalCase(name: "ALLOW with empty spec matches nothing", yaml: ap("allow-nothing", "{}"), expect: .noAllowMatched),
    EvalCase(name: "rules [{}] matches everything", yaml: allowAll, expect: .allowedBy("foo/allow-all", rule: 0)),
    EvalCase(name: "second rule matches", yaml: ap("two", "rules:\n- to:\n  - operation:\n      methods: [POST]\n- to:\n  - operation:\n      methods: [GET]"),
             expect: .allowedBy("foo/two", rule: 1)),
    EvalCase(name: "AUDIT does not count as ALLOW", yaml: ap("audit", "action: AUDIT\nrules:\n- {}"), expect: .allowNoPolicies),
    EvalCase(name: "CUSTOM does not count as ALLOW nor deny", yaml: ap("ext", "action: CUSTOM\nprovider:\n  name: warden\nrules:\n- {}"), expect: .allowNoPolicies),
    EvalCase(name: "dry-run DENY does not deny", yaml: ap("dry", "action: DENY\nrules:\n- {}", annotations: "  annotations:\n    istio.io/dry-run: \"true\""),
             expect: .allowNoPolicies),
    EvalCase(name: "policy in root namespace applies", yaml: ap("mesh-deny", "action: DENY\nrules:\n- to:\n  - operation:\n      paths: [\"/admin\"]", namespace: "istio-system"),
             req: Req(path: "/admin"), expect: .deniedBy("istio-system/mesh-deny", rule: 0)),
    EvalCase(name: "policy in another namespace does not apply", yaml: ap("other", "action: DENY\nrules:\n- {}", namespace: "bar"), expect: .allowNoPolicies),

    // Rule structure: any from AND any to AND all when; fields ANDed.
    EvalCase(name: "from matches but to does not", yaml: ap("p", "rules:\n- from:\n  - source:\n      ipBlocks: [10.0.0.0/8]\n  to:\n  - operation:\n      methods: [POST]"),
             expect: .noAllowMatched),
    EvalCase(name: "any of several from entries", yaml: ap("p", "rules:\n- from:\n  - source:\n      ipBlocks: [192.168.0.0/16]\n  - source:\n      ipBlocks: [10.0.0.1]"),
             expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "fields within a source are ANDed", yaml: ap("p", "rules:\n- from:\n  - source:\n      ipBlocks: [10.0.0.0/8]\n      namespaces: [bar]"),
             req: Req(principal: "spiffe://cluster.local/ns/foo/sa/web"), expect: .noAllowMatched),
    EvalCase(name: "all when conditions must match", yaml: ap("p", "rules:\n- when:\n  - key: request.headers[x-a]\n    values: [\"1\"]\n  - key: request.headers[x-b]\n    values: [\"2\"]"),
             req: Req(headers: ["x-a": "1"]), expect: .noAllowMatched),

    // String matching.
    EvalCase(name: "methods are case-sensitive", yaml: ap("p", "rules:\n- to:\n  - operation:\n      methods: [get]"), expect: .noAllowMatched),
    EvalCase(name: "methods prefix", yaml: ap("p", "rules:\n- to:\n  - operation:\n      methods: [\"G*\"]"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "notMethods", yaml: ap("p", "rules:\n- to:\n  - operation:\n      notMethods: [GET]"), expect: .noAllowMatched),
    EvalCase(name: "hosts are case-insensitive", yaml: ap("p", "rules:\n- to:\n  - operation:\n      hosts: [EXAMPLE.com]"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "hosts suffix", yaml: ap("p", "rules:\n- to:\n  - operation:\n      hosts: [\"*.example.com\"]"), req: Req(host: "api.Example.com"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "host with port does not match the bare host (as Istio)", yaml: ap("p", "rules:\n- to:\n  - operation:\n      hosts: [example.com]"),
             req: Req(host: "example.com:8080"), expect: .noAllowMatched),
    EvalCase(name: "host:* matches any port", yaml: ap("p", "rules:\n- to:\n  - operation:\n      hosts: [\"example.com:*\"]"),
             req: Req(host: "example.com:8080"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "paths exact", yaml: ap("p", "rules:\n- to:\n  - operation:\n      paths: [/api]"), req: Req(path: "/api/"), expect: .noAllowMatched),
    EvalCase(name: "paths prefix", yaml: ap("p", "rules:\n- to:\n  - operation:\n      paths: [\"/api/*\"]"), req: Req(path: "/api/v1/x"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "paths suffix", yaml: ap("p", "rules:\n- to:\n  - operation:\n      paths: [\"*.json\"]"), req: Req(path: "/a/b.json"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "paths * is presence", yaml: ap("p", "rules:\n- to:\n  - operation:\n      paths: [\"*\"]"), req: Req(path: "/"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "path template {*} is one segment", yaml: ap("p", "rules:\n- to:\n  - operation:\n      paths: [\"/users/{*}/orders\"]"),
             req: Req(path: "/users/42/orders"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "path template {*} does not span segments", yaml: ap("p", "rules:\n- to:\n  - operation:\n      paths: [\"/users/{*}/orders\"]"),
             req: Req(path: "/users/42/x/orders"), expect: .noAllowMatched),
    EvalCase(name: "path template {*} needs a non-empty segment", yaml: ap("p", "rules:\n- to:\n  - operation:\n      paths: [\"/users/{*}/orders\"]"),
             req: Req(path: "/users//orders"), expect: .noAllowMatched),
    EvalCase(name: "path template {**} matches the rest", yaml: ap("p", "rules:\n- to:\n  - operation:\n      paths: [\"/files/{**}\"]"),
             req: Req(path: "/files/a/b/c.txt"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "path template {**} may be empty", yaml: ap("p", "rules:\n- to:\n  - operation:\n      paths: [\"/files/{**}\"]"),
             req: Req(path: "/files/"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "query string is ignored", yaml: ap("p", "rules:\n- to:\n  - operation:\n      paths: [/admin]"), req: Req(path: "/admin?x=/public"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "dot segments are resolved before DENY", yaml: ap("d", "action: DENY\nrules:\n- to:\n  - operation:\n      paths: [\"/admin/*\"]"),
             req: Req(path: "/public/../admin/x"), expect: .deniedBy("foo/d", rule: 0)),
    EvalCase(name: "encoded dots are resolved", yaml: ap("d", "action: DENY\nrules:\n- to:\n  - operation:\n      paths: [\"/admin/*\"]"),
             req: Req(path: "/public/%2e%2E/admin/x"), expect: .deniedBy("foo/d", rule: 0)),
    EvalCase(name: "unreserved percent-escapes are decoded", yaml: ap("d", "action: DENY\nrules:\n- to:\n  - operation:\n      paths: [/admin]"),
             req: Req(path: "/%61dmin"), expect: .deniedBy("foo/d", rule: 0)),
    EvalCase(name: "backslash is a slash", yaml: ap("d", "action: DENY\nrules:\n- to:\n  - operation:\n      paths: [\"/admin/*\"]"),
             req: Req(path: "/admin\\x"), expect: .deniedBy("foo/d", rule: 0)),
    EvalCase(name: "%2F stays encoded (Istio BASE)", yaml: ap("d", "action: DENY\nrules:\n- to:\n  - operation:\n      paths: [/admin/secret]"),
             req: Req(path: "/admin%2fsecret"), expect: .allowNoPolicies),
    EvalCase(name: "%00 is an invalid path", yaml: allowAll, req: Req(path: "/a%00"), expect: .invalidPath),
    EvalCase(name: "notPaths for health", yaml: ap("d", "action: DENY\nrules:\n- from:\n  - source:\n      notRequestPrincipals: [\"*\"]\n  to:\n  - operation:\n      notPaths: [/healthz, \"/metrics*\"]"),
             req: Req(path: "/healthz"), expect: .allowNoPolicies),
    EvalCase(name: "notPaths other path without token denied", yaml: ap("d", "action: DENY\nrules:\n- from:\n  - source:\n      notRequestPrincipals: [\"*\"]\n  to:\n  - operation:\n      notPaths: [/healthz, \"/metrics*\"]"),
             req: Req(path: "/orders"), expect: .deniedBy("foo/d", rule: 0)),
    EvalCase(name: "ports", yaml: ap("p", "rules:\n- to:\n  - operation:\n      ports: [\"8080\"]"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "notPorts", yaml: ap("p", "rules:\n- to:\n  - operation:\n      notPorts: [\"8080\"]"), expect: .noAllowMatched),

    // Peer identity.
    EvalCase(name: "principals without spiffe://", yaml: ap("p", "rules:\n- from:\n  - source:\n      principals: [cluster.local/ns/bar/sa/client]"),
             req: Req(principal: "spiffe://cluster.local/ns/bar/sa/client"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "principals suffix", yaml: ap("p", "rules:\n- from:\n  - source:\n      principals: [\"*/sa/client\"]"),
             req: Req(principal: "spiffe://cluster.local/ns/bar/sa/client"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "principals need mTLS", yaml: ap("p", "rules:\n- from:\n  - source:\n      principals: [\"*\"]"), expect: .noAllowMatched),
    EvalCase(name: "notPrincipals without mTLS matches", yaml: ap("p", "rules:\n- from:\n  - source:\n      notPrincipals: [cluster.local/ns/bar/sa/client]"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "namespaces match the /ns/ segment", yaml: ap("p", "rules:\n- from:\n  - source:\n      namespaces: [bar]"),
             req: Req(principal: "spiffe://cluster.local/ns/bar/sa/client"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "namespaces do not match a longer namespace", yaml: ap("p", "rules:\n- from:\n  - source:\n      namespaces: [bar]"),
             req: Req(principal: "spiffe://cluster.local/ns/barbaz/sa/client"), expect: .noAllowMatched),
    EvalCase(name: "namespaces prefix", yaml: ap("p", "rules:\n- from:\n  - source:\n      namespaces: [\"team-*\"]"),
             req: Req(principal: "spiffe://cluster.local/ns/team-a/sa/client"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "namespaces * inside the value is a wildcard (istiod: every * becomes .*)", yaml: ap("p", "rules:\n- from:\n  - source:\n      namespaces: [\"team-*-prod\"]"),
             req: Req(principal: "spiffe://cluster.local/ns/team-a-prod/sa/client"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "namespaces inner wildcard still needs the rest", yaml: ap("p", "rules:\n- from:\n  - source:\n      namespaces: [\"team-*-prod\"]"),
             req: Req(principal: "spiffe://cluster.local/ns/team-a-dev/sa/client"), expect: .noAllowMatched),
    EvalCase(name: "namespaces suffix", yaml: ap("p", "rules:\n- from:\n  - source:\n      namespaces: [\"*-prod\"]"),
             req: Req(principal: "spiffe://cluster.local/ns/team-prod/sa/client"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "namespaces * needs an /ns/ segment", yaml: ap("p", "rules:\n- from:\n  - source:\n      namespaces: [\"*\"]"),
             req: Req(principal: "spiffe://cluster.local/sa/client"), expect: .noAllowMatched),
    EvalCase(name: "when source.namespace inner wildcard", yaml: ap("p", "rules:\n- when:\n  - key: source.namespace\n    values: [\"a*c\"]"),
             req: Req(principal: "spiffe://cluster.local/ns/abc/sa/x"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "serviceAccounts ns/sa", yaml: ap("p", "rules:\n- from:\n  - source:\n      serviceAccounts: [bar/client]"),
             req: Req(principal: "spiffe://cluster.local/ns/bar/sa/client"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "serviceAccounts bare name uses the policy namespace", yaml: ap("p", "rules:\n- from:\n  - source:\n      serviceAccounts: [client]"),
             req: Req(principal: "spiffe://cluster.local/ns/bar/sa/client"), expect: .noAllowMatched),

    // Request principal.
    EvalCase(name: "requestPrincipals * needs a token", yaml: ap("p", "rules:\n- from:\n  - source:\n      requestPrincipals: [\"*\"]"), expect: .noAllowMatched),
    EvalCase(name: "requestPrincipals * with a token", yaml: ap("p", "rules:\n- from:\n  - source:\n      requestPrincipals: [\"*\"]"),
             identity: identity(), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "requestPrincipals exact iss/sub", yaml: ap("p", "rules:\n- from:\n  - source:\n      requestPrincipals: [https://issuer.example/alice]"),
             identity: identity(), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "requestPrincipals other subject", yaml: ap("p", "rules:\n- from:\n  - source:\n      requestPrincipals: [https://issuer.example/bob]"),
             identity: identity(), expect: .noAllowMatched),
    // istiod splits the value at its last "/" and matches `iss` and `sub` separately (generator.go).
    EvalCase(name: "requestPrincipals iss/* does not match a longer issuer", yaml: ap("p", "rules:\n- from:\n  - source:\n      requestPrincipals: [\"https://issuer.example/*\"]"),
             identity: identity("https://issuer.example/tenant", sub: "bob"), expect: .noAllowMatched),
    EvalCase(name: "requestPrincipals iss/* needs a non-empty sub", yaml: ap("p", "rules:\n- from:\n  - source:\n      requestPrincipals: [\"https://issuer.example/*\"]"),
             identity: identity(sub: ""), expect: .noAllowMatched),
    EvalCase(name: "requestPrincipals * needs a sub claim", yaml: ap("p", "rules:\n- from:\n  - source:\n      requestPrincipals: [\"*\"]"),
             identity: identityWithoutSubject(), expect: .noAllowMatched),
    EvalCase(name: "DENY notRequestPrincipals * with a token without sub", yaml: ap("d", "action: DENY\nrules:\n- from:\n  - source:\n      notRequestPrincipals: [\"*\"]"),
             identity: identityWithoutSubject(), expect: .deniedBy("foo/d", rule: 0)),
    EvalCase(name: "requestPrincipals exact splits at the last slash", yaml: ap("p", "rules:\n- from:\n  - source:\n      requestPrincipals: [https://issuer.example/team/alice]"),
             identity: identity(sub: "team/alice"), expect: .noAllowMatched),
    EvalCase(name: "requestPrincipals iss/prefix*", yaml: ap("p", "rules:\n- from:\n  - source:\n      requestPrincipals: [\"https://issuer.example/al*\"]"),
             identity: identity(), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "requestPrincipals */sub matches any issuer", yaml: ap("p", "rules:\n- from:\n  - source:\n      requestPrincipals: [\"*/alice\"]"),
             identity: identity("https://other.example/x"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "requestPrincipals */sub is an exact subject", yaml: ap("p", "rules:\n- from:\n  - source:\n      requestPrincipals: [\"*/alice\"]"),
             identity: identity(sub: "x/alice"), expect: .noAllowMatched),
    EvalCase(name: "requestPrincipals *suffix/sub", yaml: ap("p", "rules:\n- from:\n  - source:\n      requestPrincipals: [\"*.example/alice\"]"),
             identity: identity(), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "requestPrincipals *sub-suffix without slash", yaml: ap("p", "rules:\n- from:\n  - source:\n      requestPrincipals: [\"*ice\"]"),
             identity: identity(), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "requestPrincipals iss-prefix* without slash", yaml: ap("p", "rules:\n- from:\n  - source:\n      requestPrincipals: [\"https:*\"]"),
             identity: identity(), expect: .allowedBy("foo/p", rule: 0)),  // no "/": an issuer prefix, any non-empty sub
    EvalCase(name: "when request.auth.principal iss/* does not match a longer issuer", yaml: ap("p", "rules:\n- when:\n  - key: request.auth.principal\n    values: [\"https://issuer.example/*\"]"),
             identity: identity("https://issuer.example/tenant", sub: "bob"), expect: .noAllowMatched),
    EvalCase(name: "DENY notRequestPrincipals * without token", yaml: ap("d", "action: DENY\nrules:\n- from:\n  - source:\n      notRequestPrincipals: [\"*\"]"),
             expect: .deniedBy("foo/d", rule: 0)),
    EvalCase(name: "DENY notRequestPrincipals * with token", yaml: ap("d", "action: DENY\nrules:\n- from:\n  - source:\n      notRequestPrincipals: [\"*\"]"),
             identity: identity(), expect: .allowNoPolicies),

    // Addresses.
    EvalCase(name: "ipBlocks CIDR", yaml: ap("p", "rules:\n- from:\n  - source:\n      ipBlocks: [10.0.0.0/24]"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "ipBlocks IPv6", yaml: ap("p", "rules:\n- from:\n  - source:\n      ipBlocks: [\"2001:db8::/32\"]"), req: Req(sourceIP: "2001:db8::7"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "notIpBlocks", yaml: ap("p", "rules:\n- from:\n  - source:\n      notIpBlocks: [10.0.0.1]"), expect: .noAllowMatched),
    EvalCase(name: "ipBlocks ignore x-forwarded-for", yaml: ap("p", "rules:\n- from:\n  - source:\n      ipBlocks: [1.2.3.4]"),
             req: Req(headers: ["x-forwarded-for": "1.2.3.4"]), expect: .noAllowMatched),
    EvalCase(name: "remoteIpBlocks use the rightmost XFF entry", yaml: ap("p", "rules:\n- from:\n  - source:\n      remoteIpBlocks: [1.2.3.4]"),
             req: Req(headers: ["x-forwarded-for": "9.9.9.9, 1.2.3.4"]), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "remoteIpBlocks skip trusted hops", yaml: ap("p", "rules:\n- from:\n  - source:\n      remoteIpBlocks: [9.9.9.9]"),
             req: Req(headers: ["x-forwarded-for": "9.9.9.9, 1.2.3.4"]), trustedProxies: 1, expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "remoteIpBlocks fall back to the peer", yaml: ap("p", "rules:\n- from:\n  - source:\n      remoteIpBlocks: [10.0.0.1]"),
             expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "remoteIpBlocks peer when too few XFF entries", yaml: ap("p", "rules:\n- from:\n  - source:\n      remoteIpBlocks: [10.0.0.1]"),
             req: Req(headers: ["x-forwarded-for": "1.2.3.4"]), trustedProxies: 2, expect: .allowedBy("foo/p", rule: 0)),

    // when.
    EvalCase(name: "when header values, name case-insensitive", yaml: ap("p", "rules:\n- when:\n  - key: request.headers[X-Tenant]\n    values: [acme]"),
             req: Req(headers: ["x-tenant": "acme"]), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "when header values on a missing header", yaml: ap("p", "rules:\n- when:\n  - key: request.headers[x-tenant]\n    values: [\"*\"]"),
             expect: .noAllowMatched),
    EvalCase(name: "when header notValues on a missing header matches", yaml: ap("p", "rules:\n- when:\n  - key: request.headers[x-tenant]\n    notValues: [evil]"),
             expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "when header notValues excludes", yaml: ap("p", "rules:\n- when:\n  - key: request.headers[x-tenant]\n    notValues: [evil]"),
             req: Req(headers: ["x-tenant": "evil"]), expect: .noAllowMatched),
    EvalCase(name: "when header matches the whole (joined) value, as Envoy's HeaderMatcher", yaml: ap("p", "rules:\n- when:\n  - key: request.headers[x-role]\n    values: [admin]"),
             req: Req(headers: ["x-role": "user,admin"]), expect: .noAllowMatched),
    EvalCase(name: "when header prefix sees the joined value", yaml: ap("p", "rules:\n- when:\n  - key: request.headers[x-role]\n    values: [\"user*\"]"),
             req: Req(headers: ["x-role": "user,admin"]), expect: .allowedBy("foo/p", rule: 0)),
    // request.experimental.inline.headers: istiod's HeaderMatcherWithRegex, one element of a comma-separated value matches.
    EvalCase(name: "inline header exact whole value", yaml: ap("p", "rules:\n- when:\n  - key: request.experimental.inline.headers[X-Role]\n    values: [\"admin\"]"),
             req: Req(headers: ["x-role": "admin"]), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "inline header exact first element", yaml: ap("p", "rules:\n- when:\n  - key: request.experimental.inline.headers[X-Role]\n    values: [\"admin\"]"),
             req: Req(headers: ["x-role": "admin,user"]), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "inline header exact middle element", yaml: ap("p", "rules:\n- when:\n  - key: request.experimental.inline.headers[X-Role]\n    values: [\"admin\"]"),
             req: Req(headers: ["x-role": "user,admin,ops"]), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "inline header exact last element", yaml: ap("p", "rules:\n- when:\n  - key: request.experimental.inline.headers[X-Role]\n    values: [\"admin\"]"),
             req: Req(headers: ["x-role": "user,admin"]), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "inline header exact is not a substring", yaml: ap("p", "rules:\n- when:\n  - key: request.experimental.inline.headers[X-Role]\n    values: [\"admin\"]"),
             req: Req(headers: ["x-role": "user,admins"]), expect: .noAllowMatched),
    EvalCase(name: "inline header no trimming after a comma", yaml: ap("p", "rules:\n- when:\n  - key: request.experimental.inline.headers[X-Role]\n    values: [\"admin\"]"),
             req: Req(headers: ["x-role": "user, admin"]), expect: .noAllowMatched),
    EvalCase(name: "inline header prefix on a later element", yaml: ap("p", "rules:\n- when:\n  - key: request.experimental.inline.headers[X-Role]\n    values: [\"adm*\"]"),
             req: Req(headers: ["x-role": "user,admin"]), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "inline header prefix not inside an element", yaml: ap("p", "rules:\n- when:\n  - key: request.experimental.inline.headers[X-Role]\n    values: [\"min*\"]"),
             req: Req(headers: ["x-role": "user,admin"]), expect: .noAllowMatched),
    EvalCase(name: "inline header suffix on an earlier element", yaml: ap("p", "rules:\n- when:\n  - key: request.experimental.inline.headers[X-Role]\n    values: [\"*min\"]"),
             req: Req(headers: ["x-role": "admin,user"]), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "inline header presence on an empty value", yaml: ap("p", "rules:\n- when:\n  - key: request.experimental.inline.headers[X-Role]\n    values: [\"*\"]"),
             req: Req(headers: ["x-role": ""]), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "inline header missing header", yaml: ap("p", "rules:\n- when:\n  - key: request.experimental.inline.headers[X-Role]\n    values: [\"*\"]"),
             expect: .noAllowMatched),
    EvalCase(name: "inline header notValues excludes an element", yaml: ap("p", "rules:\n- when:\n  - key: request.experimental.inline.headers[X-Role]\n    notValues: [\"admin\"]"),
             req: Req(headers: ["x-role": "user,admin"]), expect: .noAllowMatched),
    EvalCase(name: "inline header notValues on a missing header", yaml: ap("p", "rules:\n- when:\n  - key: request.experimental.inline.headers[X-Role]\n    notValues: [\"admin\"]"),
             expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "when scope claim split on spaces", yaml: ap("p", "rules:\n- when:\n  - key: request.auth.claims[scope]\n    values: [\"orders:write\"]"),
             identity: identity(claims: ["scope": .string("orders:read orders:write")]), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "when scp claim split on spaces", yaml: ap("p", "rules:\n- when:\n  - key: request.auth.claims[scp]\n    values: [\"orders:write\"]"),
             identity: identity(claims: ["scp": .string("orders:write")]), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "when other string claims are not split", yaml: ap("p", "rules:\n- when:\n  - key: request.auth.claims[role]\n    values: [admin]"),
             identity: identity(claims: ["role": .string("user admin")]), expect: .noAllowMatched),
    EvalCase(name: "when list claim matches any element", yaml: ap("p", "rules:\n- when:\n  - key: request.auth.claims[groups]\n    values: [\"dev*\"]"),
             identity: identity(claims: ["groups": .array([.string("ops"), .string("developers")])]), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "when nested claim", yaml: ap("p", "rules:\n- when:\n  - key: request.auth.claims[realm_access][roles]\n    values: [admin]"),
             identity: identity(claims: ["realm_access": .object(["roles": .array([.string("admin")])])]), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "when boolean claim (beyond Istio)", yaml: ap("p", "rules:\n- when:\n  - key: request.auth.claims[email_verified]\n    values: [\"true\"]"),
             identity: identity(claims: ["email_verified": .bool(true)]), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "when number claim (beyond Istio)", yaml: ap("p", "rules:\n- when:\n  - key: request.auth.claims[level]\n    values: [\"42\"]"),
             identity: identity(claims: ["level": .number(42)]), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "when claim without a token", yaml: ap("p", "rules:\n- when:\n  - key: request.auth.claims[level]\n    notValues: [\"1\"]"),
             expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "when spaceDelimitedClaims from the RequestAuthentication",
             yaml: """
             apiVersion: security.istio.io/v1
             kind: RequestAuthentication
             metadata: {name: jwt, namespace: foo}
             spec:
               jwtRules:
               - issuer: https://issuer.example
                 spaceDelimitedClaims: [roles]
             ---

             """ + ap("p", "rules:\n- when:\n  - key: request.auth.claims[roles]\n    values: [admin]"),
             identity: identity(claims: ["roles": .string("user admin")]), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "when request.auth.principal", yaml: ap("p", "rules:\n- when:\n  - key: request.auth.principal\n    values: [\"https://issuer.example/*\"]"),
             identity: identity(), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "when request.auth.audiences", yaml: ap("p", "rules:\n- when:\n  - key: request.auth.audiences\n    values: [api]"),
             identity: identity(aud: ["web", "api"]), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "when request.auth.presenter", yaml: ap("p", "rules:\n- when:\n  - key: request.auth.presenter\n    values: [cli]"),
             identity: identity(azp: "cli"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "when source.ip", yaml: ap("p", "rules:\n- when:\n  - key: source.ip\n    values: [10.0.0.0/8]"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "when remote.ip", yaml: ap("p", "rules:\n- when:\n  - key: remote.ip\n    values: [1.2.3.4]"),
             req: Req(headers: ["x-forwarded-for": "1.2.3.4"]), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "when destination.ip", yaml: ap("p", "rules:\n- when:\n  - key: destination.ip\n    notValues: [10.0.0.2]"), expect: .noAllowMatched),
    EvalCase(name: "when destination.port", yaml: ap("p", "rules:\n- when:\n  - key: destination.port\n    values: [\"8080\"]"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "when connection.sni", yaml: ap("p", "rules:\n- when:\n  - key: connection.sni\n    values: [\"*.example.com\"]"),
             req: Req(sni: "api.example.com"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "when source.namespace", yaml: ap("p", "rules:\n- when:\n  - key: source.namespace\n    values: [bar]"),
             req: Req(principal: "spiffe://cluster.local/ns/bar/sa/x"), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "when source.principal", yaml: ap("p", "rules:\n- when:\n  - key: source.principal\n    values: [cluster.local/ns/bar/sa/x]"),
             req: Req(principal: "spiffe://cluster.local/ns/bar/sa/x"), expect: .allowedBy("foo/p", rule: 0)),

    // Seed scenario: mTLS principal + request principal combined, scope-based write access.
    EvalCase(name: "mTLS principal and request principal combined", yaml: ap("p", """
             rules:
             - from:
               - source:
                   principals: [cluster.local/ns/gw/sa/ingress]
                   requestPrincipals: ["https://issuer.example/*"]
             """), req: Req(principal: "spiffe://cluster.local/ns/gw/sa/ingress"), identity: identity(), expect: .allowedBy("foo/p", rule: 0)),
    EvalCase(name: "writes need orders:write", yaml: ap("writes", """
             rules:
             - to:
               - operation:
                   methods: [GET]
             - to:
               - operation:
                   methods: [POST, PUT, DELETE]
               when:
               - key: request.auth.claims[scope]
                 values: ["orders:write"]
             """), req: Req(method: "POST"), identity: identity(claims: ["scope": .string("orders:read")]), expect: .noAllowMatched),
]

@Suite struct AuthorizationEvaluatorTests {
    @Test(arguments: evaluatorCases)
    func semantics(_ c: EvalCase) throws {
        let eff = try effective(c.yaml)
        let decision = AuthorizationEvaluator.evaluate(eff, request: c.req.attributes, identity: c.identity,
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

    @Test func auditAndDryRunAreReportedWithoutChangingTheVerdict() throws {
        let yaml = allowAll + ap("audit-get", "action: AUDIT\nrules:\n- to:\n  - operation:\n      methods: [GET]")
            + ap("dry-deny", "action: DENY\nrules:\n- {}", annotations: "  annotations:\n    istio.io/dry-run: \"true\"")
        let d = AuthorizationEvaluator.evaluate(try effective(yaml), request: Req().attributes, identity: nil)
        #expect(d.isAllowed)
        #expect(d.auditMatches == [PolicyMatch(policy: PolicyRef(namespace: "foo", name: "audit-get"), action: .audit, ruleIndex: 0)])
        #expect(d.dryRun == [DryRunResult(policy: PolicyRef(namespace: "foo", name: "dry-deny"), action: .deny, matchedRule: 0)])
    }

    @Test func denyReasonsNameThePolicyAndWhatFailed() throws {
        let yaml = ap("allow-nothing", "{}") + ap("jwt-only", "rules:\n- from:\n  - source:\n      requestPrincipals: [\"*\"]")
        let d = AuthorizationEvaluator.evaluate(try effective(yaml), request: Req().attributes, identity: nil)
        #expect(!d.isAllowed)
        #expect(d.deniedBy == "foo/allow-nothing,foo/jwt-only")
        #expect(d.reason == "denied: no ALLOW policy matched (foo/allow-nothing: no rules (an ALLOW policy with an empty spec matches nothing); foo/jwt-only: rule[0] from.source.requestPrincipals)")

        let deny = ap("block", "action: DENY\nrules:\n- to:\n  - operation:\n      paths: [\"/admin*\"]")
        let d2 = AuthorizationEvaluator.evaluate(try effective(deny), request: Req(path: "/admin/x").attributes, identity: nil)
        #expect(d2.deniedBy == "foo/block")
        #expect(d2.reason == "denied by DENY policy foo/block rule[0]")
    }

    @Test func customPoliciesAreNotedAsIgnored() throws {
        let eff = try effective(ap("ext", "action: CUSTOM\nprovider:\n  name: warden\nrules:\n- {}"))
        #expect(eff.notes.map(\.level) == [.info])
        #expect(eff.customPolicies.count == 1)
    }
}

/// Words of a space-delimited claim are matched in place for ASCII values; the answer must be the one
/// the split list gives (`split(separator: " ")`: empty words dropped), for every pattern kind.
@Suite struct SpaceDelimitedClaimTests {
    static let values = ["", " ", "a", "a b", "  a  b  ", "orders:read orders:write", "orders:writer", "x orders:",
                         "é orders:write", "orders:write\u{301} b", "a\tb", "b a"]
    static let patterns: [StringPattern] = [.exact("orders:write"), .exact("a"), .exact(""), .prefix("orders:"),
                                            .suffix("write"), .suffix("b"), .presence]

    @Test(arguments: values)
    func inPlaceMatchAgreesWithTheSplitList(_ value: String) throws {
        let effective = try PolicySet.parse(yaml: "", file: "test.yaml").effective(for: WorkloadScope())
        let context = MatchContext(effective: effective, request: RequestAttributes(),
                                   identity: identity(claims: ["scope": .string(value)]), options: EvaluationOptions())
        for p in Self.patterns {
            let expected = value.split(separator: " ").map(String.init).contains(where: p.matches)
            #expect(context.claimMatches(["scope"], p) == expected, "\(value) \(p)")
        }
    }
}

/// Hosts are matched with ASCII case folding in place, every other byte as it is (Envoy's `ignore_case`,
/// `absl::EqualsIgnoreCase`); the answer must be that of comparing ASCII-lower-cased byte arrays.
@Suite struct HostCaseFoldingTests {
    static func reference(_ p: StringPattern, _ value: String) -> Bool {
        func fold(_ s: String) -> [UInt8] { s.utf8.map { $0 >= 65 && $0 <= 90 ? $0 | 0x20 : $0 } }
        let v = fold(value)
        switch p {
        case .exact(let s): return v == fold(s)
        case .prefix(let s): return v.starts(with: fold(s))
        case .suffix(let s): return v.reversed().starts(with: fold(s).reversed())
        case .presence: return !value.isEmpty
        }
    }

    @Test func agreesWithLowerCasedComparison() {
        let alphabet = ["a", "A", "z", "Z", ".", "-", "0", "@", "[", "`", "{", "é", "É", "\u{212A}", "k", "ß", "SS"]
        var rng = SystemRandomNumberGenerator()
        func word() -> String { (0..<Int.random(in: 0...5, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }.joined() }
        for _ in 0..<20_000 {
            let value = word(), text = word()
            for p in [StringPattern.exact(text), .prefix(text), .suffix(text), .presence] {
                #expect(p.matchesIgnoringCase(value) == Self.reference(p, value), "\(p) \(value)")
            }
        }
        #expect(StringPattern.exact("API.Example.COM").matchesIgnoringCase("api.example.com"))
        #expect(StringPattern.suffix(".example.com").matchesIgnoringCase("WWW.EXAMPLE.COM"))
        #expect(!StringPattern.prefix("api.").matchesIgnoringCase("app.example.com"))
        // Only ASCII letters fold: the Kelvin sign (which Unicode lower-cases to k) and É/é stay themselves.
        #expect(!StringPattern.exact("k.com").matchesIgnoringCase("\u{212A}.com"))
        #expect(!StringPattern.exact("\u{C9}.example").matchesIgnoringCase("\u{E9}.example"))
    }
}
