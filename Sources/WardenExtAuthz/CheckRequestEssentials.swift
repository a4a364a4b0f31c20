import WardenProtobuf

/// The part of a `CheckRequest` that Warden decides on, as plain values: what
/// `RequestAttributes` is built from.
///
/// Decode it straight from the wire with `init(serializedBytes:)` (the per-check path: no
/// intermediate messages), or derive it from a decoded `CheckRequest` with `init(_:)`. Both give
/// the same value, and `init(serializedBytes:)` rejects exactly the inputs
/// `CheckRequest(serializedBytes:)` rejects, with the same error.
///
/// ```swift
/// let facts = try CheckRequestEssentials(serializedBytes: body)
/// facts.headers["authorization"]
/// ```
public struct CheckRequestEssentials: Sendable, Equatable {
    /// `attributes.request.http.id`: Envoy's stream id (not `x-request-id`).
    public var httpID: String
    /// `attributes.request.http.method`.
    public var method: String
    /// `attributes.request.http.path`, with the query string.
    public var path: String
    /// `attributes.request.http.host`.
    public var host: String
    /// `attributes.request.http.scheme`.
    public var scheme: String
    /// `attributes.request.http.headers` (lower-case keys, a later duplicate key wins); when that
    /// map is empty, the `header_map` Envoy sends with `encode_raw_headers` instead: keys
    /// lower-cased, `raw_value` preferred over `value` (invalid UTF-8 replaced), repeats joined with ",".
    public var headers: [String: String]
    /// `attributes.source.address.socket_address.address` ("" for a pipe or internal address).
    public var sourceAddress: String
    /// `attributes.source.address.socket_address.port_value` (0 for a named port or none).
    public var sourcePort: UInt32
    /// `attributes.source.principal`: the mTLS peer identity.
    public var sourcePrincipal: String
    /// `attributes.source.certificate`: the peer's certificate, URL-encoded PEM (empty unless Envoy's
    /// ext_authz filter sets `include_peer_certificate`).
    public var sourceCertificate: String
    /// `attributes.destination.address.socket_address.address`.
    public var destinationAddress: String
    /// `attributes.destination.address.socket_address.port_value`.
    public var destinationPort: UInt32
    /// `attributes.tls_session.sni`.
    public var sni: String
    /// `attributes.context_extensions`.
    public var contextExtensions: [String: String]
    /// `attributes.metadata_context.filter_metadata`: the dynamic metadata of the namespaces the ext_authz
    /// filter lists in `metadata_context_namespaces` (request metadata, else the connection's), by namespace.
    /// `route_metadata_context` and `typed_filter_metadata` are validated, not kept.
    public var metadataContext: [String: ProtobufStruct]

    /// Every field empty.
    public init() {
        // Assigned here, not as property defaults: `init(serializedBytes:)` replaces `self`
        // whole and would build and drop the defaults first.
        httpID = ""
        method = ""
        path = ""
        host = ""
        scheme = ""
        headers = [:]
        sourceAddress = ""
        sourcePort = 0
        sourcePrincipal = ""
        sourceCertificate = ""
        destinationAddress = ""
        destinationPort = 0
        sni = ""
        contextExtensions = [:]
        metadataContext = [:]
    }

    /// The essentials of a decoded `CheckRequest` (the reference for `init(serializedBytes:)`).
    public init(_ check: CheckRequest) {
        // Read through the stored optionals (`$field`): the `field` getters return a copy of each
        // nested message, or a freshly built default one, per access.
        self.init()
        guard let a = check.$attributes else { return }
        if let http = a.$request?.$http {
            httpID = http.id
            method = http.method
            path = http.path
            host = http.host
            scheme = http.scheme
            headers = http.headers
            if headers.isEmpty, let raw = http.$headerMap { headers = Self.joined(raw.headers) }
        }
        if let source = a.$source {
            if let s = source.$address?.socketAddress {
                sourceAddress = s.address
                sourcePort = s.portValue ?? 0
            }
            sourcePrincipal = source.principal
            sourceCertificate = source.certificate
        }
        if let d = a.$destination?.$address?.socketAddress {
            destinationAddress = d.address
            destinationPort = d.portValue ?? 0
        }
        if let tls = a.$tlsSession { sni = tls.sni }
        contextExtensions = a.contextExtensions
        if let metadata = a.$metadataContext { metadataContext = metadata.filterMetadata }
    }

    /// `header_map` entries as a header dictionary: keys lower-cased, `raw_value` (decoded,
    /// invalid UTF-8 replaced) preferred over `value`, repeated keys joined with ",".
    static func joined(_ raw: [HeaderValue]) -> [String: String] {
        var headers: [String: String] = [:]
        for h in raw {
            let key = h.key.lowercased()
            let value = h.rawValue.isEmpty ? h.value : String(decoding: h.rawValue, as: UTF8.self)
            headers[key] = headers[key].map { $0 + "," + value } ?? value
        }
        return headers
    }
}
