/// Connection facts only the proxy knows, read from a header the proxy sets — and only when the operator
/// trusts that header on this listener (`--http-trusted-headers`). Untrusted, the header is an ordinary
/// request header and the attribute stays empty, so policies on it behave as for a request without it
/// (an ALLOW on `ipBlocks` or `principals` does not match).
public enum TrustedHeader: String, Sendable, CaseIterable {
    /// `X-Warden-Client-Address`: the client's IP, or `IP:port` / `[IPv6]:port` → `source.ip`, `source.port`.
    case clientAddress = "client-address"
    /// `X-Warden-Client-Principal`: the mTLS peer's identity (e.g. a SPIFFE id) → `source.principal`.
    case clientPrincipal = "client-principal"
    /// `X-Warden-Client-Cert`: the peer certificate, URL-encoded PEM → certificate-bound tokens (`cnf`).
    case clientCert = "client-cert"
    /// `X-Warden-SNI`: the TLS server name the client asked for → `connection.sni`.
    case sni

    /// The header's lower-case name.
    public var headerName: String {
        switch self {
        case .clientAddress: "x-warden-client-address"
        case .clientPrincipal: "x-warden-client-principal"
        case .clientCert: "x-warden-client-cert"
        case .sni: "x-warden-sni"
        }
    }

    /// `--http-trusted-headers` text: comma-separated names, `all` or `none`; nil names the first unknown one.
    public static func parse(_ text: String) -> Result<Set<TrustedHeader>, HTTPAuthzConfigurationError> {
        var out: Set<TrustedHeader> = []
        for part in text.split(separator: ",") {
            let name = part.trimmingCharacters(in: " ")
            if name == "all" { out.formUnion(allCases); continue }
            if name == "none" { continue }
            guard let h = TrustedHeader(rawValue: name) else { return .failure(.unknownTrustedHeader(name)) }
            out.insert(h)
        }
        return .success(out)
    }
}

/// A bad `--http-*` setting.
public enum HTTPAuthzConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    case unknownTrustedHeader(String)

    public var description: String {
        switch self {
        case .unknownTrustedHeader(let n):
            "unknown trusted header '\(n)' (want \(TrustedHeader.allCases.map(\.rawValue).joined(separator: ", ")), all or none)"
        }
    }
}

extension Substring {
    func trimmingCharacters(in set: Character) -> String {
        String(drop { $0 == set }.reversed().drop { $0 == set }.reversed())
    }
}
