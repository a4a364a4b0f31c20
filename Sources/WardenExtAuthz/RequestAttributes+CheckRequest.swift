import WardenJSON
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
    /// - Parameter metadataNamespaces: the `metadata_context` namespaces to keep (those some policy's
    ///   `experimental.envoy.filters.*` condition reads); nil keeps every namespace. The others are not
    ///   converted: Envoy may send large ones (a JWT payload) no policy looks at.
    public init(_ essentials: consuming CheckRequestEssentials, metadataNamespaces: Set<String>? = nil) {
        self = Self.moving(essentials, metadataNamespaces)
    }

    private static func moving(_ essentials: consuming CheckRequestEssentials, _ metadataNamespaces: Set<String>?) -> RequestAttributes {
        // Moved field by field (swap, not copy): no retain of each string here and release when
        // the essentials go away.
        var r = RequestAttributes()
        var e = essentials
        swap(&r.headers, &e.headers)
        if e.method.isEmpty { r.method = r.headers[":method"] ?? "" } else { swap(&r.method, &e.method) }
        if e.path.isEmpty { r.path = r.headers[":path"] ?? "" } else { swap(&r.path, &e.path) }
        if e.host.isEmpty { r.host = r.headers[":authority"] ?? r.headers["host"] ?? "" } else { swap(&r.host, &e.host) }
        swap(&r.scheme, &e.scheme)
        swap(&r.sourceIP, &e.sourceAddress)
        r.sourcePort = e.sourcePort
        swap(&r.sourcePrincipal, &e.sourcePrincipal)
        swap(&r.sourceCertificate, &e.sourceCertificate)
        swap(&r.destinationIP, &e.destinationAddress)
        r.destinationPort = e.destinationPort
        swap(&r.sni, &e.sni)
        swap(&r.streamID, &e.httpID)
        swap(&r.contextExtensions, &e.contextExtensions)
        for (namespace, fields) in e.metadataContext where metadataNamespaces?.contains(namespace) ?? true {
            r.metadataContext[namespace] = fields.fields.mapValues(JSONValue.init)
        }
        return r
    }
}

extension CheckRequest {
    /// `attributes.request.http.id` (Envoy's stream id), without copying the messages on the way.
    public var httpRequestID: String { $attributes?.$request?.$http?.id ?? "" }
}
