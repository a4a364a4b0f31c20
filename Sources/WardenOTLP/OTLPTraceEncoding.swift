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
        var w = ProtobufWriter(capacity: 256 + 512 * spans.count)
        w.writeNested(field: 1) { rs in                                    // resource_spans
            rs.writeNested(field: 1) { r in                                // resource
                for a in resource { r.writeNested(field: 1) { keyValue(a, &$0) } }
            }
            rs.writeNested(field: 2) { ss in                               // scope_spans
                ss.writeNested(field: 1) { scope in                        // scope
                    scope.writeString(scopeName, field: 1)
                    scope.writeString(scopeVersion, field: 2)
                }
                for span in spans { ss.writeNested(field: 2) { self.span(span, &$0) } }
            }
        }
        return w.bytes
    }

    static func span(_ s: Span, _ w: inout ProtobufWriter) {
        w.writeBytes(s.traceID.bytes, field: 1)
        w.writeBytes(s.spanID.bytes, field: 2)
        w.writeString(s.traceState, field: 3)
        if let parent = s.parentSpanID { w.writeBytes(parent.bytes, field: 4) }
        w.writeString(s.name, field: 5)
        w.writeEnum(Int32(s.kind.rawValue), field: 6)
        w.writeFixed64(s.startUnixNanos, field: 7)
        w.writeFixed64(s.endUnixNanos, field: 8)
        for a in s.attributes { w.writeNested(field: 9) { keyValue(a, &$0) } }
        for e in s.events {
            w.writeNested(field: 11) { ev in
                ev.writeFixed64(e.unixNanos, field: 1)
                ev.writeString(e.name, field: 2)
                for a in e.attributes { ev.writeNested(field: 3) { keyValue(a, &$0) } }
            }
        }
        if s.status != .unset { w.writeNested(field: 15) { $0.writeEnum(Int32(s.status.rawValue), field: 3) } }
        let flags = sampledFlag | hasIsRemote | (s.parentSpanID != nil ? isRemote : 0)
        w.writeFixed32(flags, field: 16)
    }

    static func keyValue(_ a: SpanAttribute, _ w: inout ProtobufWriter) {
        w.writeString(a.key, field: 1)
        w.writeNested(field: 2) { v in
            // A oneof member is written even when it holds its type's default.
            switch a.value {
            case .string(let s): v.writeString(s, field: 1, always: true)
            case .bool(let b): v.writeBool(b, field: 2, always: true)
            case .int(let i): v.writeInt64(i, field: 3, always: true)
            case .double(let d): v.writeDouble(d, field: 4, always: true)
            }
        }
    }
}
