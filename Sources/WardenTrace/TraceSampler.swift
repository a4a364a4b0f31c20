/// Parent-based sampling: a caller's decision is followed; without one (no context, or B3 that deferred),
/// the trace id decides with probability `ratio` (OpenTelemetry's TraceIdRatioBased: the id's low 63 bits
/// below ratio × 2⁶³, so every service sampling at the same ratio agrees on a trace).
public struct TraceSampler: Sendable {
    public let ratio: Double
    private let bound: UInt64

    public init(ratio: Double) {
        self.ratio = min(1, max(0, ratio))
        bound = self.ratio >= 1 ? UInt64.max : UInt64(self.ratio * Double(UInt64(1) << 63))
    }

    public func sampled(_ traceID: TraceID, parent: Bool?) -> Bool {
        if let parent { return parent }
        if ratio >= 1 { return true }
        return (traceID.low & 0x7FFF_FFFF_FFFF_FFFF) < bound
    }
}
