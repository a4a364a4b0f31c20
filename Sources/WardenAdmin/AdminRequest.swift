/// One HTTP request received by the admin listener, as plain values.
public struct AdminRequest: Sendable, Equatable {
    /// The HTTP method as sent (`GET`, `HEAD`, …).
    public var method: String
    /// The decoded path without the query string, e.g. `/readyz`.
    public var path: String
    /// Query arguments by name; a bare `?flag` maps to the empty string. The last value wins.
    public var query: [String: String]
    /// Request headers by lower-cased name. The last value wins.
    public var headers: [String: String]

    public init(method: String, path: String, query: [String: String] = [:], headers: [String: String] = [:]) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
    }
}
