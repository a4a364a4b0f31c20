internal import CMicroHTTPD
internal import CWardenShims
import WardenSync
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An HTTP/1.1 server backed by libmicrohttpd (Warden's admin listener and its HTTP front door), and
/// optionally HTTP/2 without TLS on the same port (`http2PriorKnowledge`, libh2o; see ``ConnectionRouter``).
///
/// It binds only to the address it is given and serves requests on internal polling threads
/// (`threads`; each connection stays on one). The handler gets every complete request and a
/// ``HTTPResponder``; it may answer before it returns or later from any thread (the connection is
/// suspended meanwhile, holding no thread). Request bodies are read and discarded. libmicrohttpd itself
/// answers what it cannot parse (400) and request lines or header sections larger than
/// `maxHeaderBytes` (414/431), and keeps HTTP/1.1 connections alive between requests.
public final class HTTPServer: Sendable {
    public struct Configuration: Sendable {
        /// "host:port"; port 0 picks a free port.
        public var listen: String
        /// Concurrent connections accepted; further ones are refused.
        public var connectionLimit: Int = 64
        /// Idle (keep-alive) connections are closed after this long.
        public var idleTimeoutSeconds: Int = 10
        /// Polling threads; each connection is served by one of them.
        public var threads: Int = 1
        /// Memory per connection for the request line and headers (libmicrohttpd's connection memory
        /// limit, which also holds its read buffer): a request that does not fit is answered 414 or 431.
        public var maxHeaderBytes: Int = 32 * 1024
        /// A request body longer than this is answered 413 (bodies are discarded anyway).
        public var maxBodyBytes: Int = 1 << 20
        /// Also serve HTTP/2 without TLS (h2c with prior knowledge: the client starts with the HTTP/2
        /// connection preface, as Envoy's HTTP/2 clusters do). Warden then accepts each connection itself
        /// and routes it by its first bytes; HTTP/1.1 is served by libmicrohttpd as without it. HTTP/2 runs
        /// on `threads` event loops, connections dealt out in turn; `connectionLimit` applies to the
        /// HTTP/2 connections too (counted apart, split evenly between the loops), `maxHeaderBytes` to the
        /// decoded header list (431), and `maxConcurrentStreams` requests per connection run at once.
        public var http2PriorKnowledge = false
        /// With `http2PriorKnowledge`: requests per HTTP/2 connection handled at once (libh2o queues the
        /// rest; it advertises and enforces 100 open streams per connection).
        public var maxConcurrentStreams: Int = 100
        /// With `http2PriorKnowledge`: HTTP/2 connections open at once, counted apart from HTTP/1.1's
        /// `connectionLimit` (the lower of the two applies), split evenly between the loops. Kept lower than
        /// HTTP/1.1's: while libh2o 2.2 decodes an oversized header block (up to ~400 KB encoded, which HPACK
        /// can expand ~100-fold) before the 431, that connection holds tens of MB; proxies multiplex their
        /// checks over a few connections each.
        public var maxHTTP2Connections: Int = 256
        /// With `http2PriorKnowledge`: a request whose headers or body have not all arrived this long after
        /// its HEADERS gets its connection GOAWAY (no new streams; closed once the answers under way are
        /// written), and the connection is shut down after twice this. Request bodies are never kept (as on
        /// HTTP/1.1 they are counted and dropped; above `maxBodyBytes` the answer is 413).
        public var http2BodyTimeoutSeconds: Double = 10
        /// With `http2PriorKnowledge`: requests a connection may have reset (or otherwise lose) before their
        /// answer within `http2ResetWindowSeconds`; one more gets GOAWAY (rapid reset, CVE-2023-44487).
        /// Each such request's check is cancelled (``HTTPResponder/cancellation``).
        public var http2ResetBudget: Int = 100
        public var http2ResetWindowSeconds: Double = 10
        /// With `http2PriorKnowledge`: a new connection must show its protocol (send its first bytes) within
        /// this long, and at most `maxPendingConnections` wait for that (default: `connectionLimit`); when
        /// they are that many, the one waiting longest is closed to make room.
        public var sniffTimeoutSeconds: Double = 2
        public var maxPendingConnections: Int? = nil

        public init(listen: String) { self.listen = listen }
    }

    /// The bound port (the ephemeral one the kernel chose when the listen address said port 0).
    public let port: Int
    /// The bound host, as an IP literal.
    public let host: String

    private let context: ServerContext
    private let daemon: Locked<DaemonHandle?>
    /// With `http2PriorKnowledge`: the socket Warden listens on, its router and the HTTP/2 server.
    private let listener: ListeningSocket?
    private let router: ConnectionRouter?
    /// One HTTP/2 event loop per polling thread (`threads`); connections are dealt out in turn.
    private let h2c: [H2CServer]

    /// Starts listening.
    /// - Parameter handler: gets every request, including unknown paths; must call `respond` exactly
    ///   once (later calls are ignored), on any thread.
    /// - Throws: ``HTTPServerError`` naming the cause (bad address, address in use, …).
    public init(configuration: Configuration,
                handler: @escaping @Sendable (HTTPServerRequest, HTTPResponder) -> Void) throws(HTTPServerError) {
        let address = try ListenAddress(parsing: configuration.listen)
        let context = ServerContext(handler: handler, maxBodyBytes: configuration.maxBodyBytes)
        let listener = configuration.http2PriorKnowledge ? try ListeningSocket(address: address) : nil
        var failure: Int32 = 0
        let limits = warden_mhd_limits(
            connection_limit: UInt32(clamping: max(1, configuration.connectionLimit)),
            connection_timeout_seconds: UInt32(clamping: max(1, configuration.idleTimeoutSeconds)),
            thread_pool_size: UInt32(clamping: max(1, configuration.threads)),
            connection_memory_limit: max(4096, configuration.maxHeaderBytes),
            suspend_resume: 1,
            no_listen_socket: listener == nil ? 0 : 1)
        let started = address.withSockAddr { sockaddr in
            warden_mhd_start_server(
                sockaddr, address.family == .ipv6 ? 1 : 0, limits,
                { cls, connection, _, method, version, _, uploadDataSize, requestContext in
                    accessHandler(cls, connection, method, version, uploadDataSize, requestContext)
                },
                Unmanaged.passUnretained(context).toOpaque(),
                { cls, uri, _ in
                    // The raw target, before libmicrohttpd splits off the query: the request's context.
                    if let cls { Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue().open.withLock { $0 += 1 } }
                    return Unmanaged.passRetained(Exchange(target: uri.map { String(cString: $0) } ?? "")).toOpaque()
                },
                { cls, _, requestContext, _ in
                    // The answer is sent (or the connection gone).
                    guard let requestContext, let raw = requestContext.pointee else { return }
                    requestContext.pointee = nil
                    Unmanaged<Exchange>.fromOpaque(raw).release()
                    if let cls { Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue().open.withLock { $0 -= 1 } }
                },
                &failure)
        }
        guard let started else {
            if let listener { close(listener.fd) }
            switch failure {
            case EADDRINUSE: throw .addressInUse(address.display)
            case EADDRNOTAVAIL: throw .addressNotAvailable(address.display)
            case EACCES, EPERM: throw .permissionDenied(address.display)
            default: throw .startFailed(address.display, errno: failure)
            }
        }
        self.context = context
        self.daemon = Locked(DaemonHandle(pointer: started))
        self.host = address.host
        if let listener {
            self.port = listener.port
            var h2c: [H2CServer] = []
            let loops = max(1, configuration.threads)
            do {
                for _ in 0..<loops {
                    h2c.append(try H2CServer(
                        limits: H2CServer.Limits(connectionLimit: max(1, min(configuration.connectionLimit, configuration.maxHTTP2Connections) / loops),
                                                 idleTimeoutSeconds: configuration.idleTimeoutSeconds,
                                                 maxConcurrentStreams: configuration.maxConcurrentStreams,
                                                 maxHeaderBytes: configuration.maxHeaderBytes,
                                                 maxBodyBytes: configuration.maxBodyBytes,
                                                 bodyTimeoutSeconds: configuration.http2BodyTimeoutSeconds,
                                                 resetBudget: configuration.http2ResetBudget,
                                                 resetWindowSeconds: configuration.http2ResetWindowSeconds),
                        display: address.display, handler: handler))
                }
            } catch {
                h2c.forEach { $0.stop() }
                MHD_stop_daemon(started)
                close(listener.fd)
                throw error
            }
            let daemon = DaemonHandle(pointer: started)
            self.router = ConnectionRouter(
                listener: listener.fd, sniffTimeout: max(0.05, configuration.sniffTimeoutSeconds),
                maxPending: configuration.maxPendingConnections ?? configuration.connectionLimit,
                http1: { fd, address, length in
                    // libmicrohttpd closes the socket itself when it refuses it (connection limit).
                    _ = MHD_add_connection(daemon.pointer, fd, address, length)
                },
                http2: { [h2c, turn = Locked(0)] fd in
                    let loop = turn.withLock { current -> Int in defer { current = (current + 1) % h2c.count }; return current }
                    h2c[loop].add(fd)
                })
            self.h2c = h2c
        } else {
            let bound = Int(warden_mhd_bound_port(started))
            self.port = bound != 0 ? bound : Int(address.port)
            self.router = nil
            self.h2c = []
        }
        self.listener = listener
    }

    /// Requests handed to the handler and not answered yet.
    public var unanswered: Int {
        context.suspended.withLock { $0.count } + context.running.withLock { $0 } + h2cUnanswered
    }

    private var h2cUnanswered: Int { h2c.reduce(0) { $0 + $1.context.unanswered.withLock { $0.count } } }

    /// From now on every HTTP/1.1 answer says `Connection: close` and its connection closes once it is sent
    /// (RFC 9112 §9.6), while requests are still decided: a proxy's kept-alive connections end one by one,
    /// each after an answer, before `stop` closes what is left. Idempotent.
    public func beginDraining() {
        context.draining.withLock { $0 = true }
    }

    /// Stops accepting connections, waits up to `gracePeriod` seconds for the unanswered requests,
    /// answers those still waiting with 503, then closes every connection and joins the threads.
    /// Idempotent; the port is free again when this returns.
    public func stop(gracePeriod: Double = 0) {
        let handle = daemon.withLock { current -> DaemonHandle? in
            defer { current = nil }
            return current
        }
        guard let handle else { return }
        beginDraining()
        // New connections wait in the backlog (and are reset at the end) while the unanswered finish.
        // HTTP/2 clients are told by GOAWAY to open no new streams.
        let mhdListener = listener == nil ? MHD_quiesce_daemon(handle.pointer) : -1
        router?.stop()
        h2c.forEach { $0.goAway() }
        waitUntil(seconds: gracePeriod) { context.open.withLock { $0 } == 0 && h2cUnanswered == 0 }
        // Past the grace: requests still arriving on kept-alive connections are answered 503 at once, and
        // every waiting one is answered 503 now. libmicrohttpd must not be stopped with a connection still
        // suspended (it aborts), and stopping closes connections whose answer is still queued: let those
        // be sent (bounded).
        context.closing.withLock { $0 = true }
        for h2c in h2c {
            h2c.context.closing.withLock { $0 = true }
            for stream in h2c.context.unanswered.withLock({ Array($0.values) }) { stream.respond(.text("shutting down\n", status: 503)) }
        }
        waitUntil(seconds: 2) {
            for exchange in context.suspended.withLock({ Array($0.values) }) {
                HTTPResponder(exchange: exchange, context: context).respond(.text("shutting down\n", status: 503))
            }
            return context.open.withLock { $0 } == 0 && context.suspended.withLock { $0.isEmpty }
        }
        MHD_stop_daemon(handle.pointer)
        // The 503s queued to the HTTP/2 loop go out before its connections close (bounded).
        h2c.forEach { $0.stop() }
        // Only now: libmicrohttpd's threads may use the quiesced socket until they are joined.
        if mhdListener >= 0 { close(mhdListener) }
        if let listener { close(listener.fd) }
    }

    private func waitUntil(seconds: Double, _ done: () -> Bool) {
        var left = Int((seconds * 100).rounded(.up))
        while !done(), left > 0 {
            usleep(10_000)
            left -= 1
        }
    }

    deinit {
        stop()
    }
}

/// Answers one request; the first `respond` counts. Safe to call from any thread.
public struct HTTPResponder: Sendable {
    private enum Target: Sendable {
        case http1(Exchange, ServerContext)
        case http2(H2CStream)
    }

    private let target: Target

    fileprivate init(exchange: Exchange, context: ServerContext) {
        target = .http1(exchange, context)
    }

    init(stream: H2CStream) {
        target = .http2(stream)
    }

    /// Fires when the client is gone before the answer (an HTTP/2 stream reset, or its connection closed):
    /// work waiting on the client's behalf may stop. nil over HTTP/1.1 (libmicrohttpd does not report a
    /// suspended connection's end).
    public var cancellation: Cancellation? {
        switch target {
        case .http1: nil
        case .http2(let stream): stream.cancellation
        }
    }

    /// Sends `response` (unless an answer was already given).
    public func respond(_ response: HTTPServerResponse) {
        switch target {
        case .http1(let exchange, let context): Self.respond(response, exchange: exchange, context: context)
        case .http2(let stream): stream.respond(response)
        }
    }

    private static func respond(_ response: HTTPServerResponse, exchange: Exchange, context: ServerContext) {
        let connection = exchange.state.withLock { state -> OpaquePointer? in
            switch state {
            case .running:
                state = .answered(response)
                return nil
            case .suspended(let connection):
                state = .answered(response)
                return connection.pointer
            case .answered, .sent:
                return nil
            }
        }
        guard let connection else { return }
        // Removed from the registry before resuming: the resumed connection may finish at once.
        context.suspended.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(exchange)) }
        MHD_resume_connection(connection)
    }
}

/// The `struct MHD_Daemon *`; only `HTTPServer` touches it, under its mutex.
private struct DaemonHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// A suspended `struct MHD_Connection *`: valid until it is resumed (libmicrohttpd never closes a
/// suspended connection).
private struct ConnectionHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// Owned by `HTTPServer`; libmicrohttpd holds an unretained pointer to it while the daemon runs.
private final class ServerContext: Sendable {
    let handler: @Sendable (HTTPServerRequest, HTTPResponder) -> Void
    let maxBodyBytes: Int
    /// Requests whose connection is suspended, waiting for their answer.
    let suspended = Locked<[ObjectIdentifier: Exchange]>([:])
    /// Requests in the handler right now (not suspended yet).
    let running = Locked(0)
    /// Requests begun (request line read) and not finished (answer sent, or connection gone).
    let open = Locked(0)
    /// Set by `stop` once the grace period is over: new requests are answered 503 without the handler.
    let closing = Locked(false)
    /// Set by `beginDraining` (or `stop`): every HTTP/1.1 answer carries `Connection: close`, so a proxy
    /// stops reusing its kept-alive connections to this server instead of racing their close.
    let draining = Locked(false)

    init(handler: @escaping @Sendable (HTTPServerRequest, HTTPResponder) -> Void, maxBodyBytes: Int) {
        self.handler = handler
        self.maxBodyBytes = maxBodyBytes
    }
}

/// One request's context: made by the URI callback (it holds the raw target), released by the
/// completion callback.
private final class Exchange: Sendable {
    enum State: Sendable {
        /// Headers or body still arriving, or the handler running.
        case running
        /// The handler returned without an answer; the connection waits.
        case suspended(ConnectionHandle)
        case answered(HTTPServerResponse)
        case sent
    }

    let target: String
    let state = Locked<State>(.running)
    let progress = Locked<Progress>(Progress())

    struct Progress {
        var headersSeen = false
        var bodyBytes = 0
        var handled = false
    }

    init(target: String) { self.target = target }
}

/// libmicrohttpd's access handler: called when the headers arrive (only marked), once per body chunk
/// (counted, discarded), when the request is complete (handler runs), and again after a resume.
private func accessHandler(
    _ cls: UnsafeMutableRawPointer?, _ connection: OpaquePointer?,
    _ method: UnsafePointer<CChar>?, _ version: UnsafePointer<CChar>?,
    _ uploadDataSize: UnsafeMutablePointer<Int>?,
    _ requestContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> MHD_Result {
    guard let cls, let connection, let requestContext, let raw = requestContext.pointee else { return .NO }
    let context = Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue()
    let exchange = Unmanaged<Exchange>.fromOpaque(raw).takeUnretainedValue()
    let chunk = uploadDataSize?.pointee ?? 0
    let step = exchange.progress.withLock { p -> Int in
        if !p.headersSeen { p.headersSeen = true; return 0 }
        if chunk != 0 { p.bodyBytes += chunk; return p.bodyBytes > context.maxBodyBytes ? 2 : 1 }
        if p.handled { return 4 }
        p.handled = true
        return 3
    }
    switch step {
    case 0:
        return .YES
    case 1:
        uploadDataSize?.pointee = 0
        return .YES
    case 2:
        uploadDataSize?.pointee = 0
        exchange.state.withLock { $0 = .sent }
        return queue(.text("request body too large\n", status: 413), on: connection, context: context)
    case 3:
        if context.closing.withLock({ $0 }) {
            exchange.state.withLock { $0 = .sent }
            return queue(.text("shutting down\n", status: 503), on: connection, context: context)
        }
        let request = HTTPServerRequest(
            method: method.map { String(cString: $0) } ?? "",
            target: exchange.target,
            headers: headerFields(connection),
            peerAddress: "", peerPort: 0)
        var peer = request
        var buffer = [UInt8](repeating: 0, count: 64)
        var port: UInt16 = 0
        let known = buffer.withUnsafeMutableBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { warden_mhd_client_address(connection, $0.baseAddress, $0.count, &port) }
        }
        if known == 1 {
            peer.peerAddress = String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
            peer.peerPort = port
        }
        context.running.withLock { $0 += 1 }
        context.handler(peer, HTTPResponder(exchange: exchange, context: context))
        // Answered already: send now. Otherwise suspend under the lock, so `respond` (any thread) either
        // finds the answer slot before this or resumes a connection that is suspended.
        let ready = exchange.state.withLock { state -> HTTPServerResponse? in
            if case .answered(let response) = state {
                state = .sent
                return response
            }
            MHD_suspend_connection(connection)
            context.suspended.withLock { $0[ObjectIdentifier(exchange)] = exchange }
            state = .suspended(ConnectionHandle(pointer: connection))
            return nil
        }
        context.running.withLock { $0 -= 1 }
        guard let ready else { return .YES }
        return queue(ready, on: connection, context: context)
    default:
        // Resumed: the answer is in.
        let ready = exchange.state.withLock { state -> HTTPServerResponse? in
            guard case .answered(let response) = state else { return nil }
            state = .sent
            return response
        }
        guard let ready else { return .YES }
        return queue(ready, on: connection, context: context)
    }
}

private final class FieldCollector {
    var fields: [HTTPField] = []
}

private func headerFields(_ connection: OpaquePointer) -> [HTTPField] {
    let collector = FieldCollector()
    withExtendedLifetime(collector) {
        _ = MHD_get_connection_values(connection, .HEADER_KIND, { cls, _, key, value in
            guard let cls, let key else { return .YES }
            let collector = Unmanaged<FieldCollector>.fromOpaque(cls).takeUnretainedValue()
            collector.fields.append(HTTPField(String(cString: key).lowercased(), value.map { String(cString: $0) } ?? ""))
            return .YES
        }, Unmanaged.passUnretained(collector).toOpaque())
    }
    return collector.fields
}

private func queue(_ response: HTTPServerResponse, on connection: OpaquePointer, context: ServerContext) -> MHD_Result {
    var body = response.body
    let created = body.withUnsafeMutableBytes { bytes in
        MHD_create_response_from_buffer(bytes.count, bytes.baseAddress, .RESPMEM_MUST_COPY)
    }
    guard let created else { return .NO }
    defer { MHD_destroy_response(created) }
    for field in response.headers {
        // libmicrohttpd refuses an empty value; one space is the same field on the wire (RFC 9110 §5.5:
        // whitespace around a value is not part of it), so an empty field still reaches the client.
        _ = MHD_add_response_header(created, field.name, field.value.isEmpty ? " " : field.value)
    }
    // libmicrohttpd closes the connection after an answer that carries `Connection: close`.
    if context.draining.withLock({ $0 }) { _ = MHD_add_response_header(created, "Connection", "close") }
    let status = (100...599).contains(response.status) ? UInt32(response.status) : 500
    return MHD_queue_response(connection, status, created)
}
