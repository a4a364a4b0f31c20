internal import CWardenShims
import WardenSync
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The HTTP/2 side of an ``HTTPServer`` with `http2PriorKnowledge`: libh2o (Debian's 2.2, its own event
/// loop, `warden_h2o.c`) on one thread, fed the connections ``ConnectionRouter`` recognised by their
/// preface. Each request reaches the same handler as an HTTP/1.1 one, as the same ``HTTPServerRequest``;
/// answers may come from any thread (queued to the loop), so a check waiting for keys holds no thread.
final class H2CServer: Sendable {
    struct Limits {
        var connectionLimit: Int
        var idleTimeoutSeconds: Int
        var maxConcurrentStreams: Int
        var maxHeaderBytes: Int
        var maxBodyBytes: Int
        var bodyTimeoutSeconds: Double
        var resetBudget: Int
        var resetWindowSeconds: Double
    }

    let context: H2CContext
    private let server: H2OHandle

    init(limits: Limits, display: String, handler: @escaping @Sendable (HTTPServerRequest, HTTPResponder) -> Void) throws(HTTPServerError) {
        let context = H2CContext(handler: handler)
        let started = warden_h2o_start(
            warden_h2o_limits(connection_limit: UInt32(clamping: max(1, limits.connectionLimit)),
                              idle_timeout_seconds: UInt32(clamping: max(1, limits.idleTimeoutSeconds)),
                              max_concurrent_requests: UInt32(clamping: max(1, limits.maxConcurrentStreams)),
                              max_header_bytes: max(1024, limits.maxHeaderBytes),
                              max_body_bytes: max(0, limits.maxBodyBytes),
                              body_timeout_ms: UInt32(clamping: Int((max(0, limits.bodyTimeoutSeconds) * 1000).rounded())),
                              reset_budget: UInt32(clamping: max(0, limits.resetBudget)),
                              reset_window_ms: UInt32(clamping: Int((max(0.001, limits.resetWindowSeconds) * 1000).rounded()))),
            { cls, exchange, method, methodLength, target, targetLength, authority, authorityLength, fields, fieldCount, peer, port in
                guard let cls, let exchange else { return }
                Unmanaged<H2CContext>.fromOpaque(cls).takeUnretainedValue().receive(
                    exchange: exchange,
                    method: text(method, methodLength), target: text(target, targetLength),
                    authority: text(authority, authorityLength),
                    fields: UnsafeBufferPointer(start: fields, count: fieldCount),
                    peer: peer.map { String(cString: $0) } ?? "", port: port)
            },
            { cls, exchange in
                guard let cls, let exchange else { return }
                Unmanaged<H2CContext>.fromOpaque(cls).takeUnretainedValue().cancel(exchange: exchange)
            },
            Unmanaged.passUnretained(context).toOpaque())  // kept alive by `self.context`; the loop stops in deinit
        guard let started else { throw .startFailed(display, errno: errno) }
        self.context = context
        self.server = H2OHandle(pointer: started)
    }

    /// Takes ownership of `fd`; false when refused (past the connection limit, or stopped).
    @discardableResult
    func add(_ fd: Int32) -> Bool { warden_h2o_add_connection(server.pointer, fd) != 0 }

    /// Connections open now.
    var connections: Int { Int(warden_h2o_connections(server.pointer)) }

    /// GOAWAY on every connection: clients open no new streams, the open ones are still answered.
    func goAway() { warden_h2o_goaway(server.pointer) }

    /// Closes every connection and joins the loop thread.
    func stop() { warden_h2o_stop(server.pointer) }

    deinit { stop() }
}

/// The `struct warden_h2o_server *`; thread-safe by its own API.
private struct H2OHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// A `struct warden_h2o_exchange *` whose reference this side still holds.
private struct ExchangeHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

private func text(_ base: UnsafePointer<CChar>?, _ count: Int) -> String {
    guard let base, count > 0 else { return "" }
    return String(decoding: UnsafeRawBufferPointer(start: base, count: count), as: UTF8.self)
}

/// What the loop's callback needs: the handler, the unanswered streams (for the drain) and the closing flag.
final class H2CContext: Sendable {
    let handler: @Sendable (HTTPServerRequest, HTTPResponder) -> Void
    /// Streams handed to the handler and not answered yet (nor gone), by their exchange's address.
    let unanswered = Locked<[UInt: H2CStream]>([:])
    /// Set by `HTTPServer.stop` once the grace period is over: new requests are answered 503 without the handler.
    let closing = Locked(false)

    init(handler: @escaping @Sendable (HTTPServerRequest, HTTPResponder) -> Void) { self.handler = handler }

    /// On the loop thread, for every request within the size limits.
    fileprivate func receive(exchange: OpaquePointer, method: String, target: String, authority: String,
                             fields: UnsafeBufferPointer<warden_h2o_field>, peer: String, port: UInt16) {
        let stream = H2CStream(exchange: ExchangeHandle(pointer: exchange), context: self)
        if closing.withLock({ $0 }) {
            stream.respond(.text("shutting down\n", status: 503))
            return
        }
        var headers: [HTTPField] = []
        headers.reserveCapacity(fields.count + 1)
        for field in fields {
            headers.append(HTTPField(text(field.name, field.name_len).lowercased(), text(field.value, field.value_len)))
        }
        // The handler sees `host` where HTTP/1.1 carries it. libh2o drops a `host` field sent over HTTP/2
        // (`:authority` wins, RFC 9113 §8.3.1), so a client cannot have two.
        if !authority.isEmpty { headers.insert(HTTPField("host", authority), at: 0) }
        unanswered.withLock { $0[stream.key] = stream }
        handler(HTTPServerRequest(method: method, target: target, headers: headers, peerAddress: peer, peerPort: port),
                HTTPResponder(stream: stream))
    }

    /// On the loop thread: the stream is gone unanswered (reset by the client, or its connection closed).
    /// The exchange stays valid: the stream still holds its reference.
    fileprivate func cancel(exchange: OpaquePointer) {
        let stream = unanswered.withLock { $0.removeValue(forKey: UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(exchange)))) }
        stream?.cancellation.cancel()
    }
}

/// One HTTP/2 request waiting for its answer; the first `respond` counts.
final class H2CStream: Sendable {
    private let exchange: Locked<ExchangeHandle?>
    private let context: H2CContext
    /// Fires when the stream is gone before its answer (the client reset it, or the connection closed).
    let cancellation = Cancellation()
    /// The exchange's address: its key in `H2CContext.unanswered` (not reused while this holds its reference).
    fileprivate let key: UInt

    fileprivate init(exchange: ExchangeHandle, context: H2CContext) {
        self.exchange = Locked(exchange)
        self.context = context
        self.key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(exchange.pointer)))
    }

    func respond(_ response: HTTPServerResponse) {
        guard let handle = exchange.withLock({ current -> ExchangeHandle? in defer { current = nil }; return current }) else { return }
        // Unanswered until the answer is queued to the loop: a drain waits for `unanswered` to empty and then
        // queues STOP, which must not overtake this answer (the in-flight check would be cancelled, not sent).
        // Once queued, the loop may free the exchange and a new one reuse its address (the key): remove this
        // stream's entry only.
        defer { context.unanswered.withLock { if $0[key] === self { $0.removeValue(forKey: key) } } }
        // Names and values side by side in one buffer; the C side copies them before returning.
        var bytes: [UInt8] = []
        var spans: [(Int, Int, Int, Int)] = []
        for field in response.headers {
            let nameStart = bytes.count
            bytes.append(contentsOf: field.name.utf8)
            let valueStart = bytes.count
            bytes.append(contentsOf: field.value.utf8)
            spans.append((nameStart, valueStart - nameStart, valueStart, bytes.count - valueStart))
        }
        let status = Int32((100...599).contains(response.status) ? response.status : 500)
        bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                let fields = spans.map { span in
                    warden_h2o_field(name: chars.baseAddress.map { $0 + span.0 }, name_len: span.1,
                                     value: chars.baseAddress.map { $0 + span.2 }, value_len: span.3)
                }
                response.body.withUnsafeBufferPointer { body in
                    warden_h2o_respond(handle.pointer, status, fields, fields.count, body.baseAddress, body.count)
                }
            }
        }
    }

    deinit {
        // Never answered (a handler that dropped its responder): the stream is reset when it closes.
        if let handle = exchange.withLock({ $0 }) { warden_h2o_release(handle.pointer) }
    }
}
