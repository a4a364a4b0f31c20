import WardenAuthz
import WardenPolicy

extension HTTPAuthzResponse {
    /// Envoy's header naming the request headers it must remove before forwarding (HTTP ext_authz).
    public static let envoyHeadersToRemove = "x-envoy-auth-headers-to-remove"
    /// At `/auth-request`, a denial's body in a header: nginx `auth_request` keeps only the status (and
    /// `WWW-Authenticate`), so the documented config answers with this (`return 401 $warden_deny_body`).
    public static let denyBodyHeader = "x-warden-deny-body"

    /// The answer to the proxy for `decision`.
    ///
    /// - Allow, Envoy `http_service`: 200, each header to set (Envoy copies those its
    ///   `allowed_upstream_headers` lists, overwriting the client's), and `x-envoy-auth-headers-to-remove`
    ///   with the headers to strip (client copies of output headers, tokens not forwarded).
    /// - Allow, forward-auth: 200 with each header to set, each header to remove with an empty value, each
    ///   token header the client sent that is kept (`forwardOriginalToken: true`) with its value, and
    ///   `authorization` always (its value when kept, else empty). The documented proxy configs replace
    ///   every output header and `Authorization` with what this answer holds — empty means removed — so
    ///   client copies and stripped tokens never reach the application.
    /// - Deny: the status, body and headers (`WWW-Authenticate`, debug headers) of the gRPC path.
    public init(_ decision: Decision, endpoint: HTTPAuthzEndpoint, record: DecisionRecord?, request: RequestAttributes) {
        switch decision {
        case .allow(let ok):
            var headers = ok.headersToSet.map { (name: $0.name, value: $0.value) }
            switch endpoint {
            case .envoy:
                if !ok.headersToRemove.isEmpty {
                    headers.append((Self.envoyHeadersToRemove, ok.headersToRemove.joined(separator: ",")))
                }
            case .forwardAuth, .authRequest:
                // Every header Warden manages is named, with its value or empty: proxies that copy a listed
                // header even when the answer lacks it (Caddy 2.6 copies a literal placeholder) copy the
                // empty value instead, and nginx sends no header whose value is empty.
                for name in ok.headersToRemove { headers.append((name, "")) }
                var kept: [String] = []
                for name in ["authorization"] + (record?.tokens.compactMap(\.headerName) ?? []) where !kept.contains(name) {
                    guard !ok.headersToRemove.contains(name), !ok.headersToSet.contains(where: { $0.name == name }) else { continue }
                    kept.append(name)
                    if let value = request.headers[name], HeaderField.isValidValue(value) {
                        headers.append((name, value))
                    } else if name == "authorization" {
                        headers.append((name, ""))
                    }
                }
            }
            self.init(status: 200, headers: headers)
        case .deny(let d):
            var headers = d.headers.map { (name: $0.name, value: $0.value) }
            headers.insert(("content-type", "text/plain"), at: 0)
            if endpoint == .authRequest, HeaderField.isValidValue(d.body) {
                headers.append((Self.denyBodyHeader, d.body))
            }
            self.init(status: d.status, headers: headers, body: d.body)
        }
    }

    /// 400 for a request that does not describe an original request.
    public static func badRequest(_ error: HTTPAuthzRequestError) -> HTTPAuthzResponse {
        HTTPAuthzResponse(status: 400, headers: [("content-type", "text/plain")], body: "bad request: \(error)\n")
    }

    /// 404 for a path that is no endpoint.
    public static let notFound = HTTPAuthzResponse(status: 404, headers: [("content-type", "text/plain")],
                                                   body: "not found: the endpoints are /envoy/…, /forward-auth and /auth-request\n")

    /// 503 for a check shed under overload.
    public static let unavailable = HTTPAuthzResponse(status: 503, headers: [("content-type", "text/plain")], body: "overloaded\n")
}

extension TokenTrace {
    /// The header this token came from, if it came from one.
    var headerName: String? {
        if case .header(let name, _) = location { return name }
        return nil
    }
}
