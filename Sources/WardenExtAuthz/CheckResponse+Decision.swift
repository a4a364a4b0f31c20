import WardenAuthz
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

    /// The bytes of `CheckResponse(decision)`, written without building the intermediate messages for the
    /// claims: `dynamic_metadata` goes straight from the JSON claims to `google.protobuf.Struct` fields
    /// (`ClaimsMetadata`), which `CheckResponseEncodingTests` compares with the message encoder.
    public static func serializedBytes(for decision: Decision) -> [UInt8] {
        guard case .allow(let ok) = decision, !ok.dynamicMetadata.isEmpty else { return CheckResponse(decision).serializedBytes() }
        // Field order as CheckResponse.encode: status = 1, ok_response = 3, dynamic_metadata = 4.
        var writer = ProtobufWriter(capacity: 1024)
        CheckResponse(status: RPCStatus(code: 0), httpResponse: .okResponse(OkHttpResponse(ok))).encode(to: &writer)
        writer.writeNested(field: 4) { ClaimsMetadata.writeStructFields(ok.dynamicMetadata, to: &$0) }
        return writer.bytes
    }
}

extension OkHttpResponse {
    init(_ ok: AllowResponse) {
        self.init()
        headers = ok.headersToSet.map { HeaderValueOption(key: $0.name, value: $0.value, appendAction: .overwriteIfExistsOrAdd) }
        headersToRemove = ok.headersToRemove
        queryParametersToRemove = ok.queryParametersToRemove
        responseHeadersToAdd = ok.responseHeadersToAdd.map { HeaderValueOption(key: $0.name, value: $0.value, appendAction: .overwriteIfExistsOrAdd) }
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
