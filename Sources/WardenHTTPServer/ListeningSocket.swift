#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A listening TCP socket Warden owns (when it routes connections itself, see ``ConnectionRouter``):
/// non-blocking, close-on-exec, `SO_REUSEADDR` as libmicrohttpd sets it on its own listeners.
struct ListeningSocket: Sendable {
    let fd: Int32
    let port: Int

    init(address: ListenAddress, backlog: Int32 = SOMAXCONN) throws(HTTPServerError) {
        let family = address.family == .ipv6 ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .startFailed(address.display, errno: errno) }
        var on: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        if family == AF_INET6 { _ = setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &on, socklen_t(MemoryLayout<Int32>.size)) }
        let bound = address.withSockAddr { sa in
            bind(fd, sa, socklen_t(address.family == .ipv6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size))
        }
        guard bound == 0, listen(fd, backlog) == 0 else {
            let failure = errno
            close(fd)
            switch failure {
            case EADDRINUSE: throw .addressInUse(address.display)
            case EADDRNOTAVAIL: throw .addressNotAvailable(address.display)
            case EACCES, EPERM: throw .permissionDenied(address.display)
            default: throw .startFailed(address.display, errno: failure)
            }
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let port = withUnsafeMutablePointer(to: &storage) { pointer -> Int in
            _ = pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            switch Int32(pointer.pointee.ss_family) {
            case AF_INET: return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
            case AF_INET6: return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            default: return Int(address.port)
            }
        }
        self.fd = fd
        self.port = port
    }
}
