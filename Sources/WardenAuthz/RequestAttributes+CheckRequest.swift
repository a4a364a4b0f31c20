import WardenExtAuthz
import WardenPolicy

extension RequestAttributes {
    /// Plain request facts from Envoy's CheckRequest: HTTP attributes, the connection peer (not
    /// x-forwarded-for), the mTLS principal, SNI and per-route context extensions.
    public init(_ check: CheckRequest) {
        self.init()
        let a = check.attributes
        let http = a.request.http
        method = http.method
        path = http.path
        host = http.host
        scheme = http.scheme
        if !http.headers.isEmpty {
            headers = http.headers
        } else {
            // encode_raw_headers: Envoy sends header_map (raw_value) instead of the map; join repeats with ",".
            for h in http.headerMap.headers {
                let key = h.key.lowercased()
                let value = h.rawValue.isEmpty ? h.value : String(decoding: h.rawValue, as: UTF8.self)
                headers[key] = headers[key].map { $0 + "," + value } ?? value
            }
        }
        if method.isEmpty { method = headers[":method"] ?? "" }
        if path.isEmpty { path = headers[":path"] ?? "" }
        if host.isEmpty { host = headers[":authority"] ?? headers["host"] ?? "" }
        if let s = a.source.address.socketAddress {
            sourceIP = s.address
            sourcePort = s.portValue ?? 0
        }
        if let d = a.destination.address.socketAddress {
            destinationIP = d.address
            destinationPort = d.portValue ?? 0
        }
        sourcePrincipal = a.source.principal
        sni = a.tlsSession.sni
        contextExtensions = a.contextExtensions
    }
}
