import Testing
@testable import WardenPolicy

/// `AuthorizationEvaluator.match` (a TokenPolicy `tokenExchange` rule's `to`): an operation that can match
/// only on an unreported destination port is `.undecided` (the check is refused), never a silent no-match
/// that would send the request on unexchanged; reported (Envoy's gRPC path), the port decides.
@Suite struct OperationsMatchTests {
    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        /// The `to` of one AuthorizationPolicy rule (the request: GET /orders/7, destination port 8080 when reported).
        var to: String
        var unreported: Set<ConnectionFact>
        var want: OperationsMatch
        var testDescription: String { name }
    }

    static let all = Set(ConnectionFact.allCases)

    static let rows: [Row] = [
        Row(name: "paths only, unreported port: decided", to: "[{operation: {paths: [/orders/*]}}]", unreported: all, want: .matches),
        Row(name: "ports, port reported and equal", to: "[{operation: {ports: [\"8080\"], paths: [/orders/*]}}]", unreported: [], want: .matches),
        Row(name: "ports, port reported and other", to: "[{operation: {ports: [\"9000\"], paths: [/orders/*]}}]", unreported: [], want: .noMatch),
        Row(name: "ports, port unreported", to: "[{operation: {ports: [\"8080\"], paths: [/orders/*]}}]", unreported: all,
            want: .undecided([.destination])),
        Row(name: "notPorts, port unreported", to: "[{operation: {notPorts: [\"9000\"]}}]", unreported: [.destination],
            want: .undecided([.destination])),
        Row(name: "ports, port unreported, path does not match: no match whatever the port",
            to: "[{operation: {ports: [\"8080\"], paths: [/admin]}}]", unreported: all, want: .noMatch),
        Row(name: "a second operation matching outright decides",
            to: "[{operation: {ports: [\"8080\"]}}, {operation: {methods: [GET]}}]", unreported: all, want: .matches),
        Row(name: "source facts unreported do not matter to a `to`", to: "[{operation: {ports: [\"8080\"]}}]",
            unreported: [.sourceAddress, .sourcePrincipal, .sni], want: .matches),
    ]

    @Test(arguments: rows)
    func matched(_ row: Row) throws {
        var request = Req(method: "GET", path: "/orders/7").attributes
        request.destinationPort = 8080
        request.unreportedFacts = row.unreported
        let e = try effective(ap("p", "rules:\n- to: \(row.to)"))
        let to = e.allowPolicies[0].rules[0].to
        #expect(AuthorizationEvaluator.match(to, request: request, effective: e) == row.want)
    }

    /// No `to` (a tokenExchange rule without one): every request, whatever is unreported.
    @Test func noOperationMatchesEveryRequest() throws {
        var request = Req(path: "/orders/7").attributes
        request.unreportedFacts = Self.all
        #expect(AuthorizationEvaluator.match([], request: request, effective: try effective(ap("p", "rules:\n- {}"))) == .matches)
    }
}
