import Dispatch
/// One received unary call of a registered method.
///
/// `respond` must be called exactly once, from any thread: the handler may answer inline or keep the call
/// and answer later (for example after a key refetch) without blocking its completion-queue thread.
/// Later calls of `respond` are ignored. If the last reference goes away without a response, the call is
/// answered INTERNAL ("handler did not respond"). During shutdown, calls still unanswered when the grace
/// period ends are cancelled (once answers already given have gone out) and a late `respond` is ignored.
public final class UnaryCall: Sendable {
    /// The full method path, e.g. `/envoy.service.auth.v3.Authorization/Check`.
    public let method: String
    /// The request message as received (serialized bytes, possibly empty).
    public let request: [UInt8]
    /// The peer address as gRPC core reports it, e.g. `ipv4:127.0.0.1:53412`.
    public let peer: String
    /// The client's deadline as a monotonic time (`DispatchTime.now().uptimeNanoseconds` scale), or nil
    /// when the client set none.
    public let deadline: UInt64?
    /// The request metadata named in `GRPCServerConfiguration.capturedMetadata` that the call carried
    /// (lower-case names; a repeated entry keeps its first value).
    public let metadata: [String: String]
    /// Longest captured metadata value; longer ones are skipped.
    public static let maxMetadataValueBytes = 1024

    private let slot: CallSlot
    private let generation: UInt64

    init(method: String, request: [UInt8], peer: String, deadline remaining: UInt64?, metadata: [String: String] = [:],
         slot: CallSlot, generation: UInt64) {
        self.method = method
        self.metadata = metadata
        self.request = request
        self.peer = peer
        deadline = remaining.map { DispatchTime.now().uptimeNanoseconds &+ $0 }
        self.slot = slot
        self.generation = generation
    }

    /// Sends the answer (status OK with a message, or an error status). Thread-safe; only the first call counts.
    public func respond(_ result: UnaryResult) {
        slot.respond(generation: generation, result)
    }

    /// Registers `action` to run (on a completion-queue thread) if the client cancels the call — or its
    /// deadline passes — before it is answered; the call's resources are freed at that moment and a later
    /// `respond` is ignored. Only the last registration counts. Watching starts when the handler returns
    /// without answering, so a call answered inside its handler costs nothing extra.
    public func onCancel(_ action: @escaping @Sendable () -> Void) {
        slot.onCancel(generation: generation, action)
    }

    /// Whether the call has been answered (or has ended).
    public var isAnswered: Bool { slot.isAnswered(generation: generation) }

    deinit {
        slot.respond(generation: generation, .failure(.internalError, "handler did not respond"))
    }
}
