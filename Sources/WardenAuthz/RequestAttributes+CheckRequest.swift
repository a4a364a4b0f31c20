import WardenExtAuthz
import WardenPolicy

extension RequestAttributes {
    /// Plain request facts from Envoy's CheckRequest: HTTP attributes, the connection peer (not
    /// x-forwarded-for), the mTLS principal, SNI and per-route context extensions.
    public init(_ check: CheckRequest) {
        self.init(CheckRequestEssentials(check))
    }

    /// Plain request facts from the essentials of a CheckRequest (decoded per check with
    /// `CheckRequestEssentials(serializedBytes:)`); method, path and host fall back to the
    /// `:method`, `:path` and `:authority` (else `host`) headers when Envoy left them empty.
    public init(_ e: consuming CheckRequestEssentials) {
        self.init()
        headers = e.headers
        method = e.method.isEmpty ? headers[":method"] ?? "" : e.method
        path = e.path.isEmpty ? headers[":path"] ?? "" : e.path
        host = e.host.isEmpty ? headers[":authority"] ?? headers["host"] ?? "" : e.host
        scheme = e.scheme
        sourceIP = e.sourceAddress
        sourcePort = e.sourcePort
        sourcePrincipal = e.sourcePrincipal
        destinationIP = e.destinationAddress
        destinationPort = e.destinationPort
        sni = e.sni
        contextExtensions = e.contextExtensions
    }
}

extension CheckRequest {
    /// `attributes.request.http.id` (Envoy's stream id), without copying the messages on the way.
    public var httpRequestID: String { $attributes?.$request?.$http?.id ?? "" }
}
