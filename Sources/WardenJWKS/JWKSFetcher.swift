/// One HTTP GET the store wants performed.
public struct FetchRequest: Sendable, Equatable {
    /// An `http` or `https` URL.
    public var url: String
    /// Bound on the whole request, seconds.
    public var timeout: Double
    /// Largest body accepted; a longer one fails with `FetchError.tooLarge`.
    public var maxBytes: Int
    /// Sent as `If-None-Match` when set, so an unchanged document costs a 304.
    public var ifNoneMatch: String?

    public init(url: String, timeout: Double, maxBytes: Int, ifNoneMatch: String? = nil) {
        self.url = url
        self.timeout = timeout
        self.maxBytes = maxBytes
        self.ifNoneMatch = ifNoneMatch
    }
}

/// An HTTP response: any status (the store decides what a non-200 means), the body and its ETag.
public struct FetchedDocument: Sendable, Equatable {
    public var status: Int
    public var body: [UInt8]
    public var etag: String?

    public init(status: Int, body: [UInt8], etag: String? = nil) {
        self.status = status
        self.body = body
        self.etag = etag
    }
}

/// Why a GET produced no HTTP response.
public enum FetchError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The URL (or a redirect target) is not `http`/`https`.
    case unsupportedScheme(String)
    /// The request did not finish within its timeout.
    case timedOut
    /// The body exceeded the size limit.
    case tooLarge(limit: Int)
    /// Name resolution or TCP connection failed.
    case couldNotConnect(String)
    /// TLS handshake or certificate verification failed.
    case tls(String)
    /// Any other transfer failure (`code` is the transport's own code, e.g. a CURLcode).
    case transfer(code: Int, message: String)

    public var description: String {
        switch self {
        case .unsupportedScheme(let url): return "unsupported URL scheme (only http and https): \(url)"
        case .timedOut: return "timed out"
        case .tooLarge(let limit): return "document larger than \(limit) bytes"
        case .couldNotConnect(let m): return "could not connect: \(m)"
        case .tls(let m): return "TLS failure: \(m)"
        case .transfer(let code, let m): return "transfer failed (\(code)): \(m)"
        }
    }

    /// A short label for metrics.
    public var label: String {
        switch self {
        case .unsupportedScheme: return "unsupported_scheme"
        case .timedOut: return "timeout"
        case .tooLarge: return "too_large"
        case .couldNotConnect: return "connect"
        case .tls: return "tls"
        case .transfer: return "transfer"
        }
    }

    /// Whether `url` starts with `http://` or `https://` (case-insensitive).
    static func isHTTP(_ url: String) -> Bool {
        let lower = url.prefix(8).lowercased()
        return lower.hasPrefix("http://") || lower.hasPrefix("https://")
    }
}

/// Performs the GETs of a `JWKSStore`. `CurlFetcher` is the real one; tests may drive the store
/// with a scripted fetcher to make outages and rotation deterministic.
public protocol JWKSFetcher: Sendable {
    /// Performs one GET. Blocking; called on the store's worker threads, at most one call per source at a time.
    func get(_ request: FetchRequest) throws(FetchError) -> FetchedDocument
}
