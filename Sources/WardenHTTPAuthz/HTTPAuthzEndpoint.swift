import WardenAuthz

/// Which protocol a request to the HTTP front door speaks, chosen by its path alone (never by a header
/// a client could send):
///
/// | path | protocol | the original request from |
/// |---|---|---|
/// | `/envoy/…` | Envoy ext_authz `http_service` with `path_prefix: /envoy` | the request's own method and path (after the prefix) and `Host` |
/// | `/forward-auth` | Traefik `forwardAuth`, Caddy `forward_auth`, APISIX `forward-auth`, HAProxy, nginx set up that way | `X-Forwarded-Method`, `X-Forwarded-Uri`, `X-Forwarded-Host`, `X-Forwarded-Proto` |
/// | `/auth-request` | nginx `auth_request` with its usual names | `X-Original-Method`, `X-Original-URI`, `X-Forwarded-Host`, `X-Forwarded-Proto` |
public enum HTTPAuthzEndpoint: Sendable, Equatable {
    /// Envoy `http_service`; the associated value is the original path and query.
    case envoy(originalTarget: String)
    case forwardAuth
    case authRequest

    public static let envoyPrefix = "/envoy"
    public static let forwardAuthPath = "/forward-auth"
    public static let authRequestPath = "/auth-request"

    /// The endpoint `target` addresses, or nil (404).
    public init?(target: String) {
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        if target.utf8.starts(with: (Self.envoyPrefix + "/").utf8) {
            self = .envoy(originalTarget: String(target.utf8.dropFirst(Self.envoyPrefix.utf8.count))!)
        } else if path.utf8.elementsEqual(Self.forwardAuthPath.utf8) {
            self = .forwardAuth
        } else if path.utf8.elementsEqual(Self.authRequestPath.utf8) {
            self = .authRequest
        } else {
            return nil
        }
    }

    /// The label of the check's metrics and log line.
    public var frontDoor: FrontDoor {
        switch self {
        case .envoy: .httpEnvoy
        case .forwardAuth, .authRequest: .forwardAuth
        }
    }
}
