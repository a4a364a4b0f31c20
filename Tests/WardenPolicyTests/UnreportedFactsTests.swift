import Testing
@testable import WardenPolicy

/// Connection facts a front door did not report (`ConnectionFact`): a rule that needs one is decided fail
/// closed — its parts on the fact match in DENY and AUDIT policies and fail in ALLOW policies, `not…` fields
/// too — and with every fact reported (Envoy's gRPC path) nothing changes.
@Suite struct UnreportedFactsTests {
    enum Want: Equatable, Sendable { case allowed, denied(assumed: [ConnectionFact]), notAllowed }

    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        /// YAML under `spec:` of the one policy (the request has a token; its path is /x).
        var spec: String
        var unreported: Set<ConnectionFact>
        var headers: [String: String] = [:]
        var want: Want
        var testDescription: String { name }
    }

    static let all: Set<ConnectionFact> = Set(ConnectionFact.allCases)

    static let rows: [Row] = [
        // DENY: the part on the missing fact counts as matching.
        Row(name: "DENY ipBlocks, address reported elsewhere", spec: "action: DENY\nrules:\n- from: [{source: {ipBlocks: [\"192.0.2.0/24\"]}}]",
            unreported: [], want: .allowed),
        Row(name: "DENY ipBlocks, address unreported", spec: "action: DENY\nrules:\n- from: [{source: {ipBlocks: [\"192.0.2.0/24\"]}}]",
            unreported: all, want: .denied(assumed: [.sourceAddress])),
        Row(name: "DENY notIpBlocks, address unreported", spec: "action: DENY\nrules:\n- from: [{source: {notIpBlocks: [\"10.0.0.0/8\"]}}]",
            unreported: all, want: .denied(assumed: [.sourceAddress])),
        Row(name: "DENY principals, principal unreported", spec: "action: DENY\nrules:\n- from: [{source: {principals: [\"cluster.local/ns/bad/sa/x\"]}}]",
            unreported: all, want: .denied(assumed: [.sourcePrincipal])),
        Row(name: "DENY namespaces, principal unreported", spec: "action: DENY\nrules:\n- from: [{source: {namespaces: [bad]}}]",
            unreported: [.sourcePrincipal], want: .denied(assumed: [.sourcePrincipal])),
        Row(name: "DENY namespaces, principal reported (empty: plaintext)", spec: "action: DENY\nrules:\n- from: [{source: {namespaces: [bad]}}]",
            unreported: [.sourceAddress, .sni, .destination], want: .allowed),
        Row(name: "DENY ipBlocks and a path that does not match: no deny", spec: "action: DENY\nrules:\n- from: [{source: {ipBlocks: [\"192.0.2.0/24\"]}}]\n  to: [{operation: {paths: [/admin]}}]",
            unreported: all, want: .allowed),
        Row(name: "DENY remoteIpBlocks, no X-Forwarded-For, address unreported",
            spec: "action: DENY\nrules:\n- from: [{source: {remoteIpBlocks: [\"192.0.2.0/24\"]}}]", unreported: all, want: .denied(assumed: [.sourceAddress])),
        Row(name: "DENY remoteIpBlocks, X-Forwarded-For names the client", spec: "action: DENY\nrules:\n- from: [{source: {remoteIpBlocks: [\"192.0.2.0/24\"]}}]",
            unreported: all, headers: ["x-forwarded-for": "198.51.100.7"], want: .allowed),
        Row(name: "DENY when source.ip, unreported", spec: "action: DENY\nrules:\n- when: [{key: source.ip, values: [\"192.0.2.0/24\"]}]",
            unreported: all, want: .denied(assumed: [.sourceAddress])),
        Row(name: "DENY when connection.sni, unreported", spec: "action: DENY\nrules:\n- when: [{key: connection.sni, notValues: [shop.example]}]",
            unreported: all, want: .denied(assumed: [.sni])),
        Row(name: "DENY when destination.port, unreported", spec: "action: DENY\nrules:\n- when: [{key: destination.port, values: [\"9000\"]}]",
            unreported: all, want: .denied(assumed: [.destination])),
        Row(name: "DENY to ports, destination unreported", spec: "action: DENY\nrules:\n- to: [{operation: {ports: [\"9000\"], paths: [/x]}}]",
            unreported: all, want: .denied(assumed: [.destination])),
        Row(name: "DENY to ports, destination reported", spec: "action: DENY\nrules:\n- to: [{operation: {ports: [\"9000\"], paths: [/x]}}]",
            unreported: [], want: .allowed),
        Row(name: "ALLOW to notPorts, destination unreported", spec: "rules:\n- to: [{operation: {notPorts: [\"9000\"]}}]",
            unreported: all, want: .notAllowed),
        Row(name: "DENY on a request header only: unaffected", spec: "action: DENY\nrules:\n- when: [{key: \"request.headers[x-block]\", values: [yes]}]",
            unreported: all, want: .allowed),
        // ALLOW: the part on the missing fact fails, `not…` included.
        Row(name: "ALLOW notIpBlocks, address unreported", spec: "rules:\n- from: [{source: {notIpBlocks: [\"192.0.2.0/24\"]}}]",
            unreported: all, want: .notAllowed),
        Row(name: "ALLOW notIpBlocks, address reported", spec: "rules:\n- from: [{source: {notIpBlocks: [\"192.0.2.0/24\"]}}]",
            unreported: [], want: .allowed),
        Row(name: "ALLOW notPrincipals, principal unreported", spec: "rules:\n- from: [{source: {notPrincipals: [\"cluster.local/ns/bad/sa/x\"]}}]",
            unreported: all, want: .notAllowed),
        Row(name: "ALLOW when notValues source.ip, unreported", spec: "rules:\n- when: [{key: source.ip, notValues: [\"192.0.2.0/24\"]}]",
            unreported: all, want: .notAllowed),
        Row(name: "ALLOW a second source without facts still matches", spec: "rules:\n- from: [{source: {ipBlocks: [\"10.0.0.0/8\"]}}, {source: {requestPrincipals: [\"*\"]}}]",
            unreported: all, want: .allowed),
    ]

    @Test(arguments: rows)
    func decided(_ row: Row) throws {
        var request = Req(path: "/x", headers: row.headers).attributes
        request.unreportedFacts = row.unreported
        let d = AuthorizationEvaluator.evaluate(try effective(ap("p", row.spec)), request: request, identity: identity())
        let got: Want
        switch d.verdict {
        case .allow: got = .allowed
        case .deny(.denyPolicyMatched(let m)): got = .denied(assumed: m.unreportedFacts)
        case .deny: got = .notAllowed
        }
        #expect(got == row.want, "\(d)")
        if case .denied(let facts) = row.want, !facts.isEmpty {
            #expect(d.reason.contains("fail closed: \(facts[0].rawValue) not reported by this front door"), "\(d.reason)")
        }
    }

    /// An AUDIT rule assumes as a DENY does (it is reported, never decides).
    @Test func auditAssumesAsDeny() throws {
        var request = Req(path: "/x").attributes
        request.unreportedFacts = Self.all
        let d = AuthorizationEvaluator.evaluate(try effective(ap("p", "action: AUDIT\nrules:\n- from: [{source: {ipBlocks: [\"192.0.2.0/24\"]}}]")),
                                                request: request, identity: identity())
        #expect(d.auditMatches.map(\.unreportedFacts) == [[.sourceAddress]])
    }
}
