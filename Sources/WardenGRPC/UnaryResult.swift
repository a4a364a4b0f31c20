/// The answer to one unary call.
public enum UnaryResult: Sendable {
    /// Status OK with this response message (serialized bytes, any length including zero).
    case response([UInt8])
    /// A non-OK status with a message (sent as `grpc-message`); no response message is sent.
    /// Passing `.ok` here sends status OK without a message, which clients treat as an error for unary calls.
    case failure(GRPCStatusCode, String)
}

/// Handles one call of a registered method. Runs on a completion-queue thread: answer quickly, or keep
/// the `UnaryCall` and call `respond` later from any thread.
public typealias UnaryHandler = @Sendable (UnaryCall) -> Void
