/// `envoy.service.auth.v3.AttributeContext`: the attributes of the request being checked.
///
/// Message-typed fields read as empty messages when absent; their `$name` projection is the
/// optional (nil when absent).
public struct AttributeContext: ProtobufMessage {
    /// `source = 1`: the downstream peer.
    @MessageField public var source: Peer
    /// `destination = 2`: the local workload.
    @MessageField public var destination: Peer
    /// `request = 4`.
    @MessageField public var request: Request
    /// `context_extensions = 10`: from the route's ext_authz per-route config.
    public var contextExtensions: [String: String]
    /// `metadata_context = 11`: dynamic metadata of the namespaces Envoy was told to send.
    @MessageField public var metadataContext: Metadata
    /// `tls_session = 12`: only with `include_tls_session`.
    @MessageField public var tlsSession: TLSSession
    /// `route_metadata_context = 13`.
    @MessageField public var routeMetadataContext: Metadata

    public init() {
        self.init(source: nil)
    }

    public init(
        source: Peer? = nil, destination: Peer? = nil, request: Request? = nil, contextExtensions: [String: String] = [:],
        metadataContext: Metadata? = nil, tlsSession: TLSSession? = nil, routeMetadataContext: Metadata? = nil
    ) {
        self._source = MessageField(source)
        self._destination = MessageField(destination)
        self._request = MessageField(request)
        self.contextExtensions = contextExtensions
        self._metadataContext = MessageField(metadataContext)
        self._tlsSession = MessageField(tlsSession)
        self._routeMetadataContext = MessageField(routeMetadataContext)
    }

    public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1: try reader.readMessage(tag, into: &$source)
        case 2: try reader.readMessage(tag, into: &$destination)
        case 4: try reader.readMessage(tag, into: &$request)
        case 10: try reader.readStringMapEntry(tag, into: &contextExtensions)
        case 11: try reader.readMessage(tag, into: &$metadataContext)
        case 12: try reader.readMessage(tag, into: &$tlsSession)
        case 13: try reader.readMessage(tag, into: &$routeMetadataContext)
        default: try reader.skip(tag)
        }
    }

    public func encode(to writer: inout ProtobufWriter) {
        writer.writeMessage($source, field: 1)
        writer.writeMessage($destination, field: 2)
        writer.writeMessage($request, field: 4)
        writer.writeStringMap(contextExtensions, field: 10)
        writer.writeMessage($metadataContext, field: 11)
        writer.writeMessage($tlsSession, field: 12)
        writer.writeMessage($routeMetadataContext, field: 13)
    }
}

extension AttributeContext {
    /// `AttributeContext.Peer`: one end of the connection.
    public struct Peer: ProtobufMessage {
        /// `address = 1`: the connection's address (X-Forwarded-For is not applied).
        @MessageField public var address: Address
        /// `service = 2`.
        public var service: String
        /// `labels = 3`.
        public var labels: [String: String]
        /// `principal = 4`: first URI SAN of the peer certificate (e.g. a SPIFFE ID), else subject.
        public var principal: String
        /// `certificate = 5`: URL-encoded PEM, only with `include_peer_certificate`.
        public var certificate: String

        public init() { self.init(address: nil) }

        public init(address: Address?, service: String = "", labels: [String: String] = [:], principal: String = "", certificate: String = "") {
            self._address = MessageField(address)
            self.service = service
            self.labels = labels
            self.principal = principal
            self.certificate = certificate
        }

        public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
            switch tag.fieldNumber {
            case 1: try reader.readMessage(tag, into: &$address)
            case 2: service = try reader.readString(tag)
            case 3: try reader.readStringMapEntry(tag, into: &labels)
            case 4: principal = try reader.readString(tag)
            case 5: certificate = try reader.readString(tag)
            default: try reader.skip(tag)
            }
        }

        public func encode(to writer: inout ProtobufWriter) {
            writer.writeMessage($address, field: 1)
            writer.writeString(service, field: 2)
            writer.writeStringMap(labels, field: 3)
            writer.writeString(principal, field: 4)
            writer.writeString(certificate, field: 5)
        }
    }

    /// `AttributeContext.Request`.
    public struct Request: ProtobufMessage {
        /// `time = 1`: when Envoy received the first byte.
        @MessageField public var time: ProtobufTimestamp
        /// `http = 2`.
        @MessageField public var http: HttpRequest

        public init() { self.init(time: nil, http: nil) }

        public init(time: ProtobufTimestamp? = nil, http: HttpRequest?) {
            self._time = MessageField(time)
            self._http = MessageField(http)
        }

        public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
            switch tag.fieldNumber {
            case 1: try reader.readMessage(tag, into: &$time)
            case 2: try reader.readMessage(tag, into: &$http)
            default: try reader.skip(tag)
            }
        }

        public func encode(to writer: inout ProtobufWriter) {
            writer.writeMessage($time, field: 1)
            writer.writeMessage($http, field: 2)
        }
    }

    /// `AttributeContext.HttpRequest`.
    public struct HttpRequest: ProtobufMessage {
        /// `id = 1`: Envoy's stream id (not `x-request-id`).
        public var id: String
        /// `method = 2`.
        public var method: String
        /// `headers = 3`: lower-case keys, pseudo-headers included (`:authority`, `:path`, …),
        /// repeated headers joined with ","; a later duplicate map key wins.
        public var headers: [String: String]
        /// `path = 4`: the path with the query string.
        public var path: String
        /// `host = 5`.
        public var host: String
        /// `scheme = 6`.
        public var scheme: String
        /// `query = 7` (always empty from Envoy; the query is in `path`).
        public var query: String
        /// `fragment = 8` (always empty from Envoy).
        public var fragment: String
        /// `size = 9`: body bytes received so far, -1 when unknown.
        public var size: Int64
        /// `protocol = 10`: e.g. "HTTP/1.1", "HTTP/2".
        public var `protocol`: String
        /// `body = 11`: the buffered body (with `with_request_body`).
        public var body: String
        /// `raw_body = 12`: the buffered body as bytes (with `pack_as_bytes`).
        public var rawBody: [UInt8]
        /// `header_map = 13`: used instead of `headers` with Envoy's `encode_raw_headers`.
        @MessageField public var headerMap: HeaderMap

        public init() {
            self.init(method: "")
        }

        public init(
            id: String = "", method: String, headers: [String: String] = [:], path: String = "", host: String = "",
            scheme: String = "", query: String = "", fragment: String = "", size: Int64 = 0, protocol: String = "",
            body: String = "", rawBody: [UInt8] = [], headerMap: HeaderMap? = nil
        ) {
            self.id = id
            self.method = method
            self.headers = headers
            self.path = path
            self.host = host
            self.scheme = scheme
            self.query = query
            self.fragment = fragment
            self.size = size
            self.protocol = `protocol`
            self.body = body
            self.rawBody = rawBody
            self._headerMap = MessageField(headerMap)
        }

        public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
            switch tag.fieldNumber {
            case 1: id = try reader.readString(tag)
            case 2: method = try reader.readString(tag)
            case 3:
                // Envoy sends a dozen or more headers: skip the rehashes of growing from empty.
                if headers.isEmpty { headers.reserveCapacity(16) }
                try reader.readStringMapEntry(tag, into: &headers)
            case 4: path = try reader.readString(tag)
            case 5: host = try reader.readString(tag)
            case 6: scheme = try reader.readString(tag)
            case 7: query = try reader.readString(tag)
            case 8: fragment = try reader.readString(tag)
            case 9: size = try reader.readInt64(tag)
            case 10: `protocol` = try reader.readString(tag)
            case 11: body = try reader.readString(tag)
            case 12: rawBody = try reader.readBytes(tag)
            case 13: try reader.readMessage(tag, into: &$headerMap)
            default: try reader.skip(tag)
            }
        }

        public func encode(to writer: inout ProtobufWriter) {
            writer.writeString(id, field: 1)
            writer.writeString(method, field: 2)
            writer.writeStringMap(headers, field: 3)
            writer.writeString(path, field: 4)
            writer.writeString(host, field: 5)
            writer.writeString(scheme, field: 6)
            writer.writeString(query, field: 7)
            writer.writeString(fragment, field: 8)
            writer.writeInt64(size, field: 9)
            writer.writeString(`protocol`, field: 10)
            writer.writeString(body, field: 11)
            writer.writeBytes(rawBody, field: 12)
            writer.writeMessage($headerMap, field: 13)
        }
    }

    /// `AttributeContext.TLSSession`.
    public struct TLSSession: ProtobufMessage, Hashable {
        /// `sni = 1`: the SNI the client sent.
        public var sni: String

        public init() { sni = "" }
        public init(sni: String) { self.sni = sni }

        public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
            switch tag.fieldNumber {
            case 1: sni = try reader.readString(tag)
            default: try reader.skip(tag)
            }
        }

        public func encode(to writer: inout ProtobufWriter) {
            writer.writeString(sni, field: 1)
        }
    }
}
