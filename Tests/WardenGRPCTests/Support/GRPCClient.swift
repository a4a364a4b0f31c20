import WardenSync
import CGRPC
import CWardenShims
import Foundation

/// A real gRPC client for the server under test, on gRPC core (the C library grpcio and grpc-swift v0.x
/// wrap): HTTP/2, TLS and status handling are the library's own, not a test double. Each `start` opens a
/// fresh channel (as a fresh client process would) and closes it once every call has finished.
struct GRPCClient {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Server certificate trust and, for mTLS, the client's own identity (PEM file paths). The server name
    /// checked is `localhost`.
    struct TLS {
        var ca: String
        var certificate: String? = nil
        var key: String? = nil
    }

    /// One call's outcome as the client saw it.
    struct Outcome: Equatable, CustomStringConvertible {
        var code: String
        var details: String
        var payload: [UInt8]
        /// The full payload size when the client was asked to truncate payloads.
        var size: Int? = nil
        var description: String { "\(code) '\(details)' \(size ?? payload.count) bytes" }
    }

    /// A call to send: method path and request bytes; `streamUnary` sends zero or one message on a client stream.
    struct Call {
        var method: String
        var payload: [UInt8] = []
        var timeout: Double = 10
        var streamUnary = false
        /// Request metadata (lower-case keys) sent with the call's headers.
        var metadata: [(String, String)] = []
    }

    var target: String
    var tls: TLS? = nil

    /// Started calls; `finish()` waits for them.
    final class Running: @unchecked Sendable {
        // @unchecked: `finish` is called once, by the test's thread; the calls synchronise themselves.
        private let channel: Channel
        private let calls: [PendingCall]
        private let truncate: Bool

        fileprivate init(channel: Channel, calls: [PendingCall], truncate: Bool) {
            self.channel = channel
            self.calls = calls
            self.truncate = truncate
        }

        func finish() -> [Outcome] {
            let outcomes = calls.map { call in
                var outcome = call.wait()
                if truncate, outcome.code == "OK" {
                    outcome.size = outcome.payload.count
                    outcome.payload = Array(outcome.payload.prefix(8))
                }
                return outcome
            }
            channel.close()
            return outcomes
        }
    }

    /// Starts every call at once; with `truncate` only the first 8 payload bytes and the size are kept.
    func start(_ calls: [Call], truncate: Bool = false) throws -> Running {
        let channel = try Channel(target: target, tls: tls)
        do {
            let pending = try calls.map { call in
                try PendingCall(channel, method: call.method, payload: call.payload, timeout: call.timeout,
                                sendsMessage: !(call.streamUnary && call.payload.isEmpty), metadata: call.metadata)
            }
            return Running(channel: channel, calls: pending, truncate: truncate)
        } catch {
            channel.close()
            throw error
        }
    }

    static func outcomes(_ running: Running) -> [Outcome] { running.finish() }

    /// Sends all calls concurrently and returns their outcomes in order.
    func call(_ calls: [Call]) throws -> [Outcome] {
        Self.outcomes(try start(calls))
    }

    func call(_ method: String, _ payload: [UInt8] = [], timeout: Double = 10) throws -> Outcome {
        try call([Call(method: method, payload: payload, timeout: timeout)])[0]
    }

    /// Echo calls from many threads, each with a unique payload; a wrong or swapped response is an error.
    final class Stress: @unchecked Sendable {
        // @unchecked: `results` is behind its lock; the threads are joined through `done` before it is read.
        private let channel: Channel
        private let results = Locked((ok: 0, errors: [String]()))
        private let done = DispatchGroup()
        private let maxErrors: Int

        fileprivate init(channel: Channel, method: String, threads: Int, perThread: Int, stopOnError: Bool) {
            self.channel = channel
            maxErrors = threads
            let deadline = Date().addingTimeInterval(50)
            for t in 0..<threads {
                done.enter()
                let thread = Thread { [self] in
                    defer { done.leave() }
                    for i in 0..<perThread where Date() < deadline {
                        let request = Array("\(t):\(i):".utf8) + (0..<(i % 97)).map { _ in UInt8.random(in: 0...255) }
                        let outcome: Outcome
                        do {
                            outcome = try PendingCall(channel, method: method, payload: request, timeout: 20, sendsMessage: true).wait()
                        } catch {
                            outcome = Outcome(code: "CLIENT", details: "\(error)", payload: [])
                        }
                        let failure: String? = outcome.code != "OK" ? "\(t):\(i) \(outcome.code) \(outcome.details)"
                            : outcome.payload != request ? "mismatch \(t):\(i)" : nil
                        results.withLock { r in
                            if let failure { r.errors.append(failure) } else { r.ok += 1 }
                        }
                        if failure != nil && (stopOnError || outcome.code == "CLIENT") { return }
                    }
                }
                thread.start()
            }
        }

        /// Waits for every thread; returns (correct responses, first errors).
        func finish() -> (ok: Int, errors: [String]) {
            done.wait()
            channel.close()
            return results.withLock { ($0.ok, Array($0.errors.prefix(maxErrors))) }
        }
    }

    /// `threads` × `perThread` echo calls; returns (correct responses, first errors).
    func stress(method: String, threads: Int, perThread: Int) throws -> (ok: Int, errors: [String]) {
        Self.stressResult(try startStress(method: method, threads: threads, perThread: perThread))
    }

    /// Starts `threads` × `perThread` echo calls; with `stopOnError` each thread stops at its first failure.
    func startStress(method: String, threads: Int, perThread: Int, stopOnError: Bool = false) throws -> Stress {
        Stress(channel: try Channel(target: target, tls: tls), method: method, threads: threads, perThread: perThread,
               stopOnError: stopOnError)
    }

    static func stressResult(_ stress: Stress) -> (ok: Int, errors: [String]) { stress.finish() }
}

/// A channel and its completion queue, drained by one thread that completes each call's batch.
private final class Channel: @unchecked Sendable {
    // @unchecked: the C handles are thread-safe in gRPC core; `closed` is behind its lock.
    let channel: OpaquePointer
    let queue: OpaquePointer
    /// Orders each call's setup before its completion for ThreadSanitizer (see `PendingCall`); counts handoffs.
    let handoff = Locked(0)
    private let drained = DispatchSemaphore(value: 0)
    private let closed = Locked(false)

    init(target: String, tls: GRPCClient.TLS?) throws {
        grpc_init()
        queue = grpc_completion_queue_create_for_next(nil)
        let credentials: OpaquePointer
        var strings: [UnsafeMutablePointer<CChar>] = []
        defer { strings.forEach { free($0) } }
        func c(_ s: String) -> UnsafeMutablePointer<CChar> {
            let p = strdup(s)!
            strings.append(p)
            return p
        }
        var args: [grpc_arg] = []
        func integer(_ key: String, _ value: Int32) {
            var arg = grpc_arg()
            arg.type = GRPC_ARG_INTEGER
            arg.key = c(key)
            arg.value.integer = value
            args.append(arg)
        }
        integer("grpc.max_send_message_length", -1)
        integer("grpc.max_receive_message_length", -1)
        integer("grpc.enable_retries", 0)
        if let tls {
            func pem(_ path: String) throws -> UnsafeMutablePointer<CChar> {
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw GRPCClient.Failure(description: "cannot read \(path)")
                }
                return c(text)
            }
            let roots = try pem(tls.ca)
            if let certificate = tls.certificate, let key = tls.key {
                var pair = grpc_ssl_pem_key_cert_pair(private_key: try pem(key), cert_chain: try pem(certificate))
                credentials = grpc_ssl_credentials_create(roots, &pair, nil, nil)
            } else {
                credentials = grpc_ssl_credentials_create(roots, nil, nil, nil)
            }
            var arg = grpc_arg()
            arg.type = GRPC_ARG_STRING
            arg.key = c("grpc.ssl_target_name_override")
            arg.value.string = c("localhost")
            args.append(arg)
        } else {
            credentials = grpc_insecure_credentials_create()
        }
        channel = args.withUnsafeMutableBufferPointer { buffer in
            var channelArgs = grpc_channel_args(num_args: buffer.count, args: buffer.baseAddress)
            return grpc_channel_create(target, credentials, &channelArgs)
        }
        grpc_channel_credentials_release(credentials)

        Thread { [self] in
            while true {
                let event = grpc_completion_queue_next(queue, gpr_inf_future(GPR_CLOCK_REALTIME), nil)
                if event.type == GRPC_QUEUE_SHUTDOWN { break }
                if event.type == GRPC_OP_COMPLETE, let tag = event.tag {
                    handoff.withLock { $0 += 1 }
                    Unmanaged<PendingCall>.fromOpaque(tag).takeRetainedValue().complete(success: event.success != 0)
                }
            }
            drained.signal()
        }.start()
    }

    /// Destroys the channel and the queue; every call started on it must have completed.
    func close() {
        guard closed.withLock({ c in defer { c = true }; return !c }) else { return }
        grpc_channel_destroy(channel)
        grpc_completion_queue_shutdown(queue)
        drained.wait()
        grpc_completion_queue_destroy(queue)
        grpc_shutdown()
    }
}

/// One unary call: one batch with every client op, completed on the channel's queue thread.
private final class PendingCall: @unchecked Sendable {
    // @unchecked: the call is filled in before its batch starts, written by gRPC until the batch completes,
    // read on the queue thread, and freed after `done`. gRPC core orders the completion after the start, but
    // ThreadSanitizer cannot see inside libgrpc (nor the tag, the pointer to this object, passing through
    // it), so the channel's `handoff` lock is taken after the call is filled in, by the queue thread before
    // it touches the call, and around `outcome`.
    private let call: OpaquePointer
    private let ops = UnsafeMutablePointer<grpc_op>.allocate(capacity: 6)
    /// The metadata sent (slices owned here, freed in deinit).
    private let sentMetadata: UnsafeMutablePointer<grpc_metadata>
    private let sentMetadataCount: Int
    private let initialMetadata = UnsafeMutablePointer<grpc_metadata_array>.allocate(capacity: 1)
    private let trailingMetadata = UnsafeMutablePointer<grpc_metadata_array>.allocate(capacity: 1)
    private let received = UnsafeMutablePointer<UnsafeMutablePointer<grpc_byte_buffer>?>.allocate(capacity: 1)
    private let status = UnsafeMutablePointer<grpc_status_code>.allocate(capacity: 1)
    private let details = UnsafeMutablePointer<grpc_slice>.allocate(capacity: 1)
    private let sent: UnsafeMutablePointer<grpc_byte_buffer>?
    private let done = DispatchSemaphore(value: 0)
    private let handoff: Locked<Int>
    private var outcome: GRPCClient.Outcome?

    init(_ channel: Channel, method: String, payload: [UInt8], timeout: Double, sendsMessage: Bool,
         metadata: [(String, String)] = []) throws {
        sentMetadataCount = metadata.count
        sentMetadata = UnsafeMutablePointer<grpc_metadata>.allocate(capacity: max(1, metadata.count))
        for (i, (key, value)) in metadata.enumerated() {
            var entry = grpc_metadata()
            entry.key = grpc_slice_from_copied_string(key)
            entry.value = grpc_slice_from_copied_string(value)
            (sentMetadata + i).initialize(to: entry)
        }
        let path = grpc_slice_from_copied_string(method)
        defer { grpc_slice_unref(path) }
        let deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_micros(Int64(timeout * 1e6), GPR_TIMESPAN))
        // 0xFFFF: GRPC_PROPAGATE_DEFAULTS (a macro Swift does not import); there is no parent call.
        guard let call = grpc_channel_create_call(channel.channel, nil, 0xFFFF, channel.queue, path, nil, deadline, nil) else {
            throw GRPCClient.Failure(description: "grpc_channel_create_call failed")
        }
        self.call = call
        handoff = channel.handoff
        sent = sendsMessage ? payload.withUnsafeBufferPointer { warden_grpc_byte_buffer_from_copy($0.baseAddress, $0.count) } : nil
        initialMetadata.initialize(to: grpc_metadata_array())
        grpc_metadata_array_init(initialMetadata)
        trailingMetadata.initialize(to: grpc_metadata_array())
        grpc_metadata_array_init(trailingMetadata)
        received.initialize(to: nil)
        status.initialize(to: GRPC_STATUS_UNKNOWN)
        details.initialize(to: grpc_empty_slice())

        var count = 0
        func add(_ type: grpc_op_type, _ fill: (inout grpc_op) -> Void = { _ in }) {
            var op = grpc_op()
            op.op = type
            fill(&op)
            ops[count] = op
            count += 1
        }
        add(GRPC_OP_SEND_INITIAL_METADATA) {
            $0.data.send_initial_metadata.count = self.sentMetadataCount
            $0.data.send_initial_metadata.metadata = self.sentMetadataCount > 0 ? self.sentMetadata : nil
        }
        if let sent { add(GRPC_OP_SEND_MESSAGE) { $0.data.send_message.send_message = sent } }
        add(GRPC_OP_SEND_CLOSE_FROM_CLIENT)
        add(GRPC_OP_RECV_INITIAL_METADATA) { $0.data.recv_initial_metadata.recv_initial_metadata = self.initialMetadata }
        add(GRPC_OP_RECV_MESSAGE) { $0.data.recv_message.recv_message = self.received }
        add(GRPC_OP_RECV_STATUS_ON_CLIENT) {
            $0.data.recv_status_on_client.trailing_metadata = self.trailingMetadata
            $0.data.recv_status_on_client.status = self.status
            $0.data.recv_status_on_client.status_details = self.details
        }
        handoff.withLock { $0 += 1 }  // publishes the above to the queue thread
        // The queue thread takes this reference back when the batch completes.
        let tag = Unmanaged.passRetained(self).toOpaque()
        let result = grpc_call_start_batch(call, ops, count, tag, nil)
        guard result == GRPC_CALL_OK else {
            Unmanaged<PendingCall>.fromOpaque(tag).release()
            throw GRPCClient.Failure(description: "grpc_call_start_batch: \(result.rawValue)")
        }
    }

    deinit {
        for i in 0..<sentMetadataCount {
            grpc_slice_unref(sentMetadata[i].key)
            grpc_slice_unref(sentMetadata[i].value)
        }
        sentMetadata.deallocate()
        if let sent { grpc_byte_buffer_destroy(sent) }
        if let buffer = received.pointee { grpc_byte_buffer_destroy(buffer) }
        grpc_slice_unref(details.pointee)
        grpc_metadata_array_destroy(initialMetadata)
        grpc_metadata_array_destroy(trailingMetadata)
        grpc_call_unref(call)
        ops.deallocate()
        initialMetadata.deallocate()
        trailingMetadata.deallocate()
        received.deallocate()
        status.deallocate()
        details.deallocate()
    }

    /// On the queue thread: the batch is done, the status and message are ours to read.
    /// (The queue thread has taken `handoff` just before.)
    func complete(success: Bool) {
        var payload: [UInt8] = []
        if let buffer = received.pointee {
            let length = grpc_byte_buffer_length(buffer)
            payload = [UInt8](repeating: 0, count: length)
            let copied = payload.withUnsafeMutableBufferPointer { warden_grpc_byte_buffer_copy(buffer, $0.baseAddress, length) }
            if copied != length { payload = [] }
        }
        let text = String(decoding: UnsafeBufferPointer(start: warden_grpc_slice_start(details), count: warden_grpc_slice_length(details)),
                          as: UTF8.self)
        let code = success ? Self.names[Int(status.pointee.rawValue)] ?? "CODE_\(status.pointee.rawValue)" : "BATCH_FAILED"
        let outcome = GRPCClient.Outcome(code: code, details: text, payload: code == "OK" ? payload : [])
        handoff.withLock { $0 += 1; self.outcome = outcome }
        done.signal()
    }

    func wait() -> GRPCClient.Outcome {
        done.wait()
        return handoff.withLock { _ in outcome! }
    }

    /// grpc_status_code names, as grpcio prints them.
    static let names = [
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
        "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
        "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    ].enumerated().reduce(into: [Int: String]()) { $0[$1.offset] = $1.element }
}
