/// A connection fact a policy can match on that a front door may be unable to report: the HTTP front door
/// knows the client's address, mTLS identity or SNI only from headers the operator trusts the proxy to set
/// (`--http-trusted-headers`), and never the proxy's own listener address. Envoy's gRPC ext_authz reports
/// every one of them, so there the set of unreported facts is empty.
///
/// A rule that needs an unreported fact cannot be decided. It is decided fail closed, as
/// istiod widens a DENY rule it cannot compile: in DENY and AUDIT policies the part on the fact counts as
/// matching (the request is denied, `policy_denied_connection_fact_unreported`), in ALLOW policies as
/// failing — so `notIpBlocks` or `notPrincipals` never let a request through on an address or identity
/// nobody reported.
public enum ConnectionFact: String, Sendable, Hashable, CaseIterable, Comparable {
    /// `source.ip`, `source.port`: `ipBlocks`, `notIpBlocks`, and `remoteIpBlocks` when no
    /// `X-Forwarded-For` names the client.
    case sourceAddress = "source.ip"
    /// `source.principal` and what is derived from it: `principals`, `namespaces`, `serviceAccounts`,
    /// `trustDomains` (and their `not…`), `source.namespace`, ….
    case sourcePrincipal = "source.principal"
    /// `connection.sni`.
    case sni = "connection.sni"
    /// `destination.ip`, `destination.port` (and `ports`/`notPorts` of an operation): the proxy's listener,
    /// which no front door header reports.
    case destination = "destination.ip/port"

    public static func < (lhs: ConnectionFact, rhs: ConnectionFact) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}
