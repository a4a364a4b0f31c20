/// Why a `GRPCServer` could not be created. One case per cause.
public enum GRPCServerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A handler key is not a full method path of the form `/package.Service/Method`.
    case invalidMethodName(String)
    /// A numeric setting is out of range (`threads`, `callsPerThread`, `maxReceiveMessageBytes`).
    case invalidSetting(name: String, value: Int)
    /// gRPC core could not listen on the address: it is malformed, already taken (SO_REUSEPORT is off),
    /// not local, or, with TLS, the certificate and key were rejected (gRPC logs the detail to stderr).
    case bindFailed(address: String)
    /// A TLS file could not be read (`errno` from the failing call).
    case tlsFileUnreadable(path: String, errno: Int32)
    /// A TLS file holds no PEM block (`-----BEGIN`).
    case tlsFileNotPEM(path: String)
    /// gRPC core refused to build TLS server credentials from the given files.
    case tlsCredentialsRejected

    public var description: String {
        switch self {
        case .invalidMethodName(let name):
            return "invalid gRPC method path '\(name)' (expected /package.Service/Method)"
        case .invalidSetting(let name, let value):
            return "invalid gRPC server setting \(name)=\(value)"
        case .bindFailed(let address):
            return "cannot listen on \(address) (address invalid or in use, or TLS certificate/key rejected)"
        case .tlsFileUnreadable(let path, let errno):
            return "cannot read TLS file \(path) (errno \(errno))"
        case .tlsFileNotPEM(let path):
            return "TLS file \(path) contains no PEM data"
        case .tlsCredentialsRejected:
            return "gRPC rejected the TLS credentials"
        }
    }
}
