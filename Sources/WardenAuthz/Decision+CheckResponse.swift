import WardenExtAuthz
import WardenJSON

extension CheckResponse {
    /// The wire answer for a decision. Injected headers use OVERWRITE_IF_EXISTS_OR_ADD: Envoy's default
    /// append action would otherwise keep a client-supplied copy next to Warden's value.
    public init(_ decision: Decision) {
        switch decision {
        case .allow(let ok):
            let metadata: ProtobufStruct? = ok.dynamicMetadata.isEmpty ? nil : ProtobufStruct(fields: ok.dynamicMetadata.mapValues(ProtobufValue.init))
            self.init(status: RPCStatus(code: 0), httpResponse: .okResponse(OkHttpResponse(ok)), dynamicMetadata: metadata)
        case .deny(let d):
            let denied = DeniedHttpResponse(code: HttpStatusCode(rawValue: Int32(d.status)),
                                            headers: d.headers.map { HeaderValueOption(key: $0.name, value: $0.value, appendAction: .overwriteIfExistsOrAdd) },
                                            body: d.body)
            // UNAUTHENTICATED for 401, PERMISSION_DENIED otherwise (what Envoy records as the gRPC status).
            self.init(status: RPCStatus(code: d.status == 401 ? 16 : 7), httpResponse: .deniedResponse(denied))
        }
    }
}

extension OkHttpResponse {
    init(_ ok: AllowResponse) {
        self.init()
        headers = ok.headersToSet.map { HeaderValueOption(key: $0.name, value: $0.value, appendAction: .overwriteIfExistsOrAdd) }
        headersToRemove = ok.headersToRemove
        queryParametersToRemove = ok.queryParametersToRemove
    }
}

extension CheckOutcome {
    /// The wire answer for `decision`: the bytes of `CheckResponse(decision)`, with the `jwt_payload`
    /// metadata copied from its encoding cached with the token (the parsed-token memo) when there is one.
    public func serializedCheckResponse() -> [UInt8] {
        if let encodedResponse { return encodedResponse }
        guard case .allow(let ok) = decision else { return CheckResponse(decision).serializedBytes() }
        // Field order as CheckResponse.encode: status = 1, ok_response = 3, dynamic_metadata = 4.
        var writer = ProtobufWriter(capacity: 256 + (encodedMetadata?.count ?? 512))
        CheckResponse(status: RPCStatus(code: 0), httpResponse: .okResponse(OkHttpResponse(ok))).encode(to: &writer)
        if let encodedMetadata, ok.dynamicMetadata.count == 1, ok.dynamicMetadata[ResponseBuilder.payloadMetadataKey] != nil {
            writer.writeBytes(encodedMetadata, field: 4)
        } else if !ok.dynamicMetadata.isEmpty {
            writer.writeNested(field: 4) { ClaimsMetadata.writeStructFields(ok.dynamicMetadata, to: &$0) }
        }
        return writer.bytes
    }

    /// The encoded `dynamic_metadata` Struct `{"jwt_payload": claims}` for a token's claims.
    static func encodedPayloadMetadata(_ claims: [String: JSONValue]) -> [UInt8] {
        var writer = ProtobufWriter(capacity: 512)
        ClaimsMetadata.writeStructFields([ResponseBuilder.payloadMetadataKey: .object(claims)], to: &writer)
        return writer.bytes
    }
}

extension ProtobufValue {
    /// JSON claims as google.protobuf.Value, for dynamic metadata.
    init(_ json: JSONValue) {
        switch json {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .number(let n): self = .number(n)
        case .string(let s): self = .string(s)
        case .array(let a): self = .listValue(a.map(ProtobufValue.init))
        case .object(let o): self = .structValue(ProtobufStruct(fields: o.mapValues(ProtobufValue.init)))
        }
    }
}
