/// The answer to one request: status, header fields (sent in this order) and body.
public struct HTTPServerResponse: Sendable, Equatable {
    public var status: Int
    public var headers: [HTTPField]
    public var body: [UInt8]

    public init(status: Int, headers: [HTTPField] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A plain-text answer (used for the server's own errors).
    public static func text(_ text: String, status: Int) -> HTTPServerResponse {
        HTTPServerResponse(status: status, headers: [HTTPField("content-type", "text/plain; charset=utf-8")], body: Array(text.utf8))
    }
}
