import WardenExtAuthz
import WardenJSON

extension CheckResponse {
    /// The wire answer for a decision. Injected headers use OVERWRITE_IF_EXISTS_OR_ADD: Envoy's default
    /// append action would otherwise keep a client-supplied copy next to Warden's value.
    public init(_ decision: Decision) {
        switch decision {
        case .allow(let ok):
            var response = OkHttpResponse()
            response.headers = ok.headersToSet.map { HeaderValueOption(key: $0.name, value: $0.value, appendAction: .overwriteIfExistsOrAdd) }
            response.headersToRemove = ok.headersToRemove
            response.queryParametersToRemove = ok.queryParametersToRemove
            let metadata: ProtobufStruct? = ok.dynamicMetadata.isEmpty ? nil : ProtobufStruct(fields: ok.dynamicMetadata.mapValues(ProtobufValue.init))
            self.init(status: RPCStatus(code: 0), httpResponse: .okResponse(response), dynamicMetadata: metadata)
        case .deny(let d):
            let denied = DeniedHttpResponse(code: HttpStatusCode(rawValue: Int32(d.status)),
                                            headers: d.headers.map { HeaderValueOption(key: $0.name, value: $0.value, appendAction: .overwriteIfExistsOrAdd) },
                                            body: d.body)
            // UNAUTHENTICATED for 401, PERMISSION_DENIED otherwise (what Envoy records as the gRPC status).
            self.init(status: RPCStatus(code: d.status == 401 ? 16 : 7), httpResponse: .deniedResponse(denied))
        }
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
