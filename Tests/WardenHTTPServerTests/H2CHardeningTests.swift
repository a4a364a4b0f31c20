import Foundation
import Testing
import WardenHTTPServer
import WardenSync

/// The h2c front door's bounds against hostile clients: bodies never kept (413 past the cap, a timeout for
/// unfinished ones), GOAWAY after a 431 and after too many early resets (each cancelling its check), a
/// router that stalled connections cannot lock up, and no socket left open after stop. Frames are written
/// by hand (curl cannot send these sequences).
@Suite("HTTPServer h2c hardening (raw frames)")
struct H2CHardeningTests {
    static func server(maxBodyBytes: Int = 1 << 20, bodyTimeout: Double = 10, resetBudget: Int = 100,
                       maxHeaderBytes: Int = 8192, configure: (inout HTTPServer.Configuration) -> Void = { _ in },
                       handler: @escaping @Sendable (HTTPServerRequest, HTTPResponder) -> Void) throws -> HTTPServer {
        // As `warden serve` does: libh2o writes with writev, and these clients close with answers still coming.
        signal(SIGPIPE, SIG_IGN)
        var configuration = HTTPServer.Configuration(listen: "127.0.0.1:0")
        configuration.threads = 1
        configuration.http2PriorKnowledge = true
        configuration.maxBodyBytes = maxBodyBytes
        configuration.maxHeaderBytes = maxHeaderBytes
        configuration.http2BodyTimeoutSeconds = bodyTimeout
        configuration.http2ResetBudget = resetBudget
        configure(&configuration)
        return try HTTPServer(configuration: configuration, handler: handler)
    }

    static let request: [(String, String)] = [(":method", "GET"), (":scheme", "http"), (":path", "/p"), (":authority", "x")]

    /// Over the body cap: a 413 answer on the stream (RFC 9113 §8.1 lets it come before the body ends), never
    /// RST_STREAM(REFUSED_STREAM), which tells a client it may retry; the handler never sees it. Under the cap
    /// the request is served (its body dropped, as on HTTP/1.1), content-length checked against what arrived.
    @Test func bodyOverTheCapIs413() throws {
        let calls = Locked(0)
        let server = try Self.server(maxBodyBytes: 1000) { _, responder in
            calls.withLock { $0 += 1 }
            responder.respond(.text("ok\n", status: 200))
        }
        defer { server.stop() }
        let client = try RawH2(port: server.port)
        client.send(RawH2.headers(stream: 1, fields: Self.request, endStream: false))
        client.send(RawH2.frame(type: 0, flags: 0, stream: 1, payload: [UInt8](repeating: 0x61, count: 1500)))
        client.send(RawH2.frame(type: 0, flags: 0, stream: 1, payload: [UInt8](repeating: 0x61, count: 1500)))
        // A body within the cap, in two frames, on the same connection.
        client.send(RawH2.headers(stream: 3, fields: Self.request, endStream: false))
        client.send(RawH2.frame(type: 0, flags: 0, stream: 3, payload: [UInt8](repeating: 0x62, count: 500)))
        client.send(RawH2.frame(type: 0, flags: 1, stream: 3, payload: [UInt8](repeating: 0x62, count: 499)))
        let seen = client.read(until: { frames in
            frames.contains { $0.type == 0 && $0.stream == 1 } && frames.contains { $0.type == 0 && $0.stream == 3 }
        })
        let body1 = seen.frames.filter { $0.type == 0 && $0.stream == 1 }.flatMap(\.payload)
        #expect(String(decoding: body1, as: UTF8.self) == "request body too large\n")
        #expect(!seen.frames.contains { $0.type == 3 && $0.stream == 1 && $0.errorCode == 7 }, "no REFUSED_STREAM")
        let body3 = seen.frames.filter { $0.type == 0 && $0.stream == 3 }.flatMap(\.payload)
        #expect(String(decoding: body3, as: UTF8.self) == "ok\n")
        #expect(calls.withLock { $0 } == 1)
    }

    /// A request whose body never ends: its connection gets GOAWAY after the body timeout and closes.
    @Test func anUnfinishedBodyEndsTheConnectionAfterTheTimeout() throws {
        let server = try Self.server(bodyTimeout: 0.5) { _, responder in responder.respond(.text("ok\n", status: 200)) }
        defer { server.stop() }
        let client = try RawH2(port: server.port)
        client.send(RawH2.headers(stream: 1, fields: Self.request, endStream: false))
        client.send(RawH2.frame(type: 0, flags: 0, stream: 1, payload: [UInt8](repeating: 0x61, count: 100)))
        let started = Date()
        var seen = RawH2.Seen()
        // PINGs keep it busy (not idle) meanwhile.
        while Date().timeIntervalSince(started) < 4 && !seen.closed {
            client.send(RawH2.frame(type: 6, flags: 0, stream: 0, payload: [UInt8](repeating: 1, count: 8)))
            let more = client.read(seconds: 0.2)
            seen.frames += more.frames
            seen.closed = more.closed
        }
        let waited = Date().timeIntervalSince(started)
        let goaway = seen.frames.first { $0.type == 7 }
        #expect(goaway?.errorCode == 11, "GOAWAY ENHANCE_YOUR_CALM")
        #expect(seen.closed)
        #expect(waited > 0.4 && waited < 3, "\(waited)")
    }

    /// After a 431 the connection gets GOAWAY at once: a further HEADERS on it is neither decoded nor answered.
    @Test func after431TheConnectionGetsGoawayAndNoMoreRequests() throws {
        let calls = Locked(0)
        let server = try Self.server(maxHeaderBytes: 8192) { _, responder in
            calls.withLock { $0 += 1 }
            responder.respond(.text("ok\n", status: 200))
        }
        defer { server.stop() }
        let client = try RawH2(port: server.port)
        client.send(RawH2.headers(stream: 1, fields: Self.request + [("x-big", String(repeating: "a", count: 12000))], endStream: true))
        let first = client.read(until: { frames in frames.contains { $0.type == 7 } })
        #expect(first.frames.contains { $0.type == 7 && $0.errorCode == 11 }, "GOAWAY ENHANCE_YOUR_CALM")
        client.send(RawH2.headers(stream: 3, fields: Self.request, endStream: true))
        let second = client.read(seconds: 0.5)
        let all = first.frames + second.frames
        #expect(String(decoding: all.filter { $0.type == 0 && $0.stream == 1 }.flatMap(\.payload), as: UTF8.self)
            == "request header fields too large\n")
        #expect(!all.contains { $0.stream == 3 && ($0.type == 0 || $0.type == 1) })
        #expect(calls.withLock { $0 } == 0)
    }

    /// Rapid reset: each stream reset while its check waits cancels that check; past the budget the
    /// connection gets GOAWAY and no further request reaches the handler.
    @Test func rapidResetCancelsChecksThenGoaway() throws {
        let calls = Locked(0)
        let cancelled = Locked(0)
        let held = Locked<[HTTPResponder]>([])
        let server = try Self.server(resetBudget: 10) { _, responder in
            calls.withLock { $0 += 1 }
            responder.cancellation?.onCancel { cancelled.withLock { $0 += 1 } }
            held.withLock { $0.append(responder) }  // a check waiting for keys
        }
        defer { server.stop() }
        let client = try RawH2(port: server.port)
        var burst: [UInt8] = []
        for n in 0..<60 {
            let stream = UInt32(1 + 2 * n)
            burst += RawH2.headers(stream: stream, fields: Self.request, endStream: true)
            burst += RawH2.frame(type: 3, flags: 0, stream: stream, payload: [0, 0, 0, 8])  // RST_STREAM CANCEL
        }
        client.send(burst)
        let seen = client.read(until: { frames in frames.contains { $0.type == 7 } })
        #expect(seen.frames.contains { $0.type == 7 && $0.errorCode == 11 }, "GOAWAY ENHANCE_YOUR_CALM")
        _ = client.read(seconds: 0.3)
        let handled = calls.withLock { $0 }
        #expect(handled == 11, "the budget (10), then the one that crossed it")
        #expect(cancelled.withLock { $0 } == handled)
        #expect(server.unanswered == 0)
        held.withLock { $0.removeAll() }
    }

    /// Connections that stall without saying which protocol they speak cannot lock new ones out: the one
    /// waiting longest makes room, and they are closed after the (short) sniff timeout.
    @Test func stalledConnectionsDoNotLockOutTheRouter() throws {
        let server = try Self.server(configure: { $0.maxPendingConnections = 4; $0.sniffTimeoutSeconds = 1 }) { _, responder in
            responder.respond(.text("ok", status: 200))
        }
        defer { server.stop() }
        var stalled: [RawSocket] = []
        for _ in 0..<12 {
            let socket = try RawSocket(port: server.port)
            socket.send(Array("P".utf8))
            stalled.append(socket)
        }
        usleep(100_000)
        #expect(try curl("http://127.0.0.1:\(server.port)/").status == 200)
        #expect(try curl("http://127.0.0.1:\(server.port)/", extra: ["--http2-prior-knowledge"]).status == 200)
        let last = stalled[stalled.count - 1]
        let started = Date()
        #expect(last.waitClosed(seconds: 3))
        #expect(Date().timeIntervalSince(started) < 2)
        withExtendedLifetime(stalled) {}
    }

    /// A connection that cannot flush (its client reads nothing) when stop's time is up: its socket is
    /// closed when the loop ends, not left open.
    @Test func stopClosesConnectionsThatWouldNotClose() throws {
        let server = try Self.server { _, responder in responder.respond(.text("ok\n", status: 200)) }
        let client = try RawH2(port: server.port, receiveBuffer: 4096)
        // PING ACKs the client never reads fill both sockets' buffers.
        let ping = RawH2.frame(type: 6, flags: 0, stream: 0, payload: [UInt8](repeating: 1, count: 8))
        var pings: [UInt8] = []
        for _ in 0..<4096 { pings += ping }
        for _ in 0..<200 { client.send(pings, nonBlocking: true) }
        usleep(200_000)
        let local = client.localPort
        #expect(serverSideSocket(peerPort: local) != nil, "the server side is open")
        server.stop()
        #expect(serverSideSocket(peerPort: local) == nil, "the server side is closed")
    }
}

/// The fd in this process whose TCP peer is 127.0.0.1:`peerPort` (the server side of a test connection).
private func serverSideSocket(peerPort: UInt16) -> Int32? {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return nil }
    for name in names {
        guard let fd = Int32(name) else { continue }
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
        }
        if ok == 0 && address.sin_family == sa_family_t(AF_INET) && UInt16(bigEndian: address.sin_port) == peerPort { return fd }
    }
    return nil
}

/// A plain TCP client socket to 127.0.0.1.
final class RawSocket {
    let fd: Int32

    init(port: Int, receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(fd); throw POSIXError(.ECONNREFUSED) }
    }

    deinit { close(fd) }

    var localPort: UInt16 {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return UInt16(bigEndian: address.sin_port)
    }

    func send(_ bytes: [UInt8], nonBlocking: Bool = false) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL) | (nonBlocking ? Int32(MSG_DONTWAIT) : 0)) }
            if n <= 0 { return }
            sent += n
        }
    }

    /// What arrives within `seconds` (nil after EOF or a reset).
    func receive(seconds: Double) -> [UInt8]? {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, Int32(seconds * 1000)) > 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n > 0 ? Array(buffer.prefix(n)) : nil
    }

    /// Whether the server closes the connection within `seconds`.
    func waitClosed(seconds: Double) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if receive(seconds: 0.1) == nil { return true }
        }
        return false
    }
}

/// An HTTP/2 client speaking raw frames: the preface and an empty SETTINGS on connect.
final class RawH2 {
    struct Frame {
        var type: UInt8
        var flags: UInt8
        var stream: UInt32
        var payload: [UInt8]
        /// RST_STREAM's or GOAWAY's error code.
        var errorCode: UInt32? {
            let at = type == 3 ? 0 : type == 7 ? 4 : -1
            guard at >= 0, payload.count >= at + 4 else { return nil }
            return payload[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) }
        }
    }

    struct Seen {
        var frames: [Frame] = []
        var closed = false
    }

    let socket: RawSocket
    private var pending: [UInt8] = []

    init(port: Int, receiveBuffer: Int32? = nil) throws {
        socket = try RawSocket(port: port, receiveBuffer: receiveBuffer)
        socket.send(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + Self.frame(type: 4, flags: 0, stream: 0, payload: []))
    }

    var localPort: UInt16 { socket.localPort }

    func send(_ bytes: [UInt8], nonBlocking: Bool = false) { socket.send(bytes, nonBlocking: nonBlocking) }

    static func frame(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8]) -> [UInt8] {
        let n = payload.count
        return [UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff), type, flags,
                UInt8(stream >> 24 & 0x7f), UInt8(stream >> 16 & 0xff), UInt8(stream >> 8 & 0xff), UInt8(stream & 0xff)] + payload
    }

    /// HPACK integer with an `prefix`-bit prefix, the first byte's other bits `first`.
    static func integer(_ value: Int, prefix: Int, first: UInt8) -> [UInt8] {
        let limit = (1 << prefix) - 1
        if value < limit { return [first | UInt8(value)] }
        var out = [first | UInt8(limit)]
        var rest = value - limit
        while rest >= 128 { out.append(UInt8(rest % 128 + 128)); rest /= 128 }
        out.append(UInt8(rest))
        return out
    }

    /// HEADERS (END_HEADERS) with every field a literal never indexed, without Huffman coding; split into
    /// CONTINUATION frames above 16 KiB.
    static func headers(stream: UInt32, fields: [(String, String)], endStream: Bool) -> [UInt8] {
        var block: [UInt8] = []
        for (name, value) in fields {
            block.append(0x10)
            block += integer(name.utf8.count, prefix: 7, first: 0) + Array(name.utf8)
            block += integer(value.utf8.count, prefix: 7, first: 0) + Array(value.utf8)
        }
        let chunks = stride(from: 0, to: block.count, by: 16384).map { Array(block[$0..<min(block.count, $0 + 16384)]) }
        var out: [UInt8] = []
        for (index, chunk) in chunks.enumerated() {
            let last = index == chunks.count - 1
            let flags: UInt8 = (last ? 0x4 : 0) | (index == 0 && endStream ? 0x1 : 0)
            out += frame(type: index == 0 ? 1 : 9, flags: flags, stream: stream, payload: chunk)
        }
        return out
    }

    /// Frames received within `seconds`.
    func read(seconds: Double) -> Seen { read(seconds: seconds, until: { _ in false }) }

    /// Frames received until `done` holds of them (or 3 s pass, or the connection ends).
    func read(seconds: Double = 3, until done: ([Frame]) -> Bool) -> Seen {
        var seen = Seen()
        let end = Date().addingTimeInterval(seconds)
        while Date() < end && !done(seen.frames) {
            guard let bytes = socket.receive(seconds: 0.05) else { seen.closed = true; break }
            pending += bytes
            while pending.count >= 9 {
                let length = Int(pending[0]) << 16 | Int(pending[1]) << 8 | Int(pending[2])
                guard pending.count >= 9 + length else { break }
                let stream = UInt32(pending[5] & 0x7f) << 24 | UInt32(pending[6]) << 16 | UInt32(pending[7]) << 8 | UInt32(pending[8])
                seen.frames.append(Frame(type: pending[3], flags: pending[4], stream: stream, payload: Array(pending[9..<9 + length])))
                pending.removeFirst(9 + length)
            }
        }
        return seen
    }
}
