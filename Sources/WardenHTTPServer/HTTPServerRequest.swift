/// One HTTP request as the server received it, as plain values. Nothing is decoded: the target and
/// header values are the bytes the client sent (header names lower-cased).
public struct HTTPServerRequest: Sendable, Equatable {
    /// The method as sent (`GET`, `POST`, …).
    public var method: String
    /// The request target as sent: the path and, after `?`, the query, neither percent-decoded.
    public var target: String
    /// Header fields in the order received, names lower-cased, repeated fields kept.
    public var headers: [HTTPField]
    /// The connection's peer address (IP literal) and port; empty and 0 when unknown.
    public var peerAddress: String
    public var peerPort: UInt16

    public init(method: String, target: String, headers: [HTTPField] = [], peerAddress: String = "", peerPort: UInt16 = 0) {
        self.method = method
        self.target = target
        self.headers = headers
        self.peerAddress = peerAddress
        self.peerPort = peerPort
    }

    /// The target up to `?`, undecoded.
    public var path: Substring { target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "" }

    /// The target after the first `?`, undecoded; nil without one.
    public var query: Substring? {
        guard let q = target.firstIndex(of: "?") else { return nil }
        return target[target.index(after: q)...]
    }

    /// The last value of the header `name` (lower-case), if any.
    public func header(_ name: String) -> String? {
        headers.last { $0.name == name }?.value
    }
}

/// One header field: a lower-case name and its value.
public struct HTTPField: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}
