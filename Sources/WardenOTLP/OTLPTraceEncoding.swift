import WardenProtobuf
import WardenTrace

/// `opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest` (proto/opentelemetry/…), written with
/// the project's protobuf writer in field-number order, as protoc writes it: one ResourceSpans (the
/// resource's attributes), one ScopeSpans (Warden's instrumentation scope), the spans.
public enum OTLPTraceEncoding {
    /// Span flags: the W3C trace flags (sampled; Warden exports only sampled spans) and whether the
    /// parent is remote (`SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK`, `…_IS_REMOTE_MASK`).
    static let sampledFlag: UInt32 = 0x01, hasIsRemote: UInt32 = 0x100, isRemote: UInt32 = 0x200

    public static func exportRequest(_ spans: [Span], resource: [SpanAttribute], scopeName: String, scopeVersion: String) -> [UInt8] {
        exportRequest(spans[...], resource: resource, scopeName: scopeName, scopeVersion: scopeVersion)
    }

    public static func exportRequest(_ spans: ArraySlice<Span>, resource: [SpanAttribute], scopeName: String, scopeVersion: String) -> [UInt8] {
        var w = ProtobufBufferWriter(capacity: 256 + 512 * spans.count)
        exportRequest(spans, resource: resource, scopeName: scopeName, scopeVersion: scopeVersion, into: &w)
        return w.bytes
    }

    /// Appends the request to `w`.
    public static func exportRequest(_ spans: ArraySlice<Span>, resource: [SpanAttribute], scopeName: String, scopeVersion: String,
                                     into w: inout ProtobufBufferWriter) {
        envelope(resource: resource, scopeName: scopeName, scopeVersion: scopeVersion, &w) { ss in
            for i in spans.indices { ss.writeNested(field: 2) { self.span(spans[i], &$0) } }
        }
    }

    /// Check spans, as their generic rendering (`CheckSpan.span`) encodes, byte for byte.
    public static func exportRequest(_ spans: [CheckSpan], resource: [SpanAttribute], scopeName: String, scopeVersion: String) -> [UInt8] {
        var w = ProtobufBufferWriter(capacity: 256 + 512 * spans.count)
        exportRequest(spans[...], resource: resource, scopeName: scopeName, scopeVersion: scopeVersion, into: &w)
        return w.bytes
    }

    /// Appends the request to `w` (the exporter reuses one writer for every batch).
    public static func exportRequest(_ spans: ArraySlice<CheckSpan>, resource: [SpanAttribute], scopeName: String, scopeVersion: String,
                                     into w: inout ProtobufBufferWriter) {
        envelope(resource: resource, scopeName: scopeName, scopeVersion: scopeVersion, &w) { ss in
            // Through a pointer to each span: `spans[i]`, even borrowed, copied the span (retaining and
            // releasing its strings: ~400 instructions per span).
            spans.withUnsafeBufferPointer { spans in
                guard let first = spans.baseAddress else { return }
                for i in 0..<spans.count { ss.writeNested(field: 2) { self.checkSpan(first + i, &$0) } }
            }
        }
    }

    /// ResourceSpans (the resource's attributes), ScopeSpans (Warden's scope), the spans `spans` writes.
    static func envelope(resource: [SpanAttribute], scopeName: String, scopeVersion: String, _ w: inout ProtobufBufferWriter,
                         spans: (inout ProtobufBufferWriter) -> Void) {
        // resource_spans and scope_spans hold the whole batch: 3 length bytes reserved (up to 2 MiB), so
        // the batch is not moved to fit them.
        w.writeNested(field: 1, lengthBytes: 3) { rs in                    // resource_spans
            rs.writeNested(field: 1) { r in                                // resource
                for a in resource { keyValue(a, field: 1, &r) }
            }
            rs.writeNested(field: 2, lengthBytes: 3) { ss in               // scope_spans
                ss.writeNested(field: 1) { scope in                        // scope
                    scope.writeString(scopeName, field: 1)
                    scope.writeString(scopeVersion, field: 2)
                }
                spans(&ss)
            }
        }
    }

    /// A check span's fields in `span`'s order, each attribute written from its typed field.
    static func checkSpan(_ span: UnsafePointer<CheckSpan>, _ w: inout ProtobufBufferWriter) {
        let s = UnsafeCheckSpan(span)
        id(s.traceID.high, s.traceID.low, field: 1, &w)
        id(nil, s.spanID.value, field: 2, &w)
        w.writeString(s.traceState, field: 3)
        if let parent = s.parentSpanID { id(nil, parent.value, field: 4, &w) }
        w.writeString(CheckSpan.name, field: 5)
        w.writeEnum(Int32(CheckSpan.kind.rawValue), field: 6)
        w.writeFixed64(s.startUnixNanos, field: 7)
        w.writeFixed64(s.endUnixNanos, field: 8)
        typealias K = CheckSpan.Key
        stringAttribute(K.method, s.method, &w)
        if let original = s.methodOriginal { stringAttribute(K.methodOriginal, original, &w) }
        stringAttribute(K.path, s.path, &w)
        if !s.serverAddress.isEmpty { stringAttribute(K.serverAddress, s.serverAddress, &w) }
        if let port = s.serverPort { intAttribute(K.serverPort, Int64(port), &w) }
        stringAttribute(K.decision, s.allowed ? "allow" : "deny", &w)
        intAttribute(K.status, Int64(s.status), &w)
        stringAttribute(K.reasonCode, s.reasonCode, &w)
        if let policy = s.policy { stringAttribute(K.policy, policy, &w) }
        intAttribute(K.generation, Int64(s.generation), &w)
        if let d = s.dryRun {
            stringAttribute(K.dryRunWould, d.would, &w)
            stringAttribute(K.dryRunReasonCode, d.reasonCode, &w)
        }
        if let user = s.endUserID { stringAttribute(K.endUserID, user, &w) }
        for wait in s.waits {
            w.writeNested(field: 11) { ev in
                ev.writeFixed64(wait.unixNanos, field: 1)
                ev.writeString(wait.kind.eventName, field: 2)
                for a in wait.attributes { keyValue(a, field: 3, &ev) }
            }
        }
        if let error = s.error { status(.error, message: error, &w) }
        let flags = sampledFlag | hasIsRemote | (s.parentSpanID != nil ? isRemote : 0)
        w.writeFixed32(flags, field: 16)
    }

    /// A string `KeyValue` as a span's attribute (field 9), lengths computed up front.
    @inline(__always)
    static func stringAttribute(_ key: StaticString, _ value: String, _ w: inout ProtobufBufferWriter) {
        let keyCount = key.utf8CodeUnitCount, valueCount = value.utf8.count
        if keyCount + valueCount < 120 {
            // Every length fits one byte (the KeyValue's is keyCount + valueCount + 6): the four bytes before
            // the key and the four before the value are written as one word each (callgrind: ~100
            // instructions less per attribute than ten separate tag and length writes).
            w.writeRawFixed32(UInt32(0x4A) | UInt32(keyCount + valueCount + 6) << 8 | UInt32(0x0A) << 16 | UInt32(keyCount) << 24)
            w.writeRawUTF8(key)
            w.writeRawFixed32(UInt32(0x12) | UInt32(valueCount + 2) << 8 | UInt32(0x0A) << 16 | UInt32(valueCount) << 24)
            w.writeRawUTF8(value)
            return
        }
        let any = 1 + varintSize(valueCount) + valueCount
        w.writeTag(9, .lengthDelimited)
        w.writeRawVarint(UInt64(1 + varintSize(keyCount) + keyCount + 1 + varintSize(any) + any))
        w.writeTag(1, .lengthDelimited)
        w.writeRawVarint(UInt64(keyCount))
        w.writeRawUTF8(key)
        w.writeTag(2, .lengthDelimited)
        w.writeRawVarint(UInt64(any))
        w.writeTag(1, .lengthDelimited)
        w.writeRawVarint(UInt64(valueCount))
        w.writeRawUTF8(value)
    }

    /// An int `KeyValue` as a span's attribute (field 9).
    @inline(__always)
    static func intAttribute(_ key: StaticString, _ value: Int64, _ w: inout ProtobufBufferWriter) {
        let keyCount = key.utf8CodeUnitCount
        if keyCount < 100 && value >= 0 && value < 0x4000 {
            // One- or two-byte varint value, one-byte lengths: the bytes around the key as two words.
            let valueBytes = value < 0x80 ? 1 : 2
            w.writeRawFixed32(UInt32(0x4A) | UInt32(keyCount + 5 + valueBytes) << 8 | UInt32(0x0A) << 16 | UInt32(keyCount) << 24)
            w.writeRawUTF8(key)
            w.writeRawFixed32(UInt32(0x12) | UInt32(1 + valueBytes) << 8 | UInt32(0x18) << 16
                              | UInt32(truncatingIfNeeded: value & 0x7F | (value >= 0x80 ? 0x80 : 0)) << 24)
            if value >= 0x80 { w.writeRawVarint(UInt64(value >> 7)) }  // the varint's second byte (< 0x80)
            return
        }
        let any = 1 + varintSize(UInt64(bitPattern: value))
        w.writeTag(9, .lengthDelimited)
        w.writeRawVarint(UInt64(1 + varintSize(keyCount) + keyCount + 2 + any))
        w.writeTag(1, .lengthDelimited)
        w.writeRawVarint(UInt64(keyCount))
        w.writeRawUTF8(key)
        w.writeTag(2, .lengthDelimited)
        w.writeRawVarint(UInt64(any))
        w.writeTag(3, .varint)
        w.writeRawVarint(UInt64(bitPattern: value))
    }

    static func span(_ s: borrowing Span, _ w: inout ProtobufBufferWriter) {
        id(s.traceID.high, s.traceID.low, field: 1, &w)
        id(nil, s.spanID.value, field: 2, &w)
        w.writeString(s.traceState, field: 3)
        if let parent = s.parentSpanID { id(nil, parent.value, field: 4, &w) }
        w.writeString(s.name, field: 5)
        w.writeEnum(Int32(s.kind.rawValue), field: 6)
        w.writeFixed64(s.startUnixNanos, field: 7)
        w.writeFixed64(s.endUnixNanos, field: 8)
        // Through the buffer: no copy (retain and release) of each attribute's strings.
        s.attributes.withUnsafeBufferPointer { attributes in
            for i in attributes.indices { keyValue(attributes[i], field: 9, &w) }
        }
        for e in s.events {
            w.writeNested(field: 11) { ev in
                ev.writeFixed64(e.unixNanos, field: 1)
                ev.writeString(e.name, field: 2)
                for a in e.attributes { keyValue(a, field: 3, &ev) }
            }
        }
        if s.status != .unset { status(s.status, message: s.statusMessage, &w) }
        let flags = sampledFlag | hasIsRemote | (s.parentSpanID != nil ? isRemote : 0)
        w.writeFixed32(flags, field: 16)
    }

    /// Span field 15, `Status`: `message` (2), then `code` (3), as protoc orders them.
    static func status(_ code: Span.StatusCode, message: String, _ w: inout ProtobufBufferWriter) {
        w.writeNested(field: 15) { st in
            st.writeString(message, field: 2)
            st.writeEnum(Int32(code.rawValue), field: 3)
        }
    }

    /// A trace id (16 bytes) or span id (8 bytes), big-endian, written in place (no byte array per id).
    static func id(_ high: UInt64?, _ low: UInt64, field: Int, _ w: inout ProtobufBufferWriter) {
        w.writeTag(field, .lengthDelimited)
        w.writeRawVarint(high == nil ? 8 : 16)
        if let high { w.writeRawFixed64(high.byteSwapped) }
        w.writeRawFixed64(low.byteSwapped)
    }

    /// One `KeyValue` as field `field` of the enclosing message. Lengths are computed up front instead of
    /// patched (`writeNested`): a span's dozen attributes were ~3.5k of its ~6.5k encoding instructions
    /// (callgrind) the nested way.
    static func keyValue(_ a: borrowing SpanAttribute, field: Int = 9, _ w: inout ProtobufBufferWriter) {
        let keyCount = a.key.utf8.count
        let keyBytes = 1 + varintSize(keyCount) + keyCount
        func key(_ w: inout ProtobufBufferWriter) {
            w.writeTag(1, .lengthDelimited)
            w.writeRawVarint(UInt64(keyCount))
            w.writeRawUTF8(a.key)
        }
        switch a.value {
        case .string(let text):
            let valueCount = text.utf8.count
            let any = 1 + varintSize(valueCount) + valueCount
            w.writeTag(field, .lengthDelimited)
            w.writeRawVarint(UInt64(keyBytes + 1 + varintSize(any) + any))
            key(&w)
            w.writeTag(2, .lengthDelimited)
            w.writeRawVarint(UInt64(any))
            w.writeTag(1, .lengthDelimited)
            w.writeRawVarint(UInt64(valueCount))
            w.writeRawUTF8(text)
        case .int(let i):
            let any = 1 + varintSize(UInt64(bitPattern: i))
            w.writeTag(field, .lengthDelimited)
            w.writeRawVarint(UInt64(keyBytes + 2 + any))
            key(&w)
            w.writeTag(2, .lengthDelimited)
            w.writeRawVarint(UInt64(any))
            w.writeTag(3, .varint)
            w.writeRawVarint(UInt64(bitPattern: i))
        case .bool(let b):
            w.writeTag(field, .lengthDelimited)
            w.writeRawVarint(UInt64(keyBytes + 2 + 2))
            key(&w)
            w.writeTag(2, .lengthDelimited)
            w.writeRawVarint(2)
            w.writeTag(2, .varint)
            w.writeRawVarint(b ? 1 : 0)
        case .double(let d):
            w.writeTag(field, .lengthDelimited)
            w.writeRawVarint(UInt64(keyBytes + 2 + 9))
            key(&w)
            w.writeTag(2, .lengthDelimited)
            w.writeRawVarint(9)
            w.writeTag(4, .fixed64)
            w.writeRawFixed64(d.bitPattern)
        }
    }

    static func varintSize(_ n: Int) -> Int { varintSize(UInt64(n)) }

    static func varintSize(_ n: UInt64) -> Int {
        var size = 1, v = n >> 7
        while v != 0 { size += 1; v >>= 7 }
        return size
    }
}

/// A check span's fields read in place through a pointer (no copy of the span).
struct UnsafeCheckSpan {
    let p: UnsafePointer<CheckSpan>
    init(_ p: UnsafePointer<CheckSpan>) { self.p = p }
    var traceID: TraceID { p.pointee.traceID }
    var spanID: SpanID { p.pointee.spanID }
    var parentSpanID: SpanID? { p.pointee.parentSpanID }
    var traceState: String { p.pointee.traceState }
    var startUnixNanos: UInt64 { p.pointee.startUnixNanos }
    var endUnixNanos: UInt64 { p.pointee.endUnixNanos }
    var method: String { p.pointee.method }
    var methodOriginal: String? { p.pointee.methodOriginal }
    var path: String { p.pointee.path }
    var serverAddress: String { p.pointee.serverAddress }
    var serverPort: Int? { p.pointee.serverPort }
    var allowed: Bool { p.pointee.allowed }
    var status: Int { p.pointee.status }
    var reasonCode: String { p.pointee.reasonCode }
    var policy: String? { p.pointee.policy }
    var generation: Int { p.pointee.generation }
    var dryRun: (would: String, reasonCode: String)? { p.pointee.dryRun }
    var endUserID: String? { p.pointee.endUserID }
    var waits: [CheckSpan.Wait] { p.pointee.waits }
    var error: String? { p.pointee.error }
}
