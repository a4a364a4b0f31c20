/// A method registered with one gRPC core server.
struct RegisteredMethod: @unchecked Sendable {
    // @unchecked: `handle` is an opaque token of the server (never dereferenced), immutable after
    // registration and valid until the server is destroyed.
    let path: String
    let handle: UnsafeMutableRawPointer
    let handler: UnaryHandler
    /// `GRPCServerConfiguration.capturedMetadata`, as bytes.
    var captured: [[UInt8]] = []
}
