import WardenExtAuthz
import WardenPolicy

extension RequestAttributes {
    /// Plain request facts from Envoy's CheckRequest: HTTP attributes, the connection peer (not
    /// x-forwarded-for), the mTLS principal, SNI and per-route context extensions.
    public init(_ check: CheckRequest) {
        self.init()
        // Read through the stored optionals (`$field`): the `field` getters return a copy of each
        // nested message, or a freshly built default one, per access.
        guard let a = check.$attributes else { return }
        if let http = a.$request?.$http {
            method = http.method
            path = http.path
            host = http.host
            scheme = http.scheme
            if !http.headers.isEmpty {
                headers = http.headers
            } else if let raw = http.$headerMap {
                // encode_raw_headers: Envoy sends header_map (raw_value) instead of the map; join repeats with ",".
                for h in raw.headers {
                    let key = h.key.lowercased()
                    let value = h.rawValue.isEmpty ? h.value : String(decoding: h.rawValue, as: UTF8.self)
                    headers[key] = headers[key].map { $0 + "," + value } ?? value
                }
            }
        }
        if method.isEmpty { method = headers[":method"] ?? "" }
        if path.isEmpty { path = headers[":path"] ?? "" }
        if host.isEmpty { host = headers[":authority"] ?? headers["host"] ?? "" }
        if let source = a.$source {
            if let s = source.$address?.socketAddress {
                sourceIP = s.address
                sourcePort = s.portValue ?? 0
            }
            sourcePrincipal = source.principal
        }
        if let d = a.$destination?.$address?.socketAddress {
            destinationIP = d.address
            destinationPort = d.portValue ?? 0
        }
        if let tls = a.$tlsSession { sni = tls.sni }
        contextExtensions = a.contextExtensions
    }
}

extension CheckRequest {
    /// `attributes.request.http.id` (Envoy's stream id), without copying the messages on the way.
    public var httpRequestID: String { $attributes?.$request?.$http?.id ?? "" }
}
