import Foundation
import Testing
@testable import WardenAuthz
import WardenIntrospection
import WardenJSON
import WardenJWKS
import WardenPolicy
import WardenTrace

/// One span per sampled check, a child of the caller's span; the decision log carries the ids.
@Suite("Check spans")
struct CheckTracerTests {
    final class Collector: SpanSink, @unchecked Sendable {
        private let lock = NSLock()
        private var items: [Span] = []
        func submit(_ span: consuming CheckSpan) { lock.withLock { items.append(span.span) } }
        var spans: [Span] { lock.withLock { items } }
    }

    static let trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    static let parent = "00f067aa0ba902b7"

    static func service(ratio: Double = 0, endUserID: Bool = false, redact: Set<String> = [], _ sink: Collector) throws -> CheckService {
        let tracer = CheckTracer(sampler: TraceSampler(ratio: ratio), sink: sink, endUserID: endUserID, redactClaims: redact)
        return CheckService(policies: try policies(), scope: WorkloadScope(), keyStore: JWKSStore(), tracer: tracer, clock: { testNow })
    }

    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var headers: [String: String]
        var ratio: Double = 0
        /// nil: no trace identity on the record.
        var parent: String??
        var exported: Bool
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(name: "W3C sampled: exported, child of Envoy's span", headers: ["traceparent": "00-\(trace)-\(parent)-01"], parent: .some(parent), exported: true),
        Row(name: "W3C not sampled: ids logged, nothing exported", headers: ["traceparent": "00-\(trace)-\(parent)-00"], ratio: 1,
            parent: .some(parent), exported: false),
        Row(name: "B3 multi sampled", headers: ["x-b3-traceid": trace, "x-b3-spanid": parent, "x-b3-sampled": "1"], parent: .some(parent),
            exported: true),
        Row(name: "B3 deferred, ratio 0: not exported", headers: ["b3": "\(trace)-\(parent)"], parent: .some(parent), exported: false),
        Row(name: "B3 deferred, ratio 1: exported", headers: ["b3": "\(trace)-\(parent)"], ratio: 1, parent: .some(parent), exported: true),
        Row(name: "no context, ratio 0: no trace", headers: [:], parent: nil, exported: false),
        Row(name: "no context, ratio 1: a root span", headers: [:], ratio: 1, parent: .some(nil), exported: true),
        Row(name: "b3: 0 and ratio 1: the caller said no", headers: ["b3": "0"], ratio: 1, parent: nil, exported: false),
    ]

    @Test(arguments: rows)
    func sampling(_ row: Row) throws {
        let sink = Collector()
        let p = try Self.service(ratio: row.ratio, sink)
        var headers = row.headers
        headers["authorization"] = "Bearer \(token())"
        let r = request("GET", "/orders?x=1", headers: headers)
        let result = p.decide(r)
        #expect(result.decision.isAllowed)
        let fields = DecisionLog(logger: Logger(level: .debug, format: .json)).fields(result, request: r)
        let logged = fields.first { $0.0 == "trace_id" }?.1.stringValue
        guard let parent = row.parent else {
            #expect(result.record.trace == nil)
            #expect(logged == nil)
            #expect(sink.spans.isEmpty)
            return
        }
        let t = try #require(result.record.trace)
        #expect(t.parentSpanID?.description == parent)
        if parent != nil { #expect(t.traceID.description == Self.trace) }
        #expect(logged == t.traceID.description)
        #expect(fields.first { $0.0 == "span_id" }?.1.stringValue == t.spanID.description)
        #expect(sink.spans.count == (row.exported ? 1 : 0))
        if let span = sink.spans.first {
            #expect(span.traceID == t.traceID && span.spanID == t.spanID && span.parentSpanID == t.parentSpanID)
            #expect(span.kind == .server && span.name == CheckTracer.spanName)
        }
    }

    @Test func attributes() throws {
        let sink = Collector()
        let p = try Self.service(endUserID: true, sink)
        let tok = token(["email": .string("alice@example.org")])
        let r = request("POST", "/users/alice@example.org?access_token=\(tok)", headers: ["traceparent": "00-\(Self.trace)-\(Self.parent)-01",
                                                                                          "tracestate": "vendor=abc",
                                                                                          "authorization": "Bearer \(tok)"],
                        host: "api.example.com:8443")
        _ = p.decide(r)
        let span = try #require(sink.spans.first)
        #expect(span.attribute("http.request.method") == .string("POST"))
        #expect(span.attribute("url.path") == .string("/users/alice@example.org"))
        #expect(span.attribute("server.address") == .string("api.example.com"))
        #expect(span.attribute("server.port") == .int(8443))
        #expect(span.attribute("warden.decision") == .string("allow"))
        #expect(span.attribute("warden.reason_code") == .string("allowed"))
        #expect(span.attribute("enduser.id") == .string("\(issuer)/alice"))
        #expect(span.traceState == "vendor=abc")
        #expect(span.endUnixNanos >= span.startUnixNanos)
        // Wall clock: within a minute of now.
        #expect(abs(Double(span.startUnixNanos) / 1e9 - Date().timeIntervalSince1970) < 60)
        #expect(!"\(span)".contains(tok))
    }

    /// `--redact-claims`: the claim's value leaves the path, and a principal it would change is not sent.
    @Test func redactedClaimsNeverReachTheSpan() throws {
        let sink = Collector()
        let p = try Self.service(endUserID: true, redact: ["email", "sub"], sink)
        let r = request("GET", "/users/alice@example.org", headers: ["traceparent": "00-\(Self.trace)-\(Self.parent)-01",
                                                                     "authorization": "Bearer \(token(["email": .string("alice@example.org")]))"])
        _ = p.decide(r)
        let span = try #require(sink.spans.first)
        #expect(span.attribute("url.path") == .string("/users/[redacted]"))
        #expect(span.attribute("enduser.id") == nil)
        #expect(!"\(span)".contains("alice"))
    }

    @Test func denialNamesReasonCodeAndPolicy() throws {
        let sink = Collector()
        let set = try policies(rule: "", """
            apiVersion: security.istio.io/v1
            kind: AuthorizationPolicy
            metadata: {name: no-admin, namespace: default}
            spec:
              action: DENY
              rules: [{to: [{operation: {paths: ["/admin"]}}]}]
            """)
        let tracer = CheckTracer(sampler: TraceSampler(ratio: 1), sink: sink)
        let p = CheckService(policies: set, scope: WorkloadScope(), keyStore: JWKSStore(), tracer: tracer, clock: { testNow })
        _ = p.decide(request("GET", "/admin", headers: ["authorization": "Bearer \(token())"]))
        _ = p.decide(request("GET", "/x", headers: ["authorization": "Bearer \(token(["exp": .number(testNow - 3600)]))"]))
        let spans = sink.spans
        #expect(spans.count == 2)
        #expect(spans[0].attribute("warden.decision") == .string("deny"))
        #expect(spans[0].attribute("warden.policy") == .string("default/no-admin rule[0]"))
        #expect(spans[0].attribute("warden.status") == .int(403))
        #expect(spans[1].attribute("warden.reason_code") == .string("jwt_expired"))
        #expect(spans[0].traceID != spans[1].traceID)
    }

    /// The front door's own call context (Envoy's ext_authz span, in the gRPC metadata) wins over the
    /// downstream request's headers; without it, the request's headers are used.
    @Test func callContextWins() throws {
        let sink = Collector()
        let p = try Self.service(sink)
        let envoySpan = "1111111111111111", client = "2222222222222222"
        let r = request(headers: ["traceparent": "00-\(Self.trace)-\(client)-01", "authorization": "Bearer \(token())"])
        let box = ResultBox()
        p.check(r, callTraceHeaders: ["traceparent": "00-\(Self.trace)-\(envoySpan)-01"]) { box.set($0) }
        #expect(box.get()?.record.trace?.parentSpanID?.description == envoySpan)
        p.check(r, callTraceHeaders: ["grpc-timeout": "1S"]) { box.set($0) }
        #expect(box.get()?.record.trace?.parentSpanID?.description == client)
        #expect(sink.spans.count == 2)
    }

    /// `tracestate` reaches the span from where the context came (the call's metadata or the request's
    /// headers), only with a W3C traceparent, and is not read for a check that is not sampled.
    struct StateRow: Sendable, CustomTestStringConvertible {
        var name: String
        var call: [String: String]
        var headers: [String: String]
        var expected: String?  // nil: no span exported
        var testDescription: String { name }
    }

    static let stateRows: [StateRow] = [
        StateRow(name: "request's W3C context and tracestate", call: [:],
                 headers: ["traceparent": "00-\(trace)-\(parent)-01", "tracestate": "req=1"], expected: "req=1"),
        StateRow(name: "call's context: the call's tracestate, not the request's",
                 call: ["traceparent": "00-\(trace)-1111111111111111-01", "tracestate": "call=1"],
                 headers: ["traceparent": "00-\(trace)-\(parent)-01", "tracestate": "req=1"], expected: "call=1"),
        StateRow(name: "call's context without tracestate: none", call: ["traceparent": "00-\(trace)-1111111111111111-01"],
                 headers: ["tracestate": "req=1"], expected: ""),
        StateRow(name: "B3 context: a tracestate is not carried", call: [:],
                 headers: ["b3": "\(trace)-\(parent)-1", "tracestate": "req=1"], expected: ""),
        StateRow(name: "malformed tracestate: dropped", call: [:],
                 headers: ["traceparent": "00-\(trace)-\(parent)-01", "tracestate": "Bad Key=x"], expected: ""),
        StateRow(name: "not sampled: no span, no tracestate kept", call: [:],
                 headers: ["traceparent": "00-\(trace)-\(parent)-00", "tracestate": "req=1"], expected: nil),
    ]

    @Test(arguments: stateRows)
    func traceStateFollowsTheContext(_ row: StateRow) throws {
        let sink = Collector()
        let p = try Self.service(sink)
        var headers = row.headers
        headers["authorization"] = "Bearer \(token())"
        let box = ResultBox()
        p.check(request(headers: headers), callTraceHeaders: row.call) { box.set($0) }
        let identity = try #require(box.get()?.record.trace)
        #expect(sink.spans.first?.traceState == row.expected)
        #expect(identity.traceState == (row.expected ?? ""))
    }

    /// A check that waited (here for an introspection answer) says so in an event, with the wait.
    @Test func waitsAreEvents() throws {
        final class Slow: IntrospectionTransport, @unchecked Sendable {
            func post(_ request: FetchRequest, form: [UInt8], headers: [String]) throws(FetchError) -> FetchedDocument {
                Thread.sleep(forTimeInterval: 0.03)
                return FetchedDocument(status: 200, body: Array(#"{"active":true,"sub":"alice","aud":"api","exp":1767225900}"#.utf8))
            }
        }
        let secret = FileManager.default.temporaryDirectory.appendingPathComponent("warden-trace-secret-\(UUID().uuidString)")
        try "s3cret\n".write(to: secret, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: secret) }
        let tp = """
            apiVersion: security.warden.io/v1alpha1
            kind: TokenPolicy
            metadata: {name: opaque, namespace: default}
            spec:
              jwtRules:
              - issuer: "\(issuer)"
                introspection: {endpoint: "https://idp.example/introspect", clientId: warden, clientSecretFile: "\(secret.path)"}
            """
        let sink = Collector()
        let p = CheckService(policies: try policies(rule: "", tp), scope: WorkloadScope(), keyStore: JWKSStore(),
                             introspectionTransport: Slow(), tracer: CheckTracer(sampler: TraceSampler(ratio: 1), sink: sink),
                             clock: { testNow })
        let done = DispatchSemaphore(value: 0)
        p.check(request(headers: ["authorization": "Bearer opaque-token-123"])) { _ in done.signal() }
        #expect(done.wait(timeout: .now() + 5) == .success)
        // The span is handed over after the completion (and the log line), on the introspection thread.
        for _ in 0..<500 where sink.spans.isEmpty { Thread.sleep(forTimeInterval: 0.01) }
        let span = try #require(sink.spans.first)
        #expect(span.attribute("warden.decision") == .string("allow"))
        let event = try #require(span.events.first)
        #expect(event.name == "warden.introspection.wait")
        guard case .double(let ms)? = event.attributes.first(where: { $0.key == "warden.introspection.wait_ms" })?.value else {
            Issue.record("no wait_ms"); return
        }
        #expect(ms >= 25)
    }

    /// Tracing off: no header is read, the record has no trace.
    @Test func offMeansNoTrace() throws {
        let p = pipeline(try policies())
        let result = p.decide(request(headers: ["traceparent": "00-\(Self.trace)-\(Self.parent)-01"]))
        #expect(result.record.trace == nil)
    }

    @Test(arguments: [("h", "h", nil), ("h:80", "h", 80), ("[::1]:9", "::1", 9), ("::1", "::1", nil), ("h:x", "h:x", nil)] as [(String, String, Int?)])
    func hostPort(_ host: String, _ address: String, _ port: Int?) {
        let (a, p) = CheckTracer.splitHostPort(host)
        #expect(a == address && p == port)
    }
}
