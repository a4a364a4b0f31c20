import Glibc
import WardenJWT
import WardenPolicy
import WardenTrace

/// The trace identity of one check: the context it arrived with (or the trace Warden started) and the
/// id of Warden's own span. Set on `DecisionRecord.trace` when tracing is on and a context exists.
public struct TraceIdentity: Sendable, Equatable {
    public let traceID: TraceID
    /// Warden's span for this check.
    public let spanID: SpanID
    /// The caller's span (Envoy's ext_authz span); nil when Warden started the trace.
    public let parentSpanID: SpanID?
    /// Whether the span is exported.
    public let sampled: Bool
    public let traceState: String
}

/// Tracing of the Check path (`--otlp-endpoint`): reads the request's trace context, follows its sampling
/// decision (else samples new traces at `--trace-sample-ratio`), and renders each sampled check's record as
/// one SERVER span, a child of the caller's span, handed to the sink after the check was answered.
///
/// Attributes follow OpenTelemetry's semantic conventions where one exists (`http.request.method`,
/// `url.path`, `server.address`, `server.port`, `enduser.id`) plus `warden.*`. A span never carries a token,
/// a header value, a query string or a `--redact-claims` value: the path is cut at `?` and scrubbed like the
/// log, reasons are given as codes only, and `enduser.id` (the principal, only with `--trace-enduser-id`)
/// is left out when redaction would change it.
public final class CheckTracer: Sendable {
    public static let spanName = CheckSpan.name

    let sampler: TraceSampler
    let sink: any SpanSink
    let endUserID: Bool
    let redactClaims: Set<String>
    let maxTokenBytes: Int
    /// CLOCK_REALTIME − CLOCK_MONOTONIC in nanoseconds, taken once: spans' wall-clock times come from the
    /// record's monotonic stamps.
    let wallOffset: Int64

    public init(sampler: TraceSampler, sink: any SpanSink, endUserID: Bool = false, redactClaims: Set<String> = [],
                maxTokenBytes: Int = 8192) {
        self.sampler = sampler
        self.sink = sink
        self.endUserID = endUserID
        self.redactClaims = redactClaims
        self.maxTokenBytes = maxTokenBytes
        var real = timespec(), mono = timespec()
        clock_gettime(CLOCK_REALTIME, &real)
        clock_gettime(CLOCK_MONOTONIC, &mono)
        wallOffset = (Int64(real.tv_sec) - Int64(mono.tv_sec)) * 1_000_000_000 + (Int64(real.tv_nsec) - Int64(mono.tv_nsec))
    }

    /// The header names a trace context is read from (a front door copies these from its own call).
    public static let contextHeaders: Set<String> = ["traceparent", "tracestate", "b3", "x-b3-traceid", "x-b3-spanid",
                                                     "x-b3-parentspanid", "x-b3-sampled", "x-b3-flags"]

    /// The check's trace identity: nil when the request has no context and is not sampled (nothing to join,
    /// nothing to export). The call's own context (`call`: Envoy's ext_authz span, from the gRPC metadata)
    /// wins over the request's headers (the downstream client's span, when Envoy itself does not trace).
    func begin(_ request: RequestAttributes, call: [String: String] = [:]) -> TraceIdentity? {
        var fromCall = !call.isEmpty
        var extracted = fromCall ? TraceContext.extract(traceState: false) { call[$0] } : .none
        if case .none = extracted {
            fromCall = false
            extracted = TraceContext.extract(traceState: false) { request.headers.exactValue(forKey: $0) }
        }
        switch extracted {
        case .context(let c):
            let sampled = sampler.sampled(c.traceID, parent: c.sampled)
            // `tracestate` only goes onto an exported span (and only with a W3C traceparent): read it only
            // then (callgrind: the lookup of an absent header is ~600 instructions per unsampled check).
            let state = !sampled || !c.isW3C ? ""
                : fromCall ? TraceContext.traceState { call[$0] } : TraceContext.traceState { request.headers.exactValue(forKey: $0) }
            return TraceIdentity(traceID: c.traceID, spanID: .random(), parentSpanID: c.parentSpanID, sampled: sampled, traceState: state)
        case .sampledWithoutIDs:
            return TraceIdentity(traceID: .random(), spanID: .random(), parentSpanID: nil, sampled: true, traceState: "")
        case .notSampled:
            return nil
        case .none:
            guard sampler.ratio > 0 else { return nil }
            let id = TraceID.random()
            guard sampler.sampled(id, parent: nil) else { return nil }
            return TraceIdentity(traceID: id, spanID: .random(), parentSpanID: nil, sampled: true, traceState: "")
        }
    }

    /// Renders a sampled check's span and hands it to the sink.
    func finish(_ result: CheckResult, request: RequestAttributes) {
        guard let trace = result.record.trace, trace.sampled else { return }
        sink.submit(span(result, request: request, trace: trace))
    }

    func span(_ result: CheckResult, request r: RequestAttributes, trace: TraceIdentity) -> CheckSpan {
        let record = result.record
        let redactor = redactClaims.isEmpty ? nil
            : LogRedactor(claims: redactClaims, tokens: DecisionLog.tokensForRedaction(record, r, maxTokenBytes: maxTokenBytes))
        func wall(_ monotonic: UInt64) -> UInt64 { UInt64(truncatingIfNeeded: Int64(bitPattern: monotonic) &+ wallOffset) }
        // The path up to `?` or `#`, cut on the bytes (both are ASCII).
        var full = r.path.isEmpty ? r.headers[":path"] ?? "" : r.path
        let path = full.withUTF8 { u -> String? in
            for i in u.indices where u[i] == UInt8(ascii: "?") || u[i] == UInt8(ascii: "#") {
                return String(decoding: UnsafeBufferPointer(rebasing: u[..<i]), as: UTF8.self)
            }
            return nil
        } ?? full
        let host = r.host.isEmpty ? r.headers[":authority"] ?? "" : r.host
        let (address, port) = Self.splitHostPort(host)
        var endUser: String?
        if endUserID, let principal = record.principal, redactor.map({ $0.scrub(principal) == principal }) ?? true {
            endUser = principal
        }
        let (method, methodOriginal) = Self.semconvMethod(r.method.isEmpty ? r.headers[":method"] ?? "" : r.method)
        let error = record.reasonCode.unavailability
        return CheckSpan(traceID: trace.traceID, spanID: trace.spanID, parentSpanID: trace.parentSpanID, traceState: trace.traceState,
                         startUnixNanos: wall(record.receivedAt), endUnixNanos: wall(record.decidedAt),
                         method: method, methodOriginal: methodOriginal.map { CheckSpan.truncated(redactor?.scrub($0) ?? $0) },
                         path: CheckSpan.truncated(redactor?.scrub(path) ?? path, percentEncoded: true),
                         serverAddress: address.isEmpty ? "" : CheckSpan.truncated(redactor?.scrub(address) ?? address), serverPort: port,
                         allowed: result.decision.isAllowed, status: result.decision.httpStatus, reasonCode: record.reasonCode.rawValue,
                         policy: record.policy.map { CheckSpan.truncated($0) }, generation: record.generation,
                         dryRun: record.dryRun.map { ($0.would, $0.reasonCode.rawValue) }, endUserID: endUser.map { CheckSpan.truncated($0) },
                         waits: waits(record, wall), error: error)
    }

    /// The steps of the check that took time, each an event at its end: every jwt_authn document's key
    /// wait, the Istio token step's, then the token exchange (none for a check answered from cached keys).
    /// The record keeps each wait's total and end, not its start: events, not child spans.
    func waits(_ record: DecisionRecord, _ wall: (UInt64) -> UInt64) -> [CheckSpan.Wait] {
        var waits: [CheckSpan.Wait] = []
        // Keys (a cold source or an unknown-kid refetch) or an introspection answer (an opaque token).
        func keys(_ nanos: UInt64, endedAt: UInt64, tokens: [TokenTrace], step: CheckSpan.Wait.Step) {
            guard nanos > 0 else { return }
            let introspected = tokens.contains { t in
                if t.jwt?.introspectedBy != nil { return true }
                switch t.error {
                case .introspectionFailed?, .tokenInactive?: return true
                default: return false
                }
            }
            waits.append(CheckSpan.Wait(kind: introspected ? .introspection : .jwks, step: step,
                                        unixNanos: wall(endedAt > 0 ? endedAt : record.decidedAt), milliseconds: Double(nanos) / 1e6))
        }
        for step in record.jwtAuthn { keys(step.keyWaitNanos, endedAt: step.keyWaitEndedAt, tokens: step.tokens, step: .jwtAuthn) }
        keys(record.keyWaitNanos, endedAt: record.keyWaitEndedAt, tokens: record.tokens, step: .istio)
        if let x = record.exchange {
            let outcome: CheckSpan.Wait.ExchangeOutcome?
            switch x.result {
            case .exchanged(let cached): outcome = cached ? .cached : .exchanged
            case .refused: outcome = .refused
            case .unavailable: outcome = .unavailable
            // Refused before any call (a rule on a connection fact the front door did not report): nothing
            // was waited for; the span's reason code says why.
            case .connectionFactUnreported: outcome = nil
            }
            if let outcome {
                waits.append(CheckSpan.Wait(exchange: outcome, unixNanos: wall(x.endedAt > 0 ? x.endedAt : record.decidedAt),
                                            milliseconds: Double(x.waitNanos) / 1e6))
            }
        }
        return waits
    }

    /// OpenTelemetry's `http.request.method`: a method "known" to the conventions (RFC 9110's and PATCH,
    /// RFC 5789; case-sensitive) as is, any other `_OTHER`, with the method as sent in
    /// `http.request.method_original` (conditionally required when it differs).
    static func semconvMethod(_ method: String) -> (String, original: String?) {
        switch method {
        case "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE": return (method, nil)
        case "": return ("_OTHER", nil)
        default: return ("_OTHER", method)
        }
    }

    /// `host:port` → (host, port); `[v6]:port` → (v6, port); no port → (host, nil). On the bytes: every
    /// delimiter is ASCII (callgrind: the Character version cost ~6k instructions per check).
    static func splitHostPort(_ host: String) -> (String, Int?) {
        var text = host
        return text.withUTF8 { u -> (String, Int?) in
            func port(_ digits: Slice<UnsafeBufferPointer<UInt8>>) -> Int? {
                guard !digits.isEmpty, digits.count <= 5 else { return nil }
                var p = 0
                for d in digits {
                    guard d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") else { return nil }
                    p = p * 10 + Int(d - UInt8(ascii: "0"))
                }
                return p <= 65535 ? p : nil
            }
            if u.first == UInt8(ascii: "["), let close = u.firstIndex(of: UInt8(ascii: "]")) {
                let address = String(decoding: u[1..<close], as: UTF8.self)
                if close + 1 < u.count, u[close + 1] == UInt8(ascii: ":"), let p = port(u[(close + 2)...]) { return (address, p) }
                return (address, nil)
            }
            var colon = -1
            for i in u.indices where u[i] == UInt8(ascii: ":") {
                guard colon < 0 else { return (host, nil) }  // two colons: an IPv6 address without brackets
                colon = i
            }
            if colon >= 0, let p = port(u[(colon + 1)...]) { return (String(decoding: u[..<colon], as: UTF8.self), p) }
            return (host, nil)
        }
    }
}
