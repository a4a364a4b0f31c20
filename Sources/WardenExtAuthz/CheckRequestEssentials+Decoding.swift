import WardenProtobuf

// The per-check decoder: walks the CheckRequest wire format once, keeping only the fields
// `CheckRequestEssentials` holds. Every other field is still checked exactly as the full
// `CheckRequest` decoder checks it (wire type, length, UTF-8 of strings, nesting depth, unknown
// fields and groups), in the same order, so the same inputs are rejected with the same error and
// offset. Rarely sent subtrees (metadata, header_map, pipe and internal addresses) go through the
// full message decoders (`metadata_context`'s filter metadata is kept, the rest dropped); the hot
// ones are read here without intermediate messages.
// Merging follows protobuf: a repeated singular message merges into the earlier one, a later
// scalar wins, a oneof member replaces the other members. `CheckRequestEssentialsTests` compares
// this decoder with `CheckRequestEssentials(CheckRequest(serializedBytes:))`.

extension CheckRequestEssentials {
    /// Header names Envoy sends on most requests, methods and schemes: read from the table
    /// instead of built per check (no validation, no allocation for names over 15 bytes).
    static let commonStrings = ProtobufReader.StringTable([
        ":authority", ":method", ":path", ":scheme", ":protocol", "host", "user-agent", "accept", "accept-encoding",
        "accept-language", "authorization", "cache-control", "connection", "content-length", "content-type", "cookie",
        "origin", "referer", "te", "x-request-id", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
        "x-forwarded-port", "x-forwarded-client-cert", "x-envoy-internal", "x-envoy-expected-rq-timeout-ms",
        "x-envoy-attempt-count", "x-envoy-decorator-operation", "x-envoy-peer-metadata", "x-envoy-peer-metadata-id",
        "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled", "traceparent", "tracestate", "baggage",
        "grpc-timeout", "x-real-ip", "if-none-match", "if-modified-since", "pragma", "upgrade", "x-api-key",
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "http", "https",
    ])

    /// Decodes the essentials of a serialized `CheckRequest`.
    /// - Parameter maxDepth: nesting bound, as for `CheckRequest(serializedBytes:maxDepth:)`.
    /// - Throws: the `ProtobufDecodeError` `CheckRequest(serializedBytes:maxDepth:)` throws for the same input.
    public init(serializedBytes bytes: [UInt8], maxDepth: Int = ProtobufReader.defaultMaxDepth) throws(ProtobufDecodeError) {
        self = try Self.decode(bytes, maxDepth: maxDepth)
    }

    private static func decode(_ bytes: [UInt8], maxDepth: Int) throws(ProtobufDecodeError) -> CheckRequestEssentials {
        var e = CheckRequestEssentials()
        var reader = ProtobufReader(bytes: bytes, maxDepth: maxDepth)
        var rawHeaders = HeaderMap()
        var metadata = Metadata()
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: try e.decodeAttributes(tag, &reader, &rawHeaders, &metadata)
            default: try reader.skip(tag)
            }
        }
        if e.headers.isEmpty && !rawHeaders.headers.isEmpty { e.headers = joined(rawHeaders.headers) }
        if !metadata.filterMetadata.isEmpty { swap(&e.metadataContext, &metadata.filterMetadata) }
        return e
    }

    /// `AttributeContext`. `metadata` collects every `metadata_context` (a repeated message merges).
    private mutating func decodeAttributes(
        _ tag: ProtobufTag, _ r: inout ProtobufReader, _ rawHeaders: inout HeaderMap, _ metadata: inout Metadata
    ) throws(ProtobufDecodeError) {
        let outer = try r.enterMessage(tag)
        while let t = try r.nextTag() {
            switch t.fieldNumber {
            case 1:
                try Self.decodePeer(t, &r, address: &sourceAddress, port: &sourcePort, principal: &sourcePrincipal,
                                    certificate: &sourceCertificate)
            case 2:
                var unused = "", unusedCertificate = ""
                try Self.decodePeer(t, &r, address: &destinationAddress, port: &destinationPort, principal: &unused,
                                    certificate: &unusedCertificate)
            case 4: try decodeRequest(t, &r, &rawHeaders)
            case 10:
                let entry = try r.readStringMapPair(t)
                contextExtensions[entry.key] = entry.value
            case 11: try r.readMessage(t, into: &metadata)
            case 13:
                var routeMetadata = Metadata()
                try r.readMessage(t, into: &routeMetadata)
            case 12:
                let tls = try r.enterMessage(t)
                while let f = try r.nextTag() {
                    switch f.fieldNumber {
                    case 1: sni = try r.readString(f)
                    default: try r.skip(f)
                    }
                }
                r.leaveMessage(tls)
            default: try r.skip(t)
            }
        }
        r.leaveMessage(outer)
    }

    /// `AttributeContext.Peer`; `principal` and `certificate` are read, the other strings only checked.
    private static func decodePeer(
        _ tag: ProtobufTag, _ r: inout ProtobufReader, address: inout String, port: inout UInt32, principal: inout String,
        certificate: inout String
    ) throws(ProtobufDecodeError) {
        let outer = try r.enterMessage(tag)
        while let t = try r.nextTag() {
            switch t.fieldNumber {
            case 1: try decodeAddress(t, &r, address: &address, port: &port)
            case 2: try r.skipString(t)
            case 5: certificate = try r.readString(t)
            case 3: try r.skipStringMapEntry(t)
            case 4: principal = try r.readString(t)
            default: try r.skip(t)
            }
        }
        r.leaveMessage(outer)
    }

    /// `envoy.config.core.v3.Address`. `address`/`port` hold the socket address member: empty
    /// once another member replaces it, so a later `socket_address` starts from empty, as a new
    /// oneof member does.
    private static func decodeAddress(_ tag: ProtobufTag, _ r: inout ProtobufReader, address: inout String, port: inout UInt32) throws(ProtobufDecodeError) {
        let outer = try r.enterMessage(tag)
        while let t = try r.nextTag() {
            switch t.fieldNumber {
            case 1: try decodeSocketAddress(t, &r, address: &address, port: &port)
            case 2:
                var pipe = Pipe()
                try r.readMessage(t, into: &pipe)
                address = ""
                port = 0
            case 3:
                var internalAddress = EnvoyInternalAddress()
                try r.readMessage(t, into: &internalAddress)
                address = ""
                port = 0
            default: try r.skip(t)
            }
        }
        r.leaveMessage(outer)
    }

    /// `envoy.config.core.v3.SocketAddress`: a `named_port` leaves no numeric port.
    private static func decodeSocketAddress(_ tag: ProtobufTag, _ r: inout ProtobufReader, address: inout String, port: inout UInt32) throws(ProtobufDecodeError) {
        let outer = try r.enterMessage(tag)
        while let t = try r.nextTag() {
            switch t.fieldNumber {
            case 1: _ = try r.readEnum(t)
            case 2: address = try r.readString(t)
            case 3: port = try r.readUInt32(t)
            case 4:
                try r.skipString(t)
                port = 0
            case 5, 7: try r.skipString(t)
            case 6: _ = try r.readBool(t)
            default: try r.skip(t)
            }
        }
        r.leaveMessage(outer)
    }

    /// `AttributeContext.Request`.
    private mutating func decodeRequest(_ tag: ProtobufTag, _ r: inout ProtobufReader, _ rawHeaders: inout HeaderMap) throws(ProtobufDecodeError) {
        let outer = try r.enterMessage(tag)
        while let t = try r.nextTag() {
            switch t.fieldNumber {
            case 1:
                // google.protobuf.Timestamp: checked, not kept.
                let time = try r.enterMessage(t)
                while let f = try r.nextTag() {
                    switch f.fieldNumber {
                    case 1: _ = try r.readInt64(f)
                    case 2: _ = try r.readInt32(f)
                    default: try r.skip(f)
                    }
                }
                r.leaveMessage(time)
            case 2: try decodeHTTP(t, &r, &rawHeaders)
            default: try r.skip(t)
            }
        }
        r.leaveMessage(outer)
    }

    /// `AttributeContext.HttpRequest`.
    private mutating func decodeHTTP(_ tag: ProtobufTag, _ r: inout ProtobufReader, _ rawHeaders: inout HeaderMap) throws(ProtobufDecodeError) {
        let outer = try r.enterMessage(tag)
        while let t = try r.nextTag() {
            switch t.fieldNumber {
            case 1: httpID = try r.readString(t)
            case 2: method = try r.readString(t, interning: Self.commonStrings)
            case 3:
                // Envoy sends a dozen or more headers: skip the rehashes of growing from empty.
                if headers.isEmpty { headers = Dictionary(minimumCapacity: 16) }
                let entry = try r.readStringMapPair(t, keys: Self.commonStrings)
                headers[entry.key] = entry.value
            case 4: path = try r.readString(t)
            case 5: host = try r.readString(t)
            case 6: scheme = try r.readString(t, interning: Self.commonStrings)
            case 7, 8, 10, 11: try r.skipString(t)   // query, fragment, protocol, body
            case 9: _ = try r.readInt64(t)            // size
            case 12: try r.skipBytes(t)               // raw_body
            case 13: try r.readMessage(t, into: &rawHeaders)
            default: try r.skip(t)
            }
        }
        r.leaveMessage(outer)
    }
}
