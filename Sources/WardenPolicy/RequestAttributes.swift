import WardenJSON

/// The HTTP request and connection facts a check is decided on, independent of protobuf.
public struct RequestAttributes: Sendable, Equatable {
    public var method: String = ""
    /// Path as Envoy sends it, including the query string.
    public var path: String = ""
    public var host: String = ""
    public var scheme: String = ""
    /// Lower-case header names (pseudo-headers included, as Envoy sends them) to values;
    /// repeated headers arrive joined with ",".
    public var headers: [String: String] = [:]
    /// Connection peer (`source.address`), not derived from x-forwarded-for.
    public var sourceIP: String = ""
    public var sourcePort: UInt32 = 0
    /// mTLS peer identity as Envoy reports it, e.g. `spiffe://cluster.local/ns/foo/sa/bar`; empty without mTLS.
    public var sourcePrincipal: String = ""
    /// The mTLS peer's certificate as Envoy sends it (`source.certificate`: URL-encoded PEM, with
    /// `include_peer_certificate: true`); empty without one. Read only for certificate-bound tokens.
    public var sourceCertificate: String = ""
    public var destinationIP: String = ""
    public var destinationPort: UInt32 = 0
    public var sni: String = ""
    /// Connection facts the front door could not report (empty on Envoy's gRPC path): policies on them are
    /// decided fail closed (see `ConnectionFact`), never as if the fact were known to be empty.
    public var unreportedFacts: Set<ConnectionFact> = []
    /// The front door's own id for the request (Envoy: CheckRequest `http.id`, the stream id).
    public var streamID: String = ""
    /// Per-route `context_extensions` from the Envoy ext_authz filter.
    public var contextExtensions: [String: String] = [:]
    /// Other filters' dynamic metadata (Envoy: CheckRequest `metadata_context.filter_metadata`), by
    /// namespace: each namespace's Struct fields. A namespace Envoy did not send is absent — Warden cannot
    /// tell its fields, and `experimental.envoy.filters.*` conditions on it fail closed.
    public var metadataContext: [String: [String: JSONValue]] = [:]

    public init() {}
}
