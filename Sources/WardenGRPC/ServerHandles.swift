internal import CGRPC
import Synchronization

/// The gRPC core objects one server owns, shared with its queue threads and call slots.
final class ServerHandles: @unchecked Sendable {
    // @unchecked: gRPC core's server and completion-queue objects are thread-safe; the pointers are
    // immutable and destroyed only by `GRPCServer.shutdown` after every queue thread has been joined.
    let server: OpaquePointer
    /// A pluck queue registered with the server, used only for the shutdown notification.
    let shutdownQueue: OpaquePointer
    /// Set once the server has shut down: finished calls are no longer re-armed.
    let stopping = Atomic<Bool>(false)

    init(server: OpaquePointer, shutdownQueue: OpaquePointer) {
        self.server = server
        self.shutdownQueue = shutdownQueue
    }
}
