/// One request to the HTTP front door, as plain values (the HTTP server's request, mapped by the wiring).
public struct HTTPAuthzRequest: Sendable, Equatable {
    /// The method as sent.
    public var method: String
    /// The request target as sent (path and query, undecoded).
    public var target: String
    /// Header fields in the order received, names lower-cased, repeated fields kept.
    public var headers: [(name: String, value: String)]
    /// The connection's peer: the proxy, not the client.
    public var peerAddress: String
    public var peerPort: UInt16

    public init(method: String, target: String, headers: [(name: String, value: String)],
                peerAddress: String = "", peerPort: UInt16 = 0) {
        self.method = method
        self.target = target
        self.headers = headers
        self.peerAddress = peerAddress
        self.peerPort = peerPort
    }

    /// Every value of the header `name` (lower-case), in order.
    func values(_ name: String) -> [String] {
        headers.filter { $0.name == name }.map(\.value)
    }

    public static func == (lhs: HTTPAuthzRequest, rhs: HTTPAuthzRequest) -> Bool {
        lhs.method == rhs.method && lhs.target == rhs.target && lhs.peerAddress == rhs.peerAddress && lhs.peerPort == rhs.peerPort
            && lhs.headers.map(\.name) == rhs.headers.map(\.name) && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }
}
