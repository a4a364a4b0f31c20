#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A parsed `host:port` for a listening socket: an IPv4 or IPv6 literal (IPv6 in brackets) or `localhost`.
public struct ListenAddress: Sendable, Equatable {
    enum Family: Sendable, Equatable { case ipv4, ipv6 }

    let host: String
    let port: UInt16
    let family: Family

    init(parsing text: String) throws(HTTPServerError) {
        guard let colon = text.lastIndex(of: ":") else { throw .invalidAddress(text) }
        var host = String(text[..<colon])
        let portText = text[text.index(after: colon)...]
        guard !portText.isEmpty, portText.allSatisfy(\.isASCII), let port = UInt16(portText) else {
            throw .invalidAddress(text)
        }
        if host.hasPrefix("["), host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
            guard Self.parses(host, family: AF_INET6) else { throw .invalidAddress(text) }
            family = .ipv6
        } else if host == "localhost" {
            host = "127.0.0.1"
            family = .ipv4
        } else if Self.parses(host, family: AF_INET) {
            family = .ipv4
        } else {
            throw .invalidAddress(text)
        }
        self.host = host
        self.port = port
    }

    /// The address as it should appear in messages, e.g. `127.0.0.1:9901` or `[::1]:9901`.
    var display: String { family == .ipv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Calls `body` with a `sockaddr` for this address; the pointer is valid only inside `body`.
    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>) -> R) -> R {
        switch family {
        case .ipv4:
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = port.bigEndian
            _ = inet_pton(AF_INET, host, &sa.sin_addr)
            return withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1, body) }
        case .ipv6:
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = port.bigEndian
            _ = inet_pton(AF_INET6, host, &sa.sin6_addr)
            return withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1, body) }
        }
    }

    private static func parses(_ host: String, family: Int32) -> Bool {
        var buffer = in6_addr()  // large enough for in_addr too
        return inet_pton(family, host, &buffer) == 1
    }
}
