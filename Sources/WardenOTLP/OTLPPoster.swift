/// Sends one OTLP/HTTP request body. The exporter's only I/O, behind a protocol so tests can drive
/// failures; `CurlOTLPPoster` is the real one.
public protocol OTLPPoster: Sendable {
    /// POSTs `body` (`application/x-protobuf`) and returns the HTTP status, or throws for a transport
    /// failure (connection refused, timeout, TLS).
    func post(_ body: [UInt8], timeout: Double) throws(OTLPPostError) -> Int
}

/// Why a POST did not get an HTTP answer.
public struct OTLPPostError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
