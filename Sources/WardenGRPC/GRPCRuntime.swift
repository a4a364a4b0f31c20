internal import CGRPC

/// gRPC core's process-wide initialization: `grpc_init` once, on first use, never undone (gRPC's own threads
/// then live as long as the process; a later `grpc_shutdown` would only matter to leak checkers).
enum GRPCRuntime {
    private static let initialized: Bool = {
        grpc_init()
        return true
    }()

    static func initialize() {
        precondition(initialized)
    }
}
