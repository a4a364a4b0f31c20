/// The front door's answer to the proxy: status, header fields in order, body.
public struct HTTPAuthzResponse: Sendable, Equatable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: String

    public init(status: Int, headers: [(name: String, value: String)] = [], body: String = "") {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The last value of `name` (lower-case), if any.
    public func header(_ name: String) -> String? {
        headers.last { $0.name.lowercased() == name }?.value
    }

    public static func == (lhs: HTTPAuthzResponse, rhs: HTTPAuthzResponse) -> Bool {
        lhs.status == rhs.status && lhs.body == rhs.body
            && lhs.headers.map(\.name) == rhs.headers.map(\.name) && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }
}
