internal import CGRPC
internal import CWardenShims
import WardenSync
#if canImport(Glibc)
import Glibc
#endif

/// A unary gRPC server over gRPC core: registered methods with byte payloads in and out.
///
/// Each of `threads` completion queues has its own thread and `callsPerThread` calls armed in advance; a
/// handler runs on the queue thread that received its call (no thread per request). A request without a
/// message (or one gRPC cannot decompress) is answered INVALID_ARGUMENT without calling the handler; a
/// method without a handler UNIMPLEMENTED; a message above `maxReceiveMessageBytes` RESOURCE_EXHAUSTED.
///
/// ```swift
/// let server = try GRPCServer(configuration: .init(listen: "0.0.0.0:9001"), handlers: [
///     "/pkg.Service/Method": { call in call.respond(.response(call.request)) },
/// ])
/// server.start()
/// // ...
/// server.shutdown(gracePeriod: 10)
/// ```
public final class GRPCServer: Sendable {
    /// The bound port (the chosen one when `listen` asked for port 0).
    public let port: Int

    private let handles: ServerHandles
    private let workers: [CompletionQueueWorker]
    private let lifecycle = Locked<Lifecycle>(.created)

    private enum Lifecycle {
        case created
        case started([pthread_t])
        case stopped
    }

    /// Creates the server, registers `handlers` by full method path (`/package.Service/Method`) and binds
    /// the listener; nothing is served until `start()`.
    /// - Throws: `GRPCServerError` for an invalid path or setting, unreadable TLS files, or a failed bind
    ///   (including a port already in use: SO_REUSEPORT is disabled).
    public init(configuration: GRPCServerConfiguration, handlers: [String: UnaryHandler]) throws(GRPCServerError) {
        try Self.validate(configuration, paths: handlers.keys)
        GRPCRuntime.initialize()
        let credentials = try Self.credentials(for: configuration.tls)
        defer { grpc_server_credentials_release(credentials) }

        let server = Self.makeServer(maxReceiveMessageBytes: configuration.maxReceiveMessageBytes,
                                     maxConcurrentStreams: configuration.maxConcurrentStreams)
        var methods: [RegisteredMethod] = []
        for (path, handler) in handlers.sorted(by: { $0.key < $1.key }) {
            guard let handle = grpc_server_register_method(
                server, path, nil, GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0)
            else {
                grpc_server_destroy(server)
                throw .invalidMethodName(path)
            }
            methods.append(RegisteredMethod(path: path, handle: handle, handler: handler,
                                            captured: configuration.capturedMetadata.sorted().map { Array($0.utf8) }))
        }

        let shutdownQueue = grpc_completion_queue_create_for_pluck(nil)!
        grpc_server_register_completion_queue(server, shutdownQueue, nil)
        let handles = ServerHandles(server: server, shutdownQueue: shutdownQueue)
        var workers: [CompletionQueueWorker] = []
        for _ in 0..<configuration.threads {
            let queue = grpc_completion_queue_create_for_next(nil)!
            grpc_server_register_completion_queue(server, queue, nil)
            workers.append(CompletionQueueWorker(
                server: handles, queue: queue, methods: methods, callsPerThread: configuration.callsPerThread))
        }

        let port = grpc_server_add_http2_port(server, configuration.listen, credentials)
        guard port > 0 else {
            // No listener was added, so the unstarted server may be destroyed without a shutdown.
            grpc_server_destroy(server)
            for queue in workers.map(\.queue) + [shutdownQueue] {
                grpc_completion_queue_shutdown(queue)
                grpc_completion_queue_destroy(queue)
            }
            throw .bindFailed(address: configuration.listen)
        }
        self.port = Int(port)
        self.handles = handles
        self.workers = workers
    }

    deinit {
        shutdown(gracePeriod: 0)
    }

    /// Starts listening and serving: one thread per completion queue. Calling it again has no effect.
    public func start() {
        lifecycle.withLock { state in
            guard case .created = state else { return }
            grpc_server_start(handles.server)
            let threads = workers.enumerated().map { index, worker in
                spawnThread {
                    warden_grpc_name_current_thread("warden-cq-\(index)")
                    worker.run()
                }
            }
            state = .started(threads)
        }
    }

    /// Stops accepting calls and waits up to `gracePeriod` seconds for in-flight calls, including handlers
    /// that respond later from another thread; then lets answers already given finish going out (at most
    /// 2 s more), cancels the rest, stops the threads and frees gRPC's objects. Returns when all of that is
    /// done. Idempotent; concurrent callers wait for the first.
    public func shutdown(gracePeriod: Double) {
        lifecycle.withLock { state in
            let threads: [pthread_t]
            switch state {
            case .stopped: return
            case .created: threads = []
            case .started(let running): threads = running
            }
            let tag = UnsafeMutableRawPointer(handles.shutdownQueue)
            grpc_server_shutdown_and_notify(handles.server, handles.shutdownQueue, tag)
            let deadline = gpr_time_add(
                gpr_now(GPR_CLOCK_MONOTONIC),
                gpr_time_from_millis(Int64(max(0, gracePeriod) * 1000), GPR_TIMESPAN))
            if grpc_completion_queue_pluck(handles.shutdownQueue, tag, deadline, nil).type == GRPC_QUEUE_TIMEOUT,
               !finishAnswersInFlight(tag: tag)
            {
                grpc_server_cancel_all_calls(handles.server)
                abandonUnansweredCalls()
                _ = grpc_completion_queue_pluck(handles.shutdownQueue, tag, gpr_inf_future(GPR_CLOCK_REALTIME), nil)
            }
            handles.stopping.store(true, ordering: .releasing)
            // The server can finish shutting down while a handler still holds a call whose client has gone:
            // answer those too, and let responders already inside start_batch return, so no batch is
            // started on a queue after it is shut down.
            abandonUnansweredCalls()
            for slot in workers.lazy.flatMap(\.slots) {
                while slot.isStartingBatch { sched_yield() }
            }
            for worker in workers { grpc_completion_queue_shutdown(worker.queue) }
            if threads.isEmpty {
                for worker in workers { worker.drainUnserved() }
            }
            for thread in threads { pthread_join(thread, nil) }
            grpc_server_destroy(handles.server)
            for worker in workers { grpc_completion_queue_destroy(worker.queue) }
            grpc_completion_queue_shutdown(handles.shutdownQueue)
            grpc_completion_queue_destroy(handles.shutdownQueue)
            state = .stopped
        }
    }

    /// How long, after the grace period, answers already given may take to reach the transport before
    /// `shutdown` cancels them with the calls nobody answered.
    static let answerFlushLimit = 2.0

    /// After the grace period: waits until every answer already given has been handed to the transport
    /// (its batch completed), at most `answerFlushLimit`, so cancelling the remaining calls (which closes the
    /// connections) does not cut those answers off mid-flight. Returns true if the server finished shutting
    /// down meanwhile (the shutdown notification for `tag` was consumed).
    private func finishAnswersInFlight(tag: UnsafeMutableRawPointer) -> Bool {
        let limit = gpr_time_add(
            gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(Int64(Self.answerFlushLimit * 1000), GPR_TIMESPAN))
        while workers.contains(where: { $0.slots.contains(where: \.isAnswering) }),
              gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), limit) < 0
        {
            let poll = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(5, GPR_TIMESPAN))
            if grpc_completion_queue_pluck(handles.shutdownQueue, tag, poll, nil).type == GRPC_OP_COMPLETE { return true }
        }
        return false
    }

    private func abandonUnansweredCalls() {
        for worker in workers {
            for slot in worker.slots { slot.abandon() }
        }
    }

    // MARK: Setup

    private static func validate(
        _ configuration: GRPCServerConfiguration, paths: Dictionary<String, UnaryHandler>.Keys
    ) throws(GRPCServerError) {
        if configuration.threads < 1 || configuration.threads > 1024 {
            throw .invalidSetting(name: "threads", value: configuration.threads)
        }
        if configuration.callsPerThread < 1 || configuration.callsPerThread > 65536 {
            throw .invalidSetting(name: "callsPerThread", value: configuration.callsPerThread)
        }
        if configuration.maxConcurrentStreams < 1 || configuration.maxConcurrentStreams > 1 << 20 {
            throw .invalidSetting(name: "maxConcurrentStreams", value: configuration.maxConcurrentStreams)
        }
        if configuration.maxReceiveMessageBytes < 0 || configuration.maxReceiveMessageBytes > Int(Int32.max) {
            throw .invalidSetting(name: "maxReceiveMessageBytes", value: configuration.maxReceiveMessageBytes)
        }
        for path in paths {
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0].isEmpty, !parts[1].isEmpty, !parts[2].isEmpty else {
                throw .invalidMethodName(path)
            }
        }
    }

    private static func makeServer(maxReceiveMessageBytes: Int, maxConcurrentStreams: Int) -> OpaquePointer {
        let settings: [(String, Int32)] = [
            (GRPC_ARG_ALLOW_REUSEPORT, 0),  // a taken port must fail instead of silently sharing it
            (GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, Int32(maxReceiveMessageBytes)),
            (GRPC_ARG_MAX_CONCURRENT_STREAMS, Int32(maxConcurrentStreams)),
        ]
        let keys = settings.map { strdup($0.0) }
        defer { keys.forEach { free($0) } }
        var args = zip(keys, settings).map { key, setting in
            var arg = grpc_arg()
            arg.type = GRPC_ARG_INTEGER
            arg.key = key
            arg.value.integer = setting.1
            return arg
        }
        return args.withUnsafeMutableBufferPointer { buffer in
            var channelArgs = grpc_channel_args(num_args: buffer.count, args: buffer.baseAddress)
            return grpc_server_create(&channelArgs, nil)
        }
    }
}
