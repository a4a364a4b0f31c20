internal import CGRPC
internal import CWardenShims
import Synchronization
import WardenSync
#if canImport(Glibc)
import Glibc
#endif

/// One pre-armed call of one completion queue, reused call after call.
///
/// gRPC core writes the out-parameters of `grpc_server_request_*call` when a call *arrives*, and
/// RECV_CLOSE_ON_SERVER writes `cancelled` when the batch completes, so they live in memory the slot
/// allocates once and frees in `deinit`. The slot's address (unretained) is the tag of both the request
/// and the send batch; its phase tells the two events apart.
///
/// Life of one use (`generation`): armed → (call arrives, handler runs) awaitingResponse → (respond, from
/// any thread) claimed → (send ops filled in) starting → (batch started) sending → (batch completes on the
/// queue thread) cleaned up, next generation, armed again. `claimed` and `starting` let shutdown wait out a
/// responder that is inside `start_batch` before the queue is shut down (gRPC asserts if a batch is
/// started on a shut-down queue).
///
/// A handler that returns without answering (it waits for something, e.g. keys) gets its call watched:
/// awaitingResponse → watchStarting → (a RECV_CLOSE_ON_SERVER batch started alone, tagged `watchTag`)
/// watching. If that batch completes while nobody has answered, the client cancelled (or its deadline
/// passed): the slot frees the call and re-arms at once, and runs the handler's `onCancel` action; a late
/// `respond` is ignored. If an answer comes first, its batch carries no second close op, and the use ends
/// when both batches have completed.
final class CallSlot: @unchecked Sendable {
    // @unchecked: the C buffers and `response` are touched by one thread at a time. The queue thread owns
    // them while armed and during arrival; exactly one `respond` wins the awaitingResponse → claimed
    // exchange (acquiring-and-releasing), fills them in and hands them to gRPC with the batch; the queue
    // thread owns them again once the batch completes. gRPC core orders that completion after the batch
    // start, but ThreadSanitizer cannot see inside libgrpc, so `respond` also publishes its writes with a
    // releasing store of `starting` before `start_batch`, which `complete` acquires.

    enum Kind {
        case registered(RegisteredMethod)
        /// Catches calls to methods nobody registered, which gRPC core would otherwise hold until the
        /// client's deadline, and answers them UNIMPLEMENTED.
        case unregistered
    }

    private enum Phase: UInt64 {
        case armed = 0, awaitingResponse = 1, claimed = 2, sending = 3, retired = 4, starting = 5
        case watchStarting = 6, watching = 7
    }

    private static func state(_ generation: UInt64, _ phase: Phase) -> UInt64 { generation << 3 | phase.rawValue }
    private static func generation(_ state: UInt64) -> UInt64 { state >> 3 }
    private static func phase(_ state: UInt64) -> Phase? { Phase(rawValue: state & 7) }

    private let kind: Kind
    private let server: ServerHandles
    private let queue: OpaquePointer

    private let state = Atomic<UInt64>(0)  // generation << 3 | phase

    private let call = UnsafeMutablePointer<OpaquePointer?>.allocate(capacity: 1)
    private let deadline = UnsafeMutablePointer<gpr_timespec>.allocate(capacity: 1)
    private let metadata = UnsafeMutablePointer<grpc_metadata_array>.allocate(capacity: 1)
    private let payload = UnsafeMutablePointer<UnsafeMutablePointer<grpc_byte_buffer>?>.allocate(capacity: 1)
    private let details = UnsafeMutablePointer<grpc_call_details>.allocate(capacity: 1)
    private let ops = UnsafeMutablePointer<grpc_op>.allocate(capacity: 4)
    private let cancelled = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    private let statusDetails = UnsafeMutablePointer<grpc_slice>.allocate(capacity: 1)
    private var response: UnsafeMutablePointer<grpc_byte_buffer>?
    private let watchOps = UnsafeMutablePointer<grpc_op>.allocate(capacity: 1)
    /// This use's batches: `watchOutstanding` (the watch batch started and has not completed) and
    /// `sendEnded` (the send batch completed, or failed to start). Each side sets its bit with one atomic
    /// read-modify-write and learns the other's in the same step, so exactly one of them — whichever ends
    /// last — finishes the use, whatever thread the responder runs on.
    private let batches = Atomic<Int>(0)
    private static let watchOutstanding = 1, sendEnded = 2
    /// What to run if this use's caller cancels: (generation, action).
    private let cancelAction = Locked<(generation: UInt64, action: @Sendable () -> Void)?>(nil)
    /// An action was registered since the last use ended (so `finished` clears it; most uses register none).
    private let hasCancelAction = Atomic<Bool>(false)

    init(kind: Kind, server: ServerHandles, queue: OpaquePointer) {
        self.kind = kind
        self.server = server
        self.queue = queue
        call.initialize(to: nil)
        deadline.initialize(to: gpr_timespec())
        metadata.initialize(to: grpc_metadata_array())
        grpc_metadata_array_init(metadata)
        payload.initialize(to: nil)
        details.initialize(to: grpc_call_details())
        grpc_call_details_init(details)
        ops.initialize(repeating: grpc_op(), count: 4)
        watchOps.initialize(to: grpc_op())
        cancelled.initialize(to: 0)
        statusDetails.initialize(to: grpc_empty_slice())
    }

    deinit {
        if let buffer = response { grpc_byte_buffer_destroy(buffer) }
        if let buffer = payload.pointee { grpc_byte_buffer_destroy(buffer) }
        if let handle = call.pointee { grpc_call_unref(handle) }
        grpc_slice_unref(statusDetails.pointee)
        grpc_metadata_array_destroy(metadata)
        grpc_call_details_destroy(details)
        call.deallocate()
        deadline.deallocate()
        metadata.deallocate()
        payload.deallocate()
        details.deallocate()
        ops.deallocate()
        watchOps.deallocate()
        cancelled.deallocate()
        statusDetails.deallocate()
    }

    private var tag: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }
    /// The watch batch's tag: the slot's address + 1 (objects are at least 8-byte aligned).
    private var watchTag: UnsafeMutableRawPointer { tag + 1 }

    /// The slot and whether the event is its watch batch, from a completion-queue tag.
    static func fromTag(_ tag: UnsafeMutableRawPointer) -> (slot: CallSlot, watch: Bool) {
        let raw = UInt(bitPattern: tag)
        let base = UnsafeMutableRawPointer(bitPattern: raw & ~1)!
        return (Unmanaged<CallSlot>.fromOpaque(base).takeUnretainedValue(), raw & 1 == 1)
    }

    // MARK: Queue thread

    /// Asks gRPC for the next call into this slot. Returns false if the server no longer takes requests.
    @discardableResult
    func arm() -> Bool {
        let generation = Self.generation(state.load(ordering: .relaxed))
        state.store(Self.state(generation, .armed), ordering: .releasing)
        let result: grpc_call_error
        switch kind {
        case .registered(let method):
            result = grpc_server_request_registered_call(
                server.server, method.handle, call, deadline, metadata, payload, queue, queue, tag)
        case .unregistered:
            result = grpc_server_request_call(server.server, call, details, metadata, queue, queue, tag)
        }
        guard result == GRPC_CALL_OK else {
            state.store(Self.state(generation, .retired), ordering: .releasing)
            return false
        }
        return true
    }

    /// A completion-queue event for this slot's tag.
    func complete(success: Bool) {
        let current = state.load(ordering: .acquiring)
        let generation = Self.generation(current)
        switch Self.phase(current) {
        case .armed: arrived(success: success, generation: generation)
        case .starting, .sending:
            sendEnded(generation: generation)
        default: break
        }
    }

    /// The watch batch completed: the call has ended, answered or not.
    func watchCompleted() {
        let before = batches.bitwiseAnd(~Self.watchOutstanding, ordering: .acquiringAndReleasing).oldValue
        let current = state.load(ordering: .acquiring)
        let generation = Self.generation(current)
        if before & Self.sendEnded != 0 {
            finished(generation: generation)
            return
        }
        // Ended with nobody answering: the client cancelled it, or its deadline passed. Claiming it keeps a
        // late responder out; the call is freed and the slot re-armed now, not when the handler gives up.
        guard Self.phase(current) == .watching, state.compareExchange(
            expected: current, desired: Self.state(generation, .claimed), ordering: .acquiringAndReleasing
        ).exchanged else { return }  // an answer was claimed first: its batch's completion ends the use
        let action = cancelAction.withLock { slot -> (@Sendable () -> Void)? in
            defer { slot = nil }
            return slot?.generation == generation ? slot?.action : nil
        }
        finished(generation: generation)
        action?()
    }

    /// Starts watching use `generation` for cancellation, if its handler returned without answering.
    private func watchForCancellation(generation: UInt64) {
        guard state.compareExchange(
            expected: Self.state(generation, .awaitingResponse), desired: Self.state(generation, .watchStarting),
            ordering: .acquiringAndReleasing
        ).exchanged else { return }
        batches.bitwiseOr(Self.watchOutstanding, ordering: .acquiringAndReleasing)
        watchOps[0] = closeOp()
        guard grpc_call_start_batch(call.pointee, watchOps, 1, watchTag, nil) == GRPC_CALL_OK else {
            // Not expected on a live call; the answer's batch then carries the close op as usual (no
            // responder runs meanwhile: it waits out watchStarting).
            batches.bitwiseAnd(~Self.watchOutstanding, ordering: .acquiringAndReleasing)
            state.store(Self.state(generation, .awaitingResponse), ordering: .releasing)
            return
        }
        state.store(Self.state(generation, .watching), ordering: .releasing)
    }

    /// Registers what to run if use `generation`'s caller cancels before it is answered.
    func onCancel(generation: UInt64, _ action: @escaping @Sendable () -> Void) {
        cancelAction.withLock { $0 = (generation, action) }
        hasCancelAction.store(true, ordering: .releasing)
    }

    /// Whether use `generation` has been answered (or has ended).
    func isAnswered(generation: UInt64) -> Bool {
        let current = state.load(ordering: .acquiring)
        guard Self.generation(current) == generation else { return true }
        switch Self.phase(current) {
        case .awaitingResponse, .watchStarting, .watching: return false
        default: return true
        }
    }

    private func arrived(success: Bool, generation: UInt64) {
        guard success, let handle = call.pointee else {
            // The server is shutting down: the request was failed, not filled.
            state.store(Self.state(generation, .retired), ordering: .releasing)
            return
        }
        switch kind {
        case .registered(let method):
            let request = takeRequest()
            state.store(Self.state(generation, .awaitingResponse), ordering: .releasing)
            guard let request else {
                respond(generation: generation, .failure(.invalidArgument, "missing or unreadable request message"))
                return
            }
            method.handler(UnaryCall(
                method: method.path, request: request, peer: Self.peer(of: handle), deadline: remainingNanos(),
                metadata: method.captured.isEmpty ? [:] : capturedMetadata(method.captured), slot: self, generation: generation))
            watchForCancellation(generation: generation)
        case .unregistered:
            var length = 0
            let start = warden_grpc_call_details_method(details, &length)
            let path = String(decoding: UnsafeBufferPointer(start: start, count: length), as: UTF8.self)
            state.store(Self.state(generation, .awaitingResponse), ordering: .releasing)
            respond(generation: generation, .failure(.unimplemented, "unknown method \(path)"))
        }
    }

    /// The entries of the call's request metadata whose keys are in `names`, values validated (printable
    /// ASCII, at most `UnaryCall.maxMetadataValueBytes`).
    private func capturedMetadata(_ names: [[UInt8]]) -> [String: String] {
        var out: [String: String] = [:]
        let array = metadata.pointee
        guard let entries = array.metadata else { return out }
        for i in 0..<array.count {
            var key = entries[i].key, value = entries[i].value
            let keyBytes = UnsafeBufferPointer(start: warden_grpc_slice_start(&key), count: warden_grpc_slice_length(&key))
            // The length first: most metadata is none of the names (callgrind: ~500 instructions per call
            // comparing every entry with every name).
            guard let name = names.first(where: { $0.count == keyBytes.count && $0.elementsEqual(keyBytes) }) else { continue }
            let text = String(decoding: name, as: UTF8.self)
            let n = warden_grpc_slice_length(&value)
            guard out[text] == nil, n <= UnaryCall.maxMetadataValueBytes else { continue }
            let valueBytes = UnsafeBufferPointer(start: warden_grpc_slice_start(&value), count: n)
            guard valueBytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { continue }
            out[text] = String(decoding: valueBytes, as: UTF8.self)
        }
        return out
    }

    /// Nanoseconds until the client's deadline (Envoy sends its ext_authz timeout as `grpc-timeout`), or nil
    /// when the call has none.
    private func remainingNanos() -> UInt64? {
        let due = gpr_convert_clock_type(deadline.pointee, GPR_CLOCK_MONOTONIC)
        let now = gpr_now(GPR_CLOCK_MONOTONIC)
        if gpr_time_cmp(due, gpr_inf_future(GPR_CLOCK_MONOTONIC)) == 0 { return nil }
        let left = gpr_time_sub(due, now)
        if left.tv_sec < 0 { return 0 }
        if left.tv_sec > 86_400 { return nil }
        return UInt64(left.tv_sec) * 1_000_000_000 + UInt64(max(0, left.tv_nsec))
    }

    /// The request message, or nil when the client sent none (or gRPC cannot read it, e.g. an unknown compression).
    private func takeRequest() -> [UInt8]? {
        guard let buffer = payload.pointee else { return nil }
        payload.pointee = nil
        defer { grpc_byte_buffer_destroy(buffer) }
        let length = grpc_byte_buffer_length(buffer)
        if length == 0 { return [] }
        var readable = true
        let bytes = [UInt8](unsafeUninitializedCapacity: length) { storage, count in
            let copied = warden_grpc_byte_buffer_copy(buffer, storage.baseAddress, length)
            readable = copied == length
            count = readable ? length : 0
        }
        return readable ? bytes : nil
    }

    private static func peer(of call: OpaquePointer) -> String {
        guard let raw = grpc_call_get_peer(call) else { return "" }
        defer { gpr_free(raw) }
        return String(cString: raw)
    }

    private func finished(generation: UInt64) {
        if let buffer = response {
            grpc_byte_buffer_destroy(buffer)
            response = nil
        }
        grpc_slice_unref(statusDetails.pointee)
        statusDetails.pointee = grpc_empty_slice()
        grpc_metadata_array_destroy(metadata)
        grpc_metadata_array_init(metadata)
        if case .unregistered = kind {
            grpc_call_details_destroy(details)
            grpc_call_details_init(details)
        }
        if let handle = call.pointee {
            grpc_call_unref(handle)
            call.pointee = nil
        }
        batches.store(0, ordering: .releasing)
        if hasCancelAction.exchange(false, ordering: .acquiringAndReleasing) {
            cancelAction.withLock { $0 = nil }  // releases what the action holds (the waiting check's state)
        }
        let next = generation &+ 1
        if server.stopping.load(ordering: .acquiring) {
            state.store(Self.state(next, .retired), ordering: .releasing)
        } else {
            state.store(Self.state(next, .armed), ordering: .relaxed)
            arm()
        }
    }

    // MARK: Any thread

    /// Starts the send batch for use `generation`; ignored unless that use still awaits its response.
    func respond(generation: UInt64, _ result: UnaryResult) {
        // The close op goes with the answer unless the watch batch already carries it.
        var withClose = true
        while true {
            let current = state.load(ordering: .acquiring)
            guard Self.generation(current) == generation else { return }
            switch Self.phase(current) {
            case .awaitingResponse: withClose = true
            case .watching: withClose = false
            case .watchStarting:
                sched_yield()  // the queue thread is inside start_batch for the watch; a few µs at most
                continue
            default: return
            }
            if state.compareExchange(expected: current, desired: Self.state(generation, .claimed),
                                     ordering: .acquiringAndReleasing).exchanged { break }
        }

        let count: Int
        switch result {
        case .response(let bytes):
            response = bytes.withUnsafeBufferPointer { warden_grpc_byte_buffer_from_copy($0.baseAddress, $0.count) }
            ops[0] = grpc_op()
            ops[0].op = GRPC_OP_SEND_INITIAL_METADATA
            ops[1] = grpc_op()
            ops[1].op = GRPC_OP_SEND_MESSAGE
            ops[1].data.send_message.send_message = response
            ops[2] = statusOp(GRPC_STATUS_OK, details: nil)
            ops[3] = closeOp()
            count = withClose ? 4 : 3
        case .failure(let code, let message):
            var text = message
            statusDetails.pointee = text.withUTF8 { utf8 in
                utf8.withMemoryRebound(to: CChar.self) { grpc_slice_from_copied_buffer($0.baseAddress, $0.count) }
            }
            // Initial metadata goes too: with a status-only batch a 1.51 server never sent the status
            // (the client waited for its deadline), as grpc++ also always pairs them.
            ops[0] = grpc_op()
            ops[0].op = GRPC_OP_SEND_INITIAL_METADATA
            ops[1] = statusOp(grpc_status_code(rawValue: code.rawValue), details: statusDetails)
            ops[2] = closeOp()
            count = withClose ? 3 : 2
        }
        // Publishes `response`, `ops` and `statusDetails` to the queue thread that handles the completion; the
        // slot's memory is not touched after this store (that thread may reuse it as soon as the batch ends).
        let handle = call.pointee
        state.store(Self.state(generation, .starting), ordering: .releasing)
        let started = grpc_call_start_batch(handle, ops, count, tag, nil)
        guard started == GRPC_CALL_OK else {
            // Not expected for these batches on a live call; release the call so the slot is not lost
            // (if the watch is outstanding, its completion does that).
            sendEnded(generation: generation)
            return
        }
        // Fails harmlessly if the batch already completed and the slot moved on.
        _ = state.compareExchange(
            expected: Self.state(generation, .starting), desired: Self.state(generation, .sending),
            ordering: .releasing)
    }

    /// The send batch of use `generation` completed or failed to start: the use ends now, unless the watch
    /// batch is still outstanding (then its completion ends it).
    private func sendEnded(generation: UInt64) {
        let before = batches.bitwiseOr(Self.sendEnded, ordering: .acquiringAndReleasing).oldValue
        if before & Self.watchOutstanding == 0 { finished(generation: generation) }
    }

    /// During shutdown: answers a call whose handler has not responded yet (after the grace period, or
    /// when the client has gone and the server finished shutting down without it).
    func abandon() {
        let current = state.load(ordering: .acquiring)
        guard [.awaitingResponse, .watchStarting, .watching].contains(Self.phase(current)) else { return }
        respond(generation: Self.generation(current), .failure(.unavailable, "server shutting down"))
    }

    /// True while a responder is between winning the call and `grpc_call_start_batch` returning.
    var isStartingBatch: Bool {
        let phase = Self.phase(state.load(ordering: .acquiring))
        return phase == .claimed || phase == .starting || phase == .watchStarting
    }

    /// True from the moment a responder wins the call until the queue thread has seen its batch complete
    /// (gRPC core has then handed the whole answer to the transport, which writes it before it closes).
    var isAnswering: Bool {
        let phase = Self.phase(state.load(ordering: .acquiring))
        return phase == .claimed || phase == .starting || phase == .sending
    }

    private func statusOp(_ status: grpc_status_code, details: UnsafeMutablePointer<grpc_slice>?) -> grpc_op {
        var op = grpc_op()
        op.op = GRPC_OP_SEND_STATUS_FROM_SERVER
        op.data.send_status_from_server.status = status
        op.data.send_status_from_server.status_details = details
        op.data.send_status_from_server.trailing_metadata_count = 0
        return op
    }

    private func closeOp() -> grpc_op {
        var op = grpc_op()
        op.op = GRPC_OP_RECV_CLOSE_ON_SERVER
        op.data.recv_close_on_server.cancelled = cancelled
        return op
    }
}
