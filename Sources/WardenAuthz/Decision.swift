import WardenJSON

/// What Warden answers for one check, before it becomes a CheckResponse.
public enum Decision: Sendable, Equatable {
    case allow(AllowResponse)
    case deny(DenyResponse)

    public var isAllowed: Bool {
        if case .allow = self { return true }
        return false
    }

    /// The HTTP status the client sees (200 for an allow).
    public var httpStatus: Int {
        switch self {
        case .allow: return 200
        case .deny(let d): return d.status
        }
    }
}

/// Request mutations applied by Envoy when the request is allowed.
public struct AllowResponse: Sendable, Equatable {
    /// Headers set on the upstream request, overwriting any client-supplied value.
    public var headersToSet: [HTTPHeader] = []
    /// Headers removed from the upstream request (spoofed copies of injected headers, the token header).
    public var headersToRemove: [String] = []
    public var queryParametersToRemove: [String] = []
    /// Headers added to the response the client gets (Envoy: `OkHttpResponse.response_headers_to_add`),
    /// e.g. a fresh `DPoP-Nonce`.
    public var responseHeadersToAdd: [HTTPHeader] = []
    /// Dynamic metadata under the ext_authz filter namespace (e.g. `jwt_payload`).
    public var dynamicMetadata: [String: JSONValue] = [:]

    public init() {}
}

/// The local reply Envoy sends instead of forwarding the request.
public struct DenyResponse: Sendable, Equatable {
    public var status: Int
    public var body: String
    public var headers: [HTTPHeader]

    public init(status: Int, body: String, headers: [HTTPHeader] = []) {
        self.status = status
        self.body = body
        self.headers = headers
    }
}

public struct HTTPHeader: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}
