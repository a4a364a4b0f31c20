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

    /// The wait before the decision (keys or an introspection answer): one event at its end.
    public struct Wait: Sendable, Equatable {
        public enum Kind: Sendable, Equatable {
            case jwks, introspection

            /// `warden.jwks.wait` / `warden.introspection.wait`.
            public var eventName: String { self == .jwks ? "warden.jwks.wait" : "warden.introspection.wait" }
            /// The event's one attribute: the wait in milliseconds.
            public var attributeKey: String { self == .jwks ? "warden.jwks.wait_ms" : "warden.introspection.wait_ms" }
        }

        public var kind: Kind
        public var unixNanos: UInt64
        public var milliseconds: Double

        public init(kind: Kind, unixNanos: UInt64, milliseconds: Double) {
            self.kind = kind
            self.unixNanos = unixNanos
            self.milliseconds = milliseconds
        }
    }

    public var traceID: TraceID
    public var spanID: SpanID
    public var parentSpanID: SpanID?
    public var traceState: String
    /// Unix epoch nanoseconds.
    public var startUnixNanos: UInt64
    public var endUnixNanos: UInt64

    public var method: String
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
    public var wait: Wait?

    public init(traceID: TraceID, spanID: SpanID, parentSpanID: SpanID?, traceState: String, startUnixNanos: UInt64, endUnixNanos: UInt64,
                method: String, path: String, serverAddress: String, serverPort: Int?, allowed: Bool, status: Int, reasonCode: String,
                policy: String?, generation: Int, dryRun: (would: String, reasonCode: String)? = nil, endUserID: String? = nil,
                wait: Wait? = nil) {
        self.traceID = traceID
        self.spanID = spanID
        self.parentSpanID = parentSpanID
        self.traceState = traceState
        self.startUnixNanos = startUnixNanos
        self.endUnixNanos = endUnixNanos
        self.method = method
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
        self.wait = wait
    }

    public static func == (a: CheckSpan, b: CheckSpan) -> Bool { a.span == b.span }

    /// The same span as a generic `Span`, attributes in the order the exporter writes them.
    public var span: Span {
        var attributes = [SpanAttribute(Key.method.description, method), SpanAttribute(Key.path.description, path)]
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
        let events = wait.map { w in
            [SpanEvent(name: w.kind.eventName, unixNanos: w.unixNanos, attributes: [SpanAttribute(w.kind.attributeKey, .double(w.milliseconds))])]
        } ?? []
        return Span(traceID: traceID, spanID: spanID, parentSpanID: parentSpanID, traceState: traceState, name: Self.name, kind: Self.kind,
                    startUnixNanos: startUnixNanos, endUnixNanos: endUnixNanos, attributes: attributes, events: events)
    }
}
