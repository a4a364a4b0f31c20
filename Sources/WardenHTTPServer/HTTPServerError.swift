/// Why a listener could not start. One case per cause.
public enum HTTPServerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The listen string is not `host:port` with an IP literal (or `localhost`) and a port in 0...65535.
    case invalidAddress(String)
    /// Another socket is already listening on this address and port.
    case addressInUse(String)
    /// The address is not assigned to any local interface.
    case addressNotAvailable(String)
    /// Binding needs privileges the process lacks (e.g. a port below 1024).
    case permissionDenied(String)
    /// libmicrohttpd refused to start for another reason; `errno` is what the failure left behind (0 if none).
    case startFailed(String, errno: Int32)

    public var description: String {
        switch self {
        case .invalidAddress(let a): "invalid listen address '\(a)' (want host:port)"
        case .addressInUse(let a): "listen address \(a) is already in use"
        case .addressNotAvailable(let a): "listen address \(a) is not available on this host"
        case .permissionDenied(let a): "permission denied binding to \(a)"
        case .startFailed(let a, let e): "listener on \(a) failed to start (errno \(e))"
        }
    }
}
