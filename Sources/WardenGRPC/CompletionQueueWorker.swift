internal import CGRPC
#if canImport(Glibc)
import Glibc
#endif

/// One completion queue, its armed call slots and the thread that drains it.
final class CompletionQueueWorker: @unchecked Sendable {
    // @unchecked: `queue` is a thread-safe gRPC object; `slots` is immutable after init.
    let queue: OpaquePointer
    let slots: [CallSlot]

    init(server: ServerHandles, queue: OpaquePointer, methods: [RegisteredMethod], callsPerThread: Int) {
        self.queue = queue
        var slots: [CallSlot] = []
        // Spread the armed calls over the methods (at least one each); a call beyond them waits in gRPC.
        let perMethod = max(1, callsPerThread / max(1, methods.count))
        for method in methods {
            for _ in 0..<perMethod {
                slots.append(CallSlot(kind: .registered(method), server: server, queue: queue))
            }
        }
        for _ in 0..<min(4, callsPerThread) {
            slots.append(CallSlot(kind: .unregistered, server: server, queue: queue))
        }
        self.slots = slots
    }

    /// Arms every slot, then serves events until the queue is shut down and drained.
    func run() {
        for slot in slots { slot.arm() }
        while true {
            let event = grpc_completion_queue_next(queue, gpr_inf_future(GPR_CLOCK_REALTIME), nil)
            if event.type == GRPC_QUEUE_SHUTDOWN { return }
            if event.type == GRPC_OP_COMPLETE, let tag = event.tag {
                let (slot, watch) = CallSlot.fromTag(tag)
                if watch { slot.watchCompleted() } else { slot.complete(success: event.success != 0) }
            }
        }
    }

    /// Drains a queue no thread ever served (server created but never started) so it can be destroyed.
    func drainUnserved() {
        while grpc_completion_queue_next(queue, gpr_inf_future(GPR_CLOCK_REALTIME), nil).type != GRPC_QUEUE_SHUTDOWN {}
    }
}

/// Starts a joinable POSIX thread (Foundation's `Thread` cannot be joined).
func spawnThread(_ body: @escaping @Sendable () -> Void) -> pthread_t {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, { raw in
        let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
        box.body()
        return nil
    }, context)
    precondition(result == 0, "pthread_create failed: \(result)")
    return thread
}
