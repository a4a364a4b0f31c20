/// Warden's span for one check, as typed fields: no attribute array, no `SpanAttribute` enum and no text
/// built per sampled check (callgrind: the generic `Span` cost ~2.4k instructions to build and ~6k to
/// encode and release). The OTLP exporter writes each field as its `KeyValue` (keys in `CheckSpan.Key`, in
/// this order); `span` renders the same span as a generic `Span` (tests, and the encoder's oracle: both
/// encodings are byte-equal, and the generic one is checked against protoc).
public struct CheckSpan: Sendable, Equatable {
    /// The attribute keys: OpenTelemetry's semantic conventions where one exists, else `warden.*`. Static
    /// strings: the encoder copies their bytes without touching a `String`.
    public enum Key {
        public static let method: StaticString = "http.request.method"
        public static let methodOriginal: StaticString = "http.request.method_original"
        public static let path: StaticString = "url.path"
        public static let serverAddress: StaticString = "server.address"
        public static let serverPort: StaticString = "server.port"
        public static let decision: StaticString = "warden.decision"
        public static let status: StaticString = "warden.status"
        public static let reasonCode: StaticString = "warden.reason_code"
        public static let policy: StaticString = "warden.policy"
        public static let generation: StaticString = "warden.generation"
        public static let dryRunWould: StaticString = "warden.dry_run.would"
        public static let dryRunReasonCode: StaticString = "warden.dry_run.reason_code"
        public static let endUserID: StaticString = "enduser.id"
    }

    public static let name = "warden.check"
    public static let kind = Span.Kind.server

    /// A step of the check that can take time — keys that were not cached, an introspection answer, a
    /// token exchange — as one event at its end, with its duration and one detail.
    public struct Wait: Sendable, Equatable {
        public enum Kind: Sendable, Equatable {
            /// Keys that were not cached (a cold source or an unknown-kid refetch).
            case jwks
            /// An RFC 7662 introspection answer for an opaque token.
            case introspection
            /// An RFC 8693 token exchange (0 ms when the exchanged token was reused from the cache).
            case tokenExchange

            /// `warden.jwks.wait`, `warden.introspection.wait`, `warden.token_exchange`.
            public var eventName: String {
                switch self {
                case .jwks: return "warden.jwks.wait"
                case .introspection: return "warden.introspection.wait"
                case .tokenExchange: return "warden.token_exchange"
                }
            }

            /// The duration's attribute (milliseconds, a double).
            public var attributeKey: String {
                switch self {
                case .jwks: return "warden.jwks.wait_ms"
                case .introspection: return "warden.introspection.wait_ms"
                case .tokenExchange: return "warden.token_exchange.wait_ms"
                }
            }

            /// The detail's attribute: the step that waited, or the exchange's outcome.
            public var detailKey: String { self == .tokenExchange ? "warden.token_exchange.outcome" : "warden.step" }
        }

        /// The check's step that waited for keys or an introspection answer.
        public enum Step: String, Sendable {
            /// An Envoy jwt_authn document's requirement.
            case jwtAuthn = "jwt_authn"
            /// The RequestAuthentications and TokenPolicies in scope.
            case istio
        }

        /// How a token exchange ended.
        public enum ExchangeOutcome: String, Sendable {
            /// The token endpoint answered with a token.
            case exchanged
            /// The token exchanged last time for the same token was reused: no call.
            case cached
            /// The token endpoint refused (403).
            case refused
            /// No usable answer in time (503).
            case unavailable
        }

        public var kind: Kind
        public var unixNanos: UInt64
        public var milliseconds: Double
        /// `Step` for keys and introspection, `ExchangeOutcome` for a token exchange (raw values).
        public var detail: String

        /// A wait for keys or an introspection answer in `step`.
        public init(kind: Kind, step: Step, unixNanos: UInt64, milliseconds: Double) {
            self.kind = kind
            self.detail = step.rawValue
            self.unixNanos = unixNanos
            self.milliseconds = milliseconds
        }

        /// A token exchange.
        public init(exchange outcome: ExchangeOutcome, unixNanos: UInt64, milliseconds: Double) {
            kind = .tokenExchange
            detail = outcome.rawValue
            self.unixNanos = unixNanos
            self.milliseconds = milliseconds
        }

        /// The event's attributes, in the order the exporter writes them.
        public var attributes: [SpanAttribute] {
            [SpanAttribute(kind.attributeKey, .double(milliseconds)), SpanAttribute(kind.detailKey, detail)]
        }
    }

    /// The longest string attribute value exported, in bytes: a longer one (a long `url.path`, a long
    /// `server.address`) is cut at a UTF-8 character boundary at or below it. OpenTelemetry's SDKs leave
    /// `AttributeValueLengthLimit` unlimited by default; Warden bounds it so one request cannot make a span
    /// (and the export queue's bytes) grow with its path.
    public static let maxAttributeBytes = 1024

    /// `value`, or its longest prefix of whole UTF-8 characters of at most `maxAttributeBytes` bytes.
    /// - Parameter percentEncoded: the value is a percent-encoded URL component (`url.path`, RFC 3986 §2.1):
    ///   it is not cut inside a `%XX` escape either (a trailing `%` or `%X` would be no escape at all, and
    ///   a decoder may reject it); the cut backs off to before the escape.
    public static func truncated(_ value: String, percentEncoded: Bool = false) -> String {
        guard value.utf8.count > maxAttributeBytes else { return value }
        let u = Array(value.utf8)
        var end = maxAttributeBytes
        while end > 0, u[end] & 0xC0 == 0x80 { end -= 1 }  // u[end] is a continuation byte: its character starts earlier
        if percentEncoded {
            let percent = UInt8(ascii: "%")
            if end >= 1, u[end - 1] == percent {
                end -= 1
            } else if end >= 2, u[end - 2] == percent {
                end -= 2
            }
        }
        return String(decoding: u[..<end], as: UTF8.self)
    }

    public var traceID: TraceID
    public var spanID: SpanID
    public var parentSpanID: SpanID?
    public var traceState: String
    /// Unix epoch nanoseconds.
    public var startUnixNanos: UInt64
    public var endUnixNanos: UInt64

    /// `http.request.method`: a method known to the semantic conventions, or `_OTHER`.
    public var method: String
    /// The method as sent, when `method` is `_OTHER`.
    public var methodOriginal: String?
    public var path: String
    /// Left out when empty.
    public var serverAddress: String
    public var serverPort: Int?
    public var allowed: Bool
    public var status: Int
    public var reasonCode: String
    public var policy: String?
    public var generation: Int
    /// `would` and reason code of the dry-run resources, when the scope has any.
    public var dryRun: (would: String, reasonCode: String)?
    public var endUserID: String?
    /// The steps that took time, in the order they ended (usually none).
    public var waits: [Wait]
    /// Why Warden itself failed the check (a key source, introspection endpoint, replay store or token
    /// endpoint unavailable): the span's status is ERROR with this message. nil: UNSET, which an allow and a
    /// deny both are (OpenTelemetry's HTTP semantic conventions leave a SERVER span's 4xx unset).
    public var error: String?

    public init(traceID: TraceID, spanID: SpanID, parentSpanID: SpanID?, traceState: String, startUnixNanos: UInt64, endUnixNanos: UInt64,
                method: String, methodOriginal: String? = nil, path: String, serverAddress: String, serverPort: Int?, allowed: Bool, status: Int, reasonCode: String,
                policy: String?, generation: Int, dryRun: (would: String, reasonCode: String)? = nil, endUserID: String? = nil,
                waits: [Wait] = [], error: String? = nil) {
        self.traceID = traceID
        self.spanID = spanID
        self.parentSpanID = parentSpanID
        self.traceState = traceState
        self.startUnixNanos = startUnixNanos
        self.endUnixNanos = endUnixNanos
        self.method = method
        self.methodOriginal = methodOriginal
        self.path = path
        self.serverAddress = serverAddress
        self.serverPort = serverPort
        self.allowed = allowed
        self.status = status
        self.reasonCode = reasonCode
        self.policy = policy
        self.generation = generation
        self.dryRun = dryRun
        self.endUserID = endUserID
        self.waits = waits
        self.error = error
    }

    public static func == (a: CheckSpan, b: CheckSpan) -> Bool { a.span == b.span }

    /// About the bytes the span holds, and its encoding's size: its strings' UTF-8 bytes plus a fixed
    /// allowance for the ids, times, numbers and attribute keys (the export queue's byte bound). O(1) per
    /// string.
    public var approximateBytes: Int {
        var n = 192 + traceState.utf8.count + method.utf8.count + path.utf8.count + serverAddress.utf8.count + reasonCode.utf8.count
        if let methodOriginal { n += 32 + methodOriginal.utf8.count }
        if let policy { n += policy.utf8.count }
        if let dryRun { n += 48 + dryRun.would.utf8.count + dryRun.reasonCode.utf8.count }
        if let endUserID { n += 16 + endUserID.utf8.count }
        if let error { n += 8 + error.utf8.count }
        return n + waits.count * 96
    }

    /// The same span as a generic `Span`, attributes in the order the exporter writes them.
    public var span: Span {
        var attributes = [SpanAttribute(Key.method.description, method)]
        if let methodOriginal { attributes.append(SpanAttribute(Key.methodOriginal.description, methodOriginal)) }
        attributes.append(SpanAttribute(Key.path.description, path))
        if !serverAddress.isEmpty { attributes.append(SpanAttribute(Key.serverAddress.description, serverAddress)) }
        if let serverPort { attributes.append(SpanAttribute(Key.serverPort.description, serverPort)) }
        attributes.append(SpanAttribute(Key.decision.description, allowed ? "allow" : "deny"))
        attributes.append(SpanAttribute(Key.status.description, status))
        attributes.append(SpanAttribute(Key.reasonCode.description, reasonCode))
        if let policy { attributes.append(SpanAttribute(Key.policy.description, policy)) }
        attributes.append(SpanAttribute(Key.generation.description, generation))
        if let dryRun {
            attributes.append(SpanAttribute(Key.dryRunWould.description, dryRun.would))
            attributes.append(SpanAttribute(Key.dryRunReasonCode.description, dryRun.reasonCode))
        }
        if let endUserID { attributes.append(SpanAttribute(Key.endUserID.description, endUserID)) }
        let events = waits.map { SpanEvent(name: $0.kind.eventName, unixNanos: $0.unixNanos, attributes: $0.attributes) }
        return Span(traceID: traceID, spanID: spanID, parentSpanID: parentSpanID, traceState: traceState, name: Self.name, kind: Self.kind,
                    startUnixNanos: startUnixNanos, endUnixNanos: endUnixNanos, attributes: attributes, events: events,
                    status: error == nil ? .unset : .error, statusMessage: error ?? "")
    }
}
