/// One finished span, as Warden exports it (OTLP's `Span`, with only the fields Warden sets).
public struct Span: Sendable, Equatable {
    public enum Kind: Int, Sendable { case `internal` = 1, server = 2 }
    public enum StatusCode: Int, Sendable { case unset = 0, ok = 1, error = 2 }

    public var traceID: TraceID
    public var spanID: SpanID
    public var parentSpanID: SpanID?
    public var traceState: String
    public var name: String
    public var kind: Kind
    /// Unix epoch nanoseconds.
    public var startUnixNanos: UInt64
    public var endUnixNanos: UInt64
    public var attributes: [SpanAttribute]
    public var events: [SpanEvent]
    public var status: StatusCode
    /// OTLP `Status.message`: why the span is an error (empty otherwise).
    public var statusMessage: String

    public init(traceID: TraceID, spanID: SpanID, parentSpanID: SpanID?, traceState: String = "", name: String, kind: Kind,
                startUnixNanos: UInt64, endUnixNanos: UInt64, attributes: [SpanAttribute] = [], events: [SpanEvent] = [],
                status: StatusCode = .unset, statusMessage: String = "") {
        self.traceID = traceID
        self.spanID = spanID
        self.parentSpanID = parentSpanID
        self.traceState = traceState
        self.name = name
        self.kind = kind
        self.startUnixNanos = startUnixNanos
        self.endUnixNanos = endUnixNanos
        self.attributes = attributes
        self.events = events
        self.status = status
        self.statusMessage = statusMessage
    }

    /// The attribute's value, if set.
    public func attribute(_ key: String) -> SpanAttribute.Value? { attributes.first { $0.key == key }?.value }
}

/// A key and a typed value (OTLP's `KeyValue` / `AnyValue`).
public struct SpanAttribute: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case string(String), int(Int64), bool(Bool), double(Double)
    }

    public var key: String
    public var value: Value

    public init(_ key: String, _ value: Value) {
        self.key = key
        self.value = value
    }

    public init(_ key: String, _ value: String) { self.init(key, .string(value)) }
    public init(_ key: String, _ value: Int) { self.init(key, .int(Int64(value))) }
}

/// A timed event inside a span.
public struct SpanEvent: Sendable, Equatable {
    public var name: String
    public var unixNanos: UInt64
    public var attributes: [SpanAttribute]

    public init(name: String, unixNanos: UInt64, attributes: [SpanAttribute] = []) {
        self.name = name
        self.unixNanos = unixNanos
        self.attributes = attributes
    }
}

/// Where finished check spans go (the OTLP exporter; a collecting sink in tests). `submit` is called on
/// the check's thread after it was answered: it must not block.
public protocol SpanSink: Sendable {
    func submit(_ span: consuming CheckSpan)
}
