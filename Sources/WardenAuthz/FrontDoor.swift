/// Which protocol a check arrived by: the `front_door` label of `warden_front_door_checks_total` and the
/// decision log's `front_door` field. Chosen by the listener and endpoint path that received the request,
/// never by anything the client sends.
public enum FrontDoor: String, Sendable, CaseIterable {
    /// Envoy's gRPC ext_authz (`envoy.service.auth.v3.Authorization/Check`).
    case grpc
    /// Envoy's HTTP ext_authz (`http_service`): the original method and path arrive as the request's own.
    case httpEnvoy = "http_envoy"
    /// Forward-auth proxies (nginx `auth_request`, Caddy `forward_auth`, Traefik `forwardAuth`, …): the
    /// original request arrives in `X-Forwarded-*` / `X-Original-*` headers.
    case forwardAuth = "forward_auth"

    var index: Int {
        switch self {
        case .grpc: 0
        case .httpEnvoy: 1
        case .forwardAuth: 2
        }
    }
}
