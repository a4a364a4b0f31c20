extension RequestAttributes {
    /// Envoy's `buildOriginalUri`: `scheme://host` + the original path (x-envoy-original-path if set),
    /// the path cut to 256 bytes — the realm jwt_authn puts in `WWW-Authenticate`.
    public var originalURI: String {
        var p = headers["x-envoy-original-path"] ?? path
        if p.utf8.count > 256 { p = String(decoding: Array(p.utf8.prefix(256)), as: UTF8.self) }
        let s = scheme.isEmpty ? (headers[":scheme"] ?? "http") : scheme
        let h = host.isEmpty ? (headers[":authority"] ?? headers["host"] ?? "") : host
        return "\(s)://\(h)\(p)"
    }

    /// A CORS preflight carries no credentials; Istio sets jwt_authn's `bypass_cors_preflight`.
    public var isCORSPreflight: Bool {
        method == "OPTIONS" && !(headers["origin"] ?? "").isEmpty && !(headers["access-control-request-method"] ?? "").isEmpty
    }

    /// `x-request-id` (what Envoy's access log shows as `%REQ(X-REQUEST-ID)%`), else the stream id,
    /// for correlating decision logs with the proxy's own.
    public var requestID: String {
        if let id = headers["x-request-id"], !id.isEmpty { return id }
        return streamID
    }
}
