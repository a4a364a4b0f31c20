/// The answer the admin handler gives for one request.
public struct AdminResponse: Sendable, Equatable {
    /// The HTTP status code, e.g. 200 or 503.
    public var status: Int
    /// The `Content-Type` header value.
    public var contentType: String
    /// The response body bytes.
    public var body: [UInt8]
    /// Extra response headers, sent in this order after `Content-Type`.
    public var headers: [(name: String, value: String)]

    public init(status: Int, contentType: String, body: [UInt8], headers: [(name: String, value: String)] = []) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }

    /// A response whose body is the UTF-8 encoding of `body`.
    public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: String,
                headers: [(name: String, value: String)] = []) {
        self.init(status: status, contentType: contentType, body: Array(body.utf8), headers: headers)
    }

    /// A plain-text response.
    public static func text(_ body: String, status: Int = 200) -> AdminResponse {
        AdminResponse(status: status, body: body)
    }

    /// A JSON response; `json` must already be serialized.
    public static func json(_ json: String, status: Int = 200) -> AdminResponse {
        AdminResponse(status: status, contentType: "application/json", body: json)
    }

    /// `404 Not Found` with a short plain-text body.
    public static let notFound = AdminResponse(status: 404, body: "not found\n")

    public static func == (lhs: AdminResponse, rhs: AdminResponse) -> Bool {
        lhs.status == rhs.status && lhs.contentType == rhs.contentType && lhs.body == rhs.body
            && lhs.headers.map(\.name) == rhs.headers.map(\.name) && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }
}
