/// The trace context a request arrives with, read from its headers as Envoy's tracers send them: W3C
/// `traceparent`/`tracestate` (Envoy's OpenTelemetry tracer), else B3 single (`b3`), else B3 multi
/// (`x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled`, `x-b3-flags`; Envoy's Zipkin tracer). Only well-formed
/// values are taken; a malformed header is ignored as if absent.
public struct TraceContext: Sendable, Equatable {
    public var traceID: TraceID
    /// The caller's span (Envoy's ext_authz span): Warden's span's parent. nil for a trace Warden starts.
    public var parentSpanID: SpanID?
    /// The caller's sampling decision; nil when it deferred it (B3 without a sampling state).
    public var sampled: Bool?
    /// W3C `tracestate`, validated (§3.3), carried onto the span; empty when absent or malformed.
    public var traceState: String
    /// Read from a W3C `traceparent` (which a `tracestate` may accompany), not from B3 headers.
    public var isW3C: Bool

    public init(traceID: TraceID, parentSpanID: SpanID?, sampled: Bool?, traceState: String = "", isW3C: Bool = false) {
        self.traceID = traceID
        self.parentSpanID = parentSpanID
        self.sampled = sampled
        self.traceState = traceState
        self.isW3C = isW3C
    }

    /// What the headers say: a context, or none. `lookup` returns a header's value by lower-case name
    /// (repeated headers joined with `,`, as ext_authz sends them).
    /// - Parameter traceState: read `tracestate` too; without it a W3C context's `traceState` is empty and
    ///   the caller reads it with `traceState(_:)` only if it needs it (for a sampled span).
    public static func extract(traceState: Bool = true, _ lookup: (String) -> String?) -> Extracted {
        if let tp = lookup("traceparent") {
            if var context = parseTraceparent(tp) {
                if traceState { context.traceState = Self.traceState(lookup) }
                return .context(context)
            }
        }
        if let b3 = lookup("b3") {
            if let e = parseB3Single(Substring(b3)) { return e }
        }
        // B3 multi (openzipkin/b3-propagation, "Multiple Headers"): `X-B3-Sampled` 1 accepts, 0 denies (`true`
        // and `false` accepted leniently), absent defers; `X-B3-Flags: 1` is debug, which implies accept. The
        // sampling state may travel without ids (malformed ids are as absent): then it decides for the trace
        // Warden starts. (Without any context that is five lookups of absent headers; CheckTracer.begin has their cost.)
        var ids: (TraceID, SpanID)?
        if let t = lookup("x-b3-traceid"), let s = lookup("x-b3-spanid"),
           let traceID = TraceID(hex: Substring(t)), let spanID = SpanID(hex: Substring(s)) {
            ids = (traceID, spanID)
        }
        var sampled: Bool?
        switch lookup("x-b3-sampled") {
        case "1"?, "true"?: sampled = true
        case "0"?, "false"?: sampled = false
        default: sampled = nil
        }
        if sampled != true, lookup("x-b3-flags") == "1" { sampled = true }  // debug implies accept
        if let (traceID, spanID) = ids { return .context(TraceContext(traceID: traceID, parentSpanID: spanID, sampled: sampled)) }
        switch sampled {
        case true?: return .sampledWithoutIDs
        case false?: return .notSampled
        case nil: return .none
        }
    }

    /// The request's `tracestate` if valid, else empty.
    public static func traceState(_ lookup: (String) -> String?) -> String {
        lookup("tracestate").map { validTraceState($0) ? $0 : "" } ?? ""
    }

    /// The outcome of reading the headers.
    public enum Extracted: Sendable, Equatable {
        case context(TraceContext)
        /// No ids, but the caller decided not to sample (`b3: 0`, `x-b3-sampled: 0` alone).
        case notSampled
        /// No ids, but the caller asked for sampling (`b3: 1` or `d` alone, `x-b3-sampled: 1` or
        /// `x-b3-flags: 1` alone): a new trace, sampled.
        case sampledWithoutIDs
        case none
    }

    /// `version-traceid-parentid-flags` (W3C Trace Context §3.2): version 00 is exactly 55 characters;
    /// a later version (not ff) may append `-…` after them, parsed as 00. Lower-case hex; no all-zero ids.
    /// Parsed on the bytes in place (callgrind: the Substring version cost ~12k instructions per check).
    static func parseTraceparent(_ s: String) -> TraceContext? {
        var text = s
        return text.withUTF8 { u -> TraceContext? in
            guard u.count >= 55, u[2] == UInt8(ascii: "-"), u[35] == UInt8(ascii: "-"), u[52] == UInt8(ascii: "-"),
                  let version = Hex.uint64(u[0..<2]), version != 0xFF else { return nil }
            if version == 0 { guard u.count == 55 else { return nil } } else if u.count > 55, u[55] != UInt8(ascii: "-") { return nil }
            guard let traceID = TraceID(hexBytes: u[3..<35]), let parent = SpanID(hexBytes: u[36..<52]),
                  let flags = Hex.uint64(u[53..<55]) else { return nil }
            return TraceContext(traceID: traceID, parentSpanID: parent, sampled: flags & 1 == 1, isW3C: true)
        }
    }

    /// `b3: {TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]]` or `b3: {SamplingState}`. nil: malformed.
    static func parseB3Single(_ s: Substring) -> Extracted? {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        func state(_ p: Substring) -> Bool?? {
            switch p {
            case "1", "d": return .some(true)
            case "0": return .some(false)
            default: return .none
            }
        }
        if parts.count == 1 {
            guard let st = state(parts[0]) else { return nil }
            return st == true ? .sampledWithoutIDs : .notSampled
        }
        guard parts.count <= 4, let traceID = TraceID(hex: parts[0]), let spanID = SpanID(hex: parts[1]) else { return nil }
        var sampled: Bool?
        if parts.count >= 3 {
            guard let st = state(parts[2]) else { return nil }
            sampled = st
        }
        if parts.count == 4, SpanID(hex: parts[3]) == nil { return nil }
        return .context(TraceContext(traceID: traceID, parentSpanID: spanID, sampled: sampled))
    }

    /// W3C `tracestate` (§3.3): at most 32 comma-separated `key=value` members (empty ones allowed), a key
    /// of `[a-z0-9_*/@-]` (starting with a letter or digit, at most 256 bytes), a value of 1–256 printable
    /// ASCII bytes other than `,` and `=`, not ending in a space; at most 512 bytes in all (the size we keep).
    static func validTraceState(_ s: String) -> Bool {
        guard s.utf8.count <= 512 else { return false }
        var members = 0
        for raw in s.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            var m = raw[...]
            while m.first == 0x20 || m.first == 0x09 { m = m.dropFirst() }
            while m.last == 0x20 || m.last == 0x09 { m = m.dropLast() }
            if m.isEmpty { continue }
            members += 1
            guard members <= 32, let eq = m.firstIndex(of: UInt8(ascii: "=")) else { return false }
            let key = m[..<eq], value = m[m.index(after: eq)...]
            guard let k0 = key.first, (k0 >= 0x61 && k0 <= 0x7A) || (k0 >= 0x30 && k0 <= 0x39), key.count <= 256,
                  key.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || "_-*/@".utf8.contains($0) }),
                  !value.isEmpty, value.count <= 256, value.last != 0x20,
                  value.allSatisfy({ $0 >= 0x20 && $0 <= 0x7E && $0 != UInt8(ascii: ",") && $0 != UInt8(ascii: "=") })
            else { return false }
        }
        return true
    }
}
