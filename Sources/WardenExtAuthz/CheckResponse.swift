/// `envoy.service.auth.v3.CheckResponse`: Warden's answer to Envoy.
///
/// Allow: `status.code == 0` and `.okResponse(…)`; deny: a non-zero code and `.deniedResponse(…)`.
public struct CheckResponse: ProtobufMessage {
    /// The oneof `http_response`.
    public enum HttpResponse: Sendable, Equatable {
        /// `denied_response = 2`.
        case deniedResponse(DeniedHttpResponse)
        /// `ok_response = 3`.
        case okResponse(OkHttpResponse)
        /// `error_response = 5`: the authorization service itself failed (Envoy counts it as an
        /// error and applies `failure_mode_allow` / `status_on_error`).
        case errorResponse(DeniedHttpResponse)
    }

    /// `status = 1` (`$status` is nil when absent; Envoy reads an absent status as OK).
    @MessageField public var status: RPCStatus
    /// The oneof `http_response`; nil when none is set.
    public var httpResponse: HttpResponse?
    /// `dynamic_metadata = 4` (`$dynamicMetadata` is nil when absent).
    @MessageField public var dynamicMetadata: ProtobufStruct

    public init() {
        self._status = MessageField()
        self.httpResponse = nil
        self._dynamicMetadata = MessageField()
    }

    public init(status: RPCStatus?, httpResponse: HttpResponse? = nil, dynamicMetadata: ProtobufStruct? = nil) {
        self._status = MessageField(status)
        self.httpResponse = httpResponse
        self._dynamicMetadata = MessageField(dynamicMetadata)
    }

    /// The OK response, when that is the member set.
    public var okResponse: OkHttpResponse? {
        if case .okResponse(let r) = httpResponse { return r }
        return nil
    }

    /// The denied response, when that is the member set.
    public var deniedResponse: DeniedHttpResponse? {
        if case .deniedResponse(let r) = httpResponse { return r }
        return nil
    }

    /// The error response, when that is the member set.
    public var errorResponse: DeniedHttpResponse? {
        if case .errorResponse(let r) = httpResponse { return r }
        return nil
    }

    public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1: try reader.readMessage(tag, into: &$status)
        case 2:
            var v = deniedResponse ?? DeniedHttpResponse()
            try reader.readMessage(tag, into: &v)
            httpResponse = .deniedResponse(v)
        case 3:
            var v = okResponse ?? OkHttpResponse()
            try reader.readMessage(tag, into: &v)
            httpResponse = .okResponse(v)
        case 4: try reader.readMessage(tag, into: &$dynamicMetadata)
        case 5:
            var v = errorResponse ?? DeniedHttpResponse()
            try reader.readMessage(tag, into: &v)
            httpResponse = .errorResponse(v)
        default: try reader.skip(tag)
        }
    }

    public func encode(to writer: inout ProtobufWriter) {
        writer.writeMessage($status, field: 1)
        switch httpResponse {
        case .deniedResponse(let r): writer.writeMessage(r, field: 2)
        case .okResponse(let r): writer.writeMessage(r, field: 3)
        case .errorResponse, nil: break
        }
        writer.writeMessage($dynamicMetadata, field: 4)
        if case .errorResponse(let r) = httpResponse { writer.writeMessage(r, field: 5) }
    }
}

/// `envoy.service.auth.v3.OkHttpResponse`: header and query mutations for an allowed request.
public struct OkHttpResponse: ProtobufMessage {
    /// `headers = 2`: headers added to (or overwriting) the upstream request.
    public var headers: [HeaderValueOption]
    /// `dynamic_metadata = 3` (deprecated in Envoy; prefer `CheckResponse.dynamicMetadata`).
    @MessageField public var dynamicMetadata: ProtobufStruct
    /// `headers_to_remove = 5`: request headers removed before forwarding (pseudo-headers and
    /// Host are ignored by Envoy).
    public var headersToRemove: [String]
    /// `response_headers_to_add = 6`: headers added to the downstream response.
    public var responseHeadersToAdd: [HeaderValueOption]
    /// `query_parameters_to_set = 7`.
    public var queryParametersToSet: [QueryParameter]
    /// `query_parameters_to_remove = 8`.
    public var queryParametersToRemove: [String]

    public init() {
        self.init(headers: [])
    }

    public init(
        headers: [HeaderValueOption] = [], headersToRemove: [String] = [], responseHeadersToAdd: [HeaderValueOption] = [],
        queryParametersToSet: [QueryParameter] = [], queryParametersToRemove: [String] = [], dynamicMetadata: ProtobufStruct? = nil
    ) {
        self.headers = headers
        self._dynamicMetadata = MessageField(dynamicMetadata)
        self.headersToRemove = headersToRemove
        self.responseHeadersToAdd = responseHeadersToAdd
        self.queryParametersToSet = queryParametersToSet
        self.queryParametersToRemove = queryParametersToRemove
    }

    public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 2: headers.append(try reader.readMessage(tag, as: HeaderValueOption.self))
        case 3: try reader.readMessage(tag, into: &$dynamicMetadata)
        case 5: headersToRemove.append(try reader.readString(tag))
        case 6: responseHeadersToAdd.append(try reader.readMessage(tag, as: HeaderValueOption.self))
        case 7: queryParametersToSet.append(try reader.readMessage(tag, as: QueryParameter.self))
        case 8: queryParametersToRemove.append(try reader.readString(tag))
        default: try reader.skip(tag)
        }
    }

    public func encode(to writer: inout ProtobufWriter) {
        writer.writeRepeatedMessages(headers, field: 2)
        writer.writeMessage($dynamicMetadata, field: 3)
        writer.writeRepeatedStrings(headersToRemove, field: 5)
        writer.writeRepeatedMessages(responseHeadersToAdd, field: 6)
        writer.writeRepeatedMessages(queryParametersToSet, field: 7)
        writer.writeRepeatedStrings(queryParametersToRemove, field: 8)
    }
}

/// `envoy.service.auth.v3.DeniedHttpResponse`: the HTTP response Envoy sends downstream on deny.
public struct DeniedHttpResponse: ProtobufMessage {
    /// `status = 1` (Envoy answers 403 when absent or `.empty`).
    @MessageField public var status: HttpStatus
    /// `headers = 2`: headers on the downstream response (e.g. `WWW-Authenticate`).
    public var headers: [HeaderValueOption]
    /// `body = 3`.
    public var body: String

    public init() {
        self._status = MessageField()
        self.headers = []
        self.body = ""
    }

    public init(status: HttpStatus?, headers: [HeaderValueOption] = [], body: String = "") {
        self._status = MessageField(status)
        self.headers = headers
        self.body = body
    }

    /// Convenience: `DeniedHttpResponse(code: .forbidden, body: "RBAC: access denied")`.
    public init(code: HttpStatusCode, headers: [HeaderValueOption] = [], body: String = "") {
        self.init(status: HttpStatus(code: code), headers: headers, body: body)
    }

    public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1: try reader.readMessage(tag, into: &$status)
        case 2: headers.append(try reader.readMessage(tag, as: HeaderValueOption.self))
        case 3: body = try reader.readString(tag)
        default: try reader.skip(tag)
        }
    }

    public func encode(to writer: inout ProtobufWriter) {
        writer.writeMessage($status, field: 1)
        writer.writeRepeatedMessages(headers, field: 2)
        writer.writeString(body, field: 3)
    }
}
