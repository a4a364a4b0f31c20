import Testing
@testable import WardenTrace

/// Trace context as Envoy's tracers send it: W3C (OpenTelemetry tracer), B3 single and multi (Zipkin).
@Suite("Trace context")
struct TraceContextTests {
    static let trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    static let parent = "00f067aa0ba902b7"

    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var headers: [String: String]
        /// (trace id, parent span id, sampled, tracestate) or one of the id-less outcomes.
        var expected: Expected
        var testDescription: String { name }
    }

    enum Expected: Sendable {
        case context(String, String, Bool?, String)
        case notSampled, sampledWithoutIDs, none
    }

    static let rows: [Row] = [
        Row(name: "traceparent sampled", headers: ["traceparent": "00-\(trace)-\(parent)-01"], expected: .context(trace, parent, true, "")),
        Row(name: "traceparent not sampled", headers: ["traceparent": "00-\(trace)-\(parent)-00"], expected: .context(trace, parent, false, "")),
        Row(name: "traceparent flags other bits", headers: ["traceparent": "00-\(trace)-\(parent)-03"], expected: .context(trace, parent, true, "")),
        Row(name: "traceparent + tracestate", headers: ["traceparent": "00-\(trace)-\(parent)-01", "tracestate": "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"],
            expected: .context(trace, parent, true, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")),
        Row(name: "malformed tracestate is dropped", headers: ["traceparent": "00-\(trace)-\(parent)-01", "tracestate": "Bad Key=x"],
            expected: .context(trace, parent, true, "")),
        Row(name: "tracestate with a control character is dropped", headers: ["traceparent": "00-\(trace)-\(parent)-01", "tracestate": "a=b\nc"],
            expected: .context(trace, parent, true, "")),
        Row(name: "upper-case hex is invalid", headers: ["traceparent": "00-\(trace.uppercased())-\(parent)-01"], expected: .none),
        Row(name: "all-zero trace id is invalid", headers: ["traceparent": "00-\(String(repeating: "0", count: 32))-\(parent)-01"], expected: .none),
        Row(name: "all-zero parent id is invalid", headers: ["traceparent": "00-\(trace)-0000000000000000-01"], expected: .none),
        Row(name: "version ff is invalid", headers: ["traceparent": "ff-\(trace)-\(parent)-01"], expected: .none),
        Row(name: "version 00 with extra data is invalid", headers: ["traceparent": "00-\(trace)-\(parent)-01-xyz"], expected: .none),
        Row(name: "a later version may append fields", headers: ["traceparent": "01-\(trace)-\(parent)-01-xyz"], expected: .context(trace, parent, true, "")),
        Row(name: "two traceparents joined by ext_authz are invalid",
            headers: ["traceparent": "00-\(trace)-\(parent)-01,00-\(trace)-\(parent)-01"], expected: .none),
        Row(name: "invalid traceparent falls back to b3", headers: ["traceparent": "garbage", "b3": "\(trace)-\(parent)-1"],
            expected: .context(trace, parent, true, "")),
        Row(name: "b3 single sampled", headers: ["b3": "\(trace)-\(parent)-1"], expected: .context(trace, parent, true, "")),
        Row(name: "b3 single debug", headers: ["b3": "\(trace)-\(parent)-d"], expected: .context(trace, parent, true, "")),
        Row(name: "b3 single not sampled, with parent", headers: ["b3": "\(trace)-\(parent)-0-05e3ac9a4f6e3b90"],
            expected: .context(trace, parent, false, "")),
        Row(name: "b3 single deferred", headers: ["b3": "\(trace)-\(parent)"], expected: .context(trace, parent, nil, "")),
        Row(name: "b3 single 64-bit trace id", headers: ["b3": "a3ce929d0e0e4736-\(parent)-1"],
            expected: .context("0000000000000000a3ce929d0e0e4736", parent, true, "")),
        Row(name: "b3 0 alone", headers: ["b3": "0"], expected: .notSampled),
        Row(name: "b3 1 alone", headers: ["b3": "1"], expected: .sampledWithoutIDs),
        Row(name: "b3 bad sampling state", headers: ["b3": "\(trace)-\(parent)-x"], expected: .none),
        Row(name: "b3 multi sampled", headers: ["x-b3-traceid": trace, "x-b3-spanid": parent, "x-b3-sampled": "1"],
            expected: .context(trace, parent, true, "")),
        Row(name: "b3 multi not sampled", headers: ["x-b3-traceid": trace, "x-b3-spanid": parent, "x-b3-sampled": "0"],
            expected: .context(trace, parent, false, "")),
        Row(name: "b3 multi debug flag", headers: ["x-b3-traceid": trace, "x-b3-spanid": parent, "x-b3-flags": "1"],
            expected: .context(trace, parent, true, "")),
        Row(name: "b3 multi deferred", headers: ["x-b3-traceid": trace, "x-b3-spanid": parent], expected: .context(trace, parent, nil, "")),
        Row(name: "b3 multi debug flag beats sampled 0", headers: ["x-b3-traceid": trace, "x-b3-spanid": parent, "x-b3-sampled": "0",
                                                                 "x-b3-flags": "1"], expected: .context(trace, parent, true, "")),
        Row(name: "b3 multi lenient true", headers: ["x-b3-traceid": trace, "x-b3-spanid": parent, "x-b3-sampled": "true"],
            expected: .context(trace, parent, true, "")),
        // openzipkin/b3-propagation README: the sampling state may be propagated without ids ("Sampling State",
        // "Why propagate a reject sampling decision?"); debug (`X-B3-Flags: 1`) implies accept.
        Row(name: "b3 multi without span id: the ids are ignored, the accept kept", headers: ["x-b3-traceid": trace, "x-b3-sampled": "1"],
            expected: .sampledWithoutIDs),
        Row(name: "b3 multi with a malformed trace id: the accept kept",
            headers: ["x-b3-traceid": "xyz", "x-b3-spanid": parent, "x-b3-sampled": "1"], expected: .sampledWithoutIDs),
        Row(name: "x-b3-sampled 1 alone", headers: ["x-b3-sampled": "1"], expected: .sampledWithoutIDs),
        Row(name: "x-b3-sampled true alone", headers: ["x-b3-sampled": "true"], expected: .sampledWithoutIDs),
        Row(name: "x-b3-flags 1 alone (debug)", headers: ["x-b3-flags": "1"], expected: .sampledWithoutIDs),
        Row(name: "x-b3-flags 1 with x-b3-sampled 0, no ids: debug wins", headers: ["x-b3-flags": "1", "x-b3-sampled": "0"],
            expected: .sampledWithoutIDs),
        Row(name: "x-b3-flags 0 alone: no decision", headers: ["x-b3-flags": "0"], expected: .none),
        Row(name: "x-b3-sampled 0 alone", headers: ["x-b3-sampled": "0"], expected: .notSampled),
        Row(name: "x-b3-sampled false alone", headers: ["x-b3-sampled": "false"], expected: .notSampled),
        Row(name: "x-b3-sampled garbage alone: no decision", headers: ["x-b3-sampled": "yes"], expected: .none),
        Row(name: "nothing", headers: [:], expected: .none),
    ]

    @Test(arguments: rows)
    func extract(_ row: Row) {
        let got = TraceContext.extract { row.headers[$0] }
        switch (row.expected, got) {
        case (.context(let t, let p, let s, let ts), .context(let c)):
            #expect(c.traceID.description == t)
            #expect(c.parentSpanID?.description == p)
            #expect(c.sampled == s)
            #expect(c.traceState == ts)
        case (.notSampled, .notSampled), (.sampledWithoutIDs, .sampledWithoutIDs), (.none, .none):
            break
        default:
            Issue.record("expected \(row.expected), got \(got)")
        }
    }

    @Test func idBytesAreBigEndian() throws {
        let id = try #require(TraceID(hex: Substring(Self.trace)))
        #expect(id.bytes == [0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36])
        #expect(try #require(SpanID(hex: Substring(Self.parent))).bytes == [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7])
    }

    @Test func samplerFollowsTheParentElseTheRatio() {
        let none = TraceSampler(ratio: 0), all = TraceSampler(ratio: 1), half = TraceSampler(ratio: 0.5)
        let id = TraceID.random()
        #expect(none.sampled(id, parent: true))
        #expect(!all.sampled(id, parent: false))
        #expect(!none.sampled(id, parent: nil))
        #expect(all.sampled(id, parent: nil))
        var sampled = 0
        for _ in 0..<4000 where half.sampled(.random(), parent: nil) { sampled += 1 }
        #expect((1700...2300).contains(sampled))
        // Deterministic per trace id: the low 63 bits against ratio × 2^63.
        #expect(half.sampled(TraceID(high: 1, low: 0x3FFF_FFFF_FFFF_FFFF)!, parent: nil))
        #expect(!half.sampled(TraceID(high: 1, low: 0x4000_0000_0000_0000)!, parent: nil))
    }

    /// The 8-digits-at-a-time hex parser against the obvious one: every byte value at every position of a
    /// 16-digit id (and of an 8-digit word), and ids of every digit.
    @Test func hexWordsMatchDigitByDigit() {
        func reference(_ bytes: [UInt8]) -> UInt64? {
            var v: UInt64 = 0
            for c in bytes {
                guard let d = "0123456789abcdef".utf8.firstIndex(of: c) else { return nil }
                v = v << 4 | UInt64("0123456789abcdef".utf8.distance(from: "0123456789abcdef".utf8.startIndex, to: d))
            }
            return v
        }
        func parsed(_ bytes: [UInt8]) -> UInt64? { bytes.withUnsafeBufferPointer { Hex.uint64($0[...]) } }
        let base = Array("0123456789abcdef".utf8)
        for count in [8, 16] {
            for position in 0..<count {
                for c in 0...255 {
                    var bytes = Array(base.prefix(count))
                    bytes[position] = UInt8(c)
                    #expect(parsed(bytes) == reference(bytes), "byte \(c) at \(position) of \(count)")
                }
            }
        }
        for digits in ["ffffffffffffffff", "0000000000000000", "fedcba9876543210", "a0a0a0a09f9f9f9f"] {
            #expect(parsed(Array(digits.utf8)) == UInt64(digits, radix: 16))
        }
    }
}
