#if canImport(Glibc)
import Glibc
#endif

/// How a `GRPCServer` listens and how many resources it uses.
public struct GRPCServerConfiguration: Sendable {
    /// `host:port` to bind, e.g. `0.0.0.0:9001`, `[::]:9001`, `127.0.0.1:0` (port 0 picks a free port; see `GRPCServer.port`).
    public var listen: String
    /// Completion-queue threads; each serves its own share of calls. Default: the number of online cores.
    public var threads: Int
    /// Calls armed in advance per thread, split evenly over the registered methods (at least one each).
    /// A call stays armed-and-busy until it is answered, so deferred answers use them up; calls beyond
    /// them wait inside gRPC (they are not refused).
    public var callsPerThread: Int
    /// Larger request messages are refused with RESOURCE_EXHAUSTED before any handler sees them.
    public var maxReceiveMessageBytes: Int
    /// TLS for the listener; `nil` serves plaintext HTTP/2 (h2c).
    public var tls: TLSConfiguration?
    /// Concurrent calls per HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS). Bounds what one client
    /// can queue at the server (memory, and time spent deciding calls its caller has given up on): beyond
    /// it, the client holds its requests (Envoy opens another connection or fails them by its circuit
    /// breakers and timeout). Calls waiting for keys count too, so keep it well above the waiter caps.
    public var maxConcurrentStreams: Int
    /// Request metadata (lower-case names) copied into `UnaryCall.metadata`, e.g. the trace context gRPC
    /// clients put in their call's headers (`traceparent`, `b3`). Empty (the default): none is read.
    /// Values longer than `UnaryCall.maxMetadataValueBytes` or with bytes outside printable ASCII are skipped.
    public var capturedMetadata: Set<String> = []

    public init(
        listen: String,
        threads: Int = GRPCServerConfiguration.onlineCores,
        callsPerThread: Int = GRPCServerConfiguration.defaultCallsPerThread,
        maxReceiveMessageBytes: Int = 4 << 20,
        tls: TLSConfiguration? = nil,
        maxConcurrentStreams: Int = 256,
        capturedMetadata: Set<String> = []
    ) {
        self.capturedMetadata = capturedMetadata
        self.listen = listen
        self.threads = threads
        self.callsPerThread = callsPerThread
        self.maxReceiveMessageBytes = maxReceiveMessageBytes
        self.tls = tls
        self.maxConcurrentStreams = maxConcurrentStreams
    }

    /// Calls armed per thread unless told otherwise.
    public static let defaultCallsPerThread = 256

    /// The number of online cores (at least 1).
    public static var onlineCores: Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
}

/// TLS for the gRPC listener: PEM files, read once when the server is created.
public struct TLSConfiguration: Sendable, Hashable {
    /// The server certificate, followed by any intermediates.
    public var certificateChainPath: String
    /// The private key of the first certificate in the chain.
    public var privateKeyPath: String
    /// When set, clients must present a certificate that verifies against these CA certificates (mTLS);
    /// a client without one fails the handshake.
    public var clientCAPath: String?

    public init(certificateChainPath: String, privateKeyPath: String, clientCAPath: String? = nil) {
        self.certificateChainPath = certificateChainPath
        self.privateKeyPath = privateKeyPath
        self.clientCAPath = clientCAPath
    }
}
