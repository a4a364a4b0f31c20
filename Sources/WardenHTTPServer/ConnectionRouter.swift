#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import WardenSync

/// Accepts connections on a ``ListeningSocket`` and routes each by its first bytes: the HTTP/2
/// connection preface (RFC 9113 §3.4, "prior knowledge", what Envoy's HTTP/2 clusters and
/// `curl --http2-prior-knowledge` send) to the h2c server, anything else to libmicrohttpd (HTTP/1.1).
///
/// The bytes are only peeked (`MSG_PEEK`), so whichever server gets the socket reads the request from its
/// start. A connection that has sent nothing decisive within `sniffTimeout` is closed (a real client sends
/// its first bytes at once: HTTPServer allows 2 s), and at most `maxPending` connections wait to be routed:
/// when that many wait, the one waiting longest is closed to make room for the new one, so stalled
/// connections cannot lock new ones out. A partial preface is re-peeked after 5 ms, then less and less
/// often (doubling, at most every 200 ms). HTTP/1.1's
/// `Upgrade: h2c` (RFC 7540 §3.2, removed by RFC 9113 §3.1) is not offered: such requests are served as
/// HTTP/1.1, which a server may do (RFC 9110 §7.8).
final class ConnectionRouter: Sendable {
    /// "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    static let preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    enum Route: Equatable {
        case http1, http2
        /// Every byte so far matches the preface; wait for more.
        case undecided
    }

    /// Where `prefix` (the first bytes a client sent) goes.
    static func route(_ prefix: some Collection<UInt8>) -> Route {
        for (sent, expected) in zip(prefix, preface) where sent != expected { return .http1 }
        return prefix.count >= preface.count ? .http2 : .undecided
    }

    private let listener: Int32
    private let stopping = Locked(false)
    private let thread = Locked<pthread_t?>(nil)

    /// Starts the routing thread.
    /// - Parameters:
    ///   - http1: takes ownership of an accepted socket (with its peer address) that speaks HTTP/1.x.
    ///   - http2: takes ownership of an accepted socket whose first bytes are the HTTP/2 preface.
    init(listener: Int32, sniffTimeout: Double, maxPending: Int,
         http1: @escaping @Sendable (Int32, UnsafePointer<sockaddr>, socklen_t) -> Void,
         http2: @escaping @Sendable (Int32) -> Void) {
        self.listener = listener
        let loop = RouterLoop(listener: listener, sniffTimeout: sniffTimeout, maxPending: max(1, maxPending),
                              http1: http1, http2: http2, stopping: stopping)
        thread.withLock { $0 = spawnJoinableThread { loop.run() } }
    }

    /// Stops accepting (new connections wait in the listen backlog) and closes the connections not routed
    /// yet; joins the thread. The listening socket stays open: its owner closes it.
    func stop() {
        stopping.withLock { $0 = true }
        if let thread = thread.withLock({ current -> pthread_t? in defer { current = nil }; return current }) {
            pthread_join(thread, nil)
        }
    }

    deinit { stop() }
}

/// The routing thread's state; only that thread touches `pending`.
private final class RouterLoop: @unchecked Sendable {
    struct Pending {
        var fd: Int32
        var deadline: Double
        var address: sockaddr_storage
        var length: socklen_t
        /// Sent part of the preface: its bytes stay readable (they are only peeked), so it is re-checked on
        /// a timer instead of polled, backing off.
        var partial = false
        var nextPeek = 0.0
        var peekInterval = RouterLoop.firstPeekInterval
    }

    static let firstPeekInterval = 0.005
    static let maxPeekInterval = 0.2

    let listener: Int32
    let sniffTimeout: Double
    let maxPending: Int
    let http1: @Sendable (Int32, UnsafePointer<sockaddr>, socklen_t) -> Void
    let http2: @Sendable (Int32) -> Void
    let stopping: Locked<Bool>
    var pending: [Pending] = []

    init(listener: Int32, sniffTimeout: Double, maxPending: Int,
         http1: @escaping @Sendable (Int32, UnsafePointer<sockaddr>, socklen_t) -> Void,
         http2: @escaping @Sendable (Int32) -> Void, stopping: Locked<Bool>) {
        self.listener = listener
        self.sniffTimeout = sniffTimeout
        self.maxPending = maxPending
        self.http1 = http1
        self.http2 = http2
        self.stopping = stopping
    }

    func run() {
        var polls: [pollfd] = []
        while !stopping.withLock({ $0 }) {
            polls.removeAll(keepingCapacity: true)
            polls.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0))
            let before = monotonicSeconds()
            var wait = 0.05  // bounded so `stop` and the deadlines are seen within 50 ms
            for connection in pending {
                if connection.partial { wait = min(wait, max(0, connection.nextPeek - before)) }
                polls.append(pollfd(fd: connection.partial ? -1 : connection.fd, events: Int16(POLLIN), revents: 0))
            }
            let ready = poll(&polls, nfds_t(polls.count), Int32((wait * 1000).rounded(.up)))
            if ready < 0 && errno != EINTR { usleep(1000) }
            let now = monotonicSeconds()
            // Only connections with news (or a partial preface) are peeked: many idle ones cost no syscalls.
            var kept: [Pending] = []
            kept.reserveCapacity(pending.count)
            for (index, var connection) in pending.enumerated() {
                let news = connection.partial ? now >= connection.nextPeek : polls[index + 1].revents != 0
                if !news {
                    if now > connection.deadline { close(connection.fd) } else { kept.append(connection) }
                    continue
                }
                switch inspect(connection, now: now) {
                case .keep(let partial):
                    if partial {
                        if connection.partial { connection.peekInterval = min(Self.maxPeekInterval, connection.peekInterval * 2) }
                        connection.nextPeek = now + connection.peekInterval
                    }
                    connection.partial = partial
                    kept.append(connection)
                case .done:
                    break
                }
            }
            pending = kept
            if polls[0].revents & Int16(POLLIN) != 0 { acceptAll(now: now) }
        }
        for connection in pending { close(connection.fd) }
        pending.removeAll()
    }

    enum Outcome { case keep(partial: Bool), done }

    private func inspect(_ connection: Pending, now: Double) -> Outcome {
        var buffer = [UInt8](repeating: 0, count: ConnectionRouter.preface.count)
        let count = buffer.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, $0.count, Int32(MSG_PEEK)) }
        if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            if now > connection.deadline { close(connection.fd); return .done }
            return .keep(partial: false)
        }
        if count <= 0 { close(connection.fd); return .done }
        switch ConnectionRouter.route(buffer.prefix(count)) {
        case .http2:
            http2(connection.fd)
            return .done
        case .http1:
            var address = connection.address
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { http1(connection.fd, $0, connection.length) }
            }
            return .done
        case .undecided:
            if now > connection.deadline { close(connection.fd); return .done }
            return .keep(partial: true)
        }
    }

    private func acceptAll(now: Double) {
        while true {
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(listener, $0, &length) }
            }
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                // Out of descriptors or memory: the listener stays readable, so pause instead of spinning.
                if errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM { usleep(10_000) }
                return  // EAGAIN: backlog empty
            }
            if pending.count >= maxPending {
                // Full: the connection waiting longest goes (a client that means it has sent its first
                // bytes by now), not the new one.
                close(pending.removeFirst().fd)
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
            pending.append(Pending(fd: fd, deadline: now + sniffTimeout, address: address, length: length))
        }
    }
}

private func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// Starts a joinable POSIX thread.
func spawnJoinableThread(_ body: @escaping @Sendable () -> Void) -> pthread_t {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, { raw in
        Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
        return nil
    }, context)
    precondition(result == 0, "pthread_create failed: \(result)")
    return thread
}
