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
        var w = ProtobufWriter(capacity: 256 + 512 * spans.count)
        w.writeNested(field: 1) { rs in                                    // resource_spans
            rs.writeNested(field: 1) { r in                                // resource
                for a in resource { keyValue(a, field: 1, &r) }
            }
            rs.writeNested(field: 2) { ss in                               // scope_spans
                ss.writeNested(field: 1) { scope in                        // scope
                    scope.writeString(scopeName, field: 1)
                    scope.writeString(scopeVersion, field: 2)
                }
                for i in spans.indices { ss.writeNested(field: 2) { self.span(spans[i], &$0) } }
            }
        }
        return w.bytes
    }

    static func span(_ s: borrowing Span, _ w: inout ProtobufWriter) {
        id(s.traceID.high, s.traceID.low, field: 1, &w)
        id(nil, s.spanID.value, field: 2, &w)
        w.writeString(s.traceState, field: 3)
        if let parent = s.parentSpanID { id(nil, parent.value, field: 4, &w) }
        w.writeString(s.name, field: 5)
        w.writeEnum(Int32(s.kind.rawValue), field: 6)
        w.writeFixed64(s.startUnixNanos, field: 7)
        w.writeFixed64(s.endUnixNanos, field: 8)
        for i in s.attributes.indices { keyValue(s.attributes[i], field: 9, &w) }
        for e in s.events {
            w.writeNested(field: 11) { ev in
                ev.writeFixed64(e.unixNanos, field: 1)
                ev.writeString(e.name, field: 2)
                for a in e.attributes { keyValue(a, field: 3, &ev) }
            }
        }
        if s.status != .unset { w.writeNested(field: 15) { $0.writeEnum(Int32(s.status.rawValue), field: 3) } }
        let flags = sampledFlag | hasIsRemote | (s.parentSpanID != nil ? isRemote : 0)
        w.writeFixed32(flags, field: 16)
    }

    /// A trace id (16 bytes) or span id (8 bytes), big-endian, written in place (no byte array per id).
    static func id(_ high: UInt64?, _ low: UInt64, field: Int, _ w: inout ProtobufWriter) {
        w.writeTag(field, .lengthDelimited)
        w.writeRawVarint(high == nil ? 8 : 16)
        if let high { w.writeRawFixed64(high.byteSwapped) }
        w.writeRawFixed64(low.byteSwapped)
    }

    /// One `KeyValue` as field `field` of the enclosing message. Lengths are computed up front instead of
    /// patched (`writeNested`): a span's dozen attributes were ~3.5k of its ~6.5k encoding instructions
    /// (callgrind) the nested way.
    static func keyValue(_ a: borrowing SpanAttribute, field: Int = 9, _ w: inout ProtobufWriter) {
        var key = a.key
        key.withUTF8 { k in
            let keyBytes = 1 + varintSize(k.count) + k.count
            switch a.value {
            case .string(var text):
                text.withUTF8 { v in
                    let any = 1 + varintSize(v.count) + v.count
                    w.writeTag(field, .lengthDelimited)
                    w.writeRawVarint(UInt64(keyBytes + 1 + varintSize(any) + any))
                    w.writeTag(1, .lengthDelimited)
                    w.writeRawVarint(UInt64(k.count))
                    w.writeRawBytes(k)
                    w.writeTag(2, .lengthDelimited)
                    w.writeRawVarint(UInt64(any))
                    w.writeTag(1, .lengthDelimited)
                    w.writeRawVarint(UInt64(v.count))
                    w.writeRawBytes(v)
                }
            case .int(let i):
                let any = 1 + varintSize(UInt64(bitPattern: i))
                w.writeTag(field, .lengthDelimited)
                w.writeRawVarint(UInt64(keyBytes + 2 + any))
                w.writeTag(1, .lengthDelimited)
                w.writeRawVarint(UInt64(k.count))
                w.writeRawBytes(k)
                w.writeTag(2, .lengthDelimited)
                w.writeRawVarint(UInt64(any))
                w.writeTag(3, .varint)
                w.writeRawVarint(UInt64(bitPattern: i))
            case .bool(let b):
                w.writeTag(field, .lengthDelimited)
                w.writeRawVarint(UInt64(keyBytes + 2 + 2))
                w.writeTag(1, .lengthDelimited)
                w.writeRawVarint(UInt64(k.count))
                w.writeRawBytes(k)
                w.writeTag(2, .lengthDelimited)
                w.writeRawVarint(2)
                w.writeTag(2, .varint)
                w.writeRawVarint(b ? 1 : 0)
            case .double(let d):
                w.writeTag(field, .lengthDelimited)
                w.writeRawVarint(UInt64(keyBytes + 2 + 9))
                w.writeTag(1, .lengthDelimited)
                w.writeRawVarint(UInt64(k.count))
                w.writeRawBytes(k)
                w.writeTag(2, .lengthDelimited)
                w.writeRawVarint(9)
                w.writeTag(4, .fixed64)
                w.writeRawFixed64(d.bitPattern)
            }
        }
    }

    static func varintSize(_ n: Int) -> Int { varintSize(UInt64(n)) }

    static func varintSize(_ n: UInt64) -> Int {
        var size = 1, v = n >> 7
        while v != 0 { size += 1; v >>= 7 }
        return size
    }
}
