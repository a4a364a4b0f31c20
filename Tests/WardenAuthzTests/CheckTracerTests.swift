import Foundation
import Testing
@testable import WardenAuthz
import WardenCrypto
import WardenIntrospection
import WardenJSON
import WardenJWT
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
        // openzipkin/b3-propagation: a sampling decision may travel without ids; debug implies accept.
        Row(name: "x-b3-sampled: 1 alone, ratio 0: a root span, exported", headers: ["x-b3-sampled": "1"], parent: .some(nil), exported: true),
        Row(name: "x-b3-flags: 1 alone, ratio 0: a root span, exported", headers: ["x-b3-flags": "1"], parent: .some(nil), exported: true),
        Row(name: "x-b3-sampled: 0 alone, ratio 1: the caller said no", headers: ["x-b3-sampled": "0"], ratio: 1, parent: nil, exported: false),
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
        #expect(event.attributes.first { $0.key == "warden.step" }?.value == .string("istio"))
        #expect(span.status == .unset)
    }

    /// A P-256 key made for this test (a remote JWKS never yields the suite's inline `oct` key) and its JWKS.
    static let ecPEM = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgGtF82ZPXd+IdEcN7
        3VRE2GX3aidO3rip0Vu1BFGD2puhRANCAAQkOo1DpHW+KC5XQkkCIY2NlqKZgMQz
        Rsrk5iDgESWwib1/5eFs2q3IKPUU/Q6o0S7svtHz9HRF5sYltB7JFrYM
        -----END PRIVATE KEY-----
        """
    static let ecJWKS = #"{"keys":[{"kty":"EC","crv":"P-256","kid":"ec1","alg":"ES256","x":"JDqNQ6R1viguV0JJAiGNjZaimYDEM0bK5OYg4BElsIk","y":"vX_l4Wzarcgo9RT9DqjRLuy-0fP0dEXmxiW0HskWtgw"}]}"#

    /// An ES256 token of `issuer` (sub alice, aud api) signed with `ecPEM`.
    static func ecToken() throws -> String {
        let header = #"{"alg":"ES256","typ":"JWT","kid":"ec1"}"#
        let claims = JSONValue.object(["iss": .string(issuer), "sub": .string("alice"), "aud": .string("api"), "exp": .number(testNow + 300)])
        let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(claims.serialized.utf8))
        return input + "." + Base64URL.encode(try PrivateKey(pem: ecPEM).sign(Array(input.utf8), scheme: .ecdsaRaw(.sha256)))
    }

    /// Serves `ecJWKS` after `delay` (or fails): every key source starts cold, so a check waits for it.
    final class SlowKeys: JWKSFetcher, @unchecked Sendable {
        let delay: Double
        let fail: Bool
        init(delay: Double, fail: Bool = false) { self.delay = delay; self.fail = fail }
        func get(_ request: FetchRequest) throws(FetchError) -> FetchedDocument {
            Thread.sleep(forTimeInterval: delay)
            if fail { throw .couldNotConnect("connection refused") }
            return FetchedDocument(status: 200, body: Array(CheckTracerTests.ecJWKS.utf8))
        }
    }

    /// Runs one check that completes on another thread and returns the span it exported.
    static func span(of p: CheckService, _ r: RequestAttributes, _ sink: Collector, count: Int = 1) throws -> Span {
        let done = DispatchSemaphore(value: 0)
        p.check(r) { _ in done.signal() }
        #expect(done.wait(timeout: .now() + 5) == .success)
        // The span is handed over after the completion (and the log line), on the completing thread.
        for _ in 0..<500 where sink.spans.count < count { Thread.sleep(forTimeInterval: 0.01) }
        return try #require(sink.spans.count == count ? sink.spans.last : nil)
    }

    static func milliseconds(_ e: SpanEvent, _ key: String) -> Double? {
        guard case .double(let ms)? = e.attributes.first(where: { $0.key == key })?.value else { return nil }
        return ms
    }

    /// An Envoy jwt_authn document's key wait is an event too, beside the Istio step's: each source is cold.
    @Test func jwtAuthnKeyWaitsAreEvents() throws {
        let set = try PolicySet.parse(yaml: """
            name: envoy.filters.http.jwt_authn
            typed_config:
              providers:
                a:
                  issuer: "\(issuer)"
                  remote_jwks: {http_uri: {uri: "http://127.0.0.1:9/a.json", cluster: idp, timeout: 2s}}
                  forward: true  # else the token is gone before the Istio step (Envoy removeJwt): no second wait
              rules:
              - match: {prefix: /}
                requires: {provider_name: a}
            ---
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata: {name: jwt, namespace: default}
            spec:
              jwtRules:
              - {issuer: "\(issuer)", jwksUri: "http://127.0.0.1:9/b.json"}
            """)
        let sink = Collector()
        let store = JWKSStore(configuration: JWKSStoreConfiguration(fetchTimeout: 2, logger: { _ in }), fetcher: SlowKeys(delay: 0.03))
        let p = CheckService(policies: set, scope: WorkloadScope(), keyStore: store,
                             tracer: CheckTracer(sampler: TraceSampler(ratio: 1), sink: sink), clock: { testNow })
        let span = try Self.span(of: p, request(headers: ["authorization": "Bearer \(try Self.ecToken())"]), sink)
        #expect(span.attribute("warden.decision") == .string("allow"), "\(span.attribute("warden.reason_code") as Any)")
        try #require(span.events.map(\.name) == ["warden.jwks.wait", "warden.jwks.wait"])
        #expect(span.events.map { $0.attributes.first { $0.key == "warden.step" }?.value } == [.string("jwt_authn"), .string("istio")])
        for e in span.events { #expect((Self.milliseconds(e, "warden.jwks.wait_ms") ?? 0) >= 25, "\(e)") }
        #expect(span.events[0].unixNanos <= span.events[1].unixNanos)
        #expect(span.events.allSatisfy { $0.unixNanos >= span.startUnixNanos && $0.unixNanos <= span.endUnixNanos })
    }

    /// Warden's own failure is the span's ERROR status, with a fixed message; a deny about the request is
    /// UNSET (OpenTelemetry HTTP semantic conventions: a SERVER span's 4xx is not an error).
    @Test func unreachableKeysAreAnErrorStatusADenyIsNot() throws {
        let sink = Collector()
        let set = try PolicySet.parse(yaml: """
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata: {name: jwt, namespace: default}
            spec:
              jwtRules:
              - {issuer: "\(issuer)", jwksUri: "http://127.0.0.1:9/down.json"}
            """)
        let store = JWKSStore(configuration: JWKSStoreConfiguration(fetchTimeout: 2, logger: { _ in }), fetcher: SlowKeys(delay: 0, fail: true))
        let p = CheckService(policies: set, scope: WorkloadScope(), keyStore: store,
                             tracer: CheckTracer(sampler: TraceSampler(ratio: 1), sink: sink), clock: { testNow })
        let span = try Self.span(of: p, request(headers: ["authorization": "Bearer \(token())"]), sink)
        #expect(span.attribute("warden.reason_code") == .string("jwt_jwks_unavailable"))
        #expect(span.status == .error)
        #expect(span.statusMessage == "the issuer's keys are unavailable")
        // Denials about the request: UNSET.
        let denied = Collector()
        let q = try Self.service(ratio: 1, denied)
        _ = q.decide(request(headers: ["authorization": "Bearer \(token(["exp": .number(testNow - 3600)]))"]))
        _ = q.decide(request())
        #expect(denied.spans.map(\.status) == [.unset, .unset])
        #expect(denied.spans.map(\.statusMessage) == ["", ""])
    }

    /// A token endpoint: `status` and `body` after `delay`, or no answer (`status` nil).
    final class TokenEndpoint: IntrospectionTransport, @unchecked Sendable {
        let status: Int?
        let body: String
        let delay: Double
        init(status: Int?, body: String = "", delay: Double = 0) { self.status = status; self.body = body; self.delay = delay }
        func post(_ request: FetchRequest, form: [UInt8], headers: [String]) throws(FetchError) -> FetchedDocument {
            if delay > 0 { Thread.sleep(forTimeInterval: delay) }
            guard let status else { throw .couldNotConnect("connection refused") }
            return FetchedDocument(status: status, body: Array(body.utf8))
        }
    }

    struct ExchangeRow: Sendable, CustomTestStringConvertible {
        var name: String
        var endpoint: TokenEndpoint
        var status: Int
        var outcome: String
        var error: String?
        var testDescription: String { name }
    }

    static let exchangeRows: [ExchangeRow] = [
        ExchangeRow(name: "exchanged: 200, event outcome exchanged, status UNSET",
                    endpoint: TokenEndpoint(status: 200, body: #"{"access_token":"new.tok.en","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":300}"#,
                                            delay: 0.03),
                    status: 200, outcome: "exchanged"),
        ExchangeRow(name: "refused (RFC 8693 §2.2.2): 403, outcome refused, status UNSET",
                    endpoint: TokenEndpoint(status: 400, body: #"{"error":"invalid_target"}"#, delay: 0.03), status: 403, outcome: "refused"),
        ExchangeRow(name: "no answer: 503, outcome unavailable, status ERROR", endpoint: TokenEndpoint(status: nil, delay: 0.03),
                    status: 503, outcome: "unavailable", error: "the token endpoint gave no usable answer"),
    ]

    /// A token exchange is an event with its outcome and duration; a second check with the same (cached)
    /// token reuses the exchanged token: outcome `cached`.
    @Test(arguments: exchangeRows)
    func tokenExchangeIsAnEvent(_ row: ExchangeRow) throws {
        let secret = FileManager.default.temporaryDirectory.appendingPathComponent("warden-trace-exchange-\(UUID().uuidString)")
        try "s3cret\n".write(to: secret, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: secret) }
        let tp = """
            apiVersion: security.warden.io/v1alpha1
            kind: TokenPolicy
            metadata: {name: exchange, namespace: default}
            spec:
              tokenExchange:
              - issuer: "\(issuer)"
                to: [{operation: {paths: ["/orders*"]}}]
                endpoint: https://idp.example/token
                clientId: warden
                clientSecretFile: "\(secret.path)"
                audiences: [orders-api]
            """
        let sink = Collector()
        let p = CheckService(policies: try policies(rule: "", tp), scope: WorkloadScope(), keyStore: JWKSStore(), tokenCache: (100, 1 << 20),
                             introspectionTransport: row.endpoint, tracer: CheckTracer(sampler: TraceSampler(ratio: 1), sink: sink),
                             clock: { testNow })
        let r = request("GET", "/orders/7", headers: ["authorization": "Bearer \(token())"])
        let span = try Self.span(of: p, r, sink)
        #expect(span.attribute("warden.status") == .int(Int64(row.status)))
        let event = try #require(span.events.first)
        #expect(span.events.count == 1)
        #expect(event.name == "warden.token_exchange")
        #expect(event.attributes.first { $0.key == "warden.token_exchange.outcome" }?.value == .string(row.outcome))
        #expect((Self.milliseconds(event, "warden.token_exchange.wait_ms") ?? 0) >= 25)
        #expect(event.unixNanos >= span.startUnixNanos && event.unixNanos <= span.endUnixNanos)
        #expect(span.status == (row.error == nil ? .unset : .error))
        #expect(span.statusMessage == (row.error ?? ""))
        guard row.outcome == "exchanged" else { return }
        let again = try Self.span(of: p, r, sink, count: 2)
        #expect(again.events.first?.attributes.first { $0.key == "warden.token_exchange.outcome" }?.value == .string("cached"))
    }

    /// `http.request.method` is a method the conventions know, else `_OTHER` with the method as sent in
    /// `http.request.method_original`; long values are cut at `CheckSpan.maxAttributeBytes` on a character.
    @Test(arguments: [("GET", "GET", nil), ("PATCH", "PATCH", nil), ("CONNECT", "CONNECT", nil), ("get", "_OTHER", "get"),
                      ("PROPFIND", "_OTHER", "PROPFIND"), ("QUERY", "_OTHER", "QUERY")] as [(String, String, String?)])
    func methodFollowsTheConventions(_ sent: String, _ method: String, _ original: String?) throws {
        let sink = Collector()
        let p = try Self.service(ratio: 1, sink)
        _ = p.decide(request(sent, "/x", headers: ["authorization": "Bearer \(token())"]))
        let span = try #require(sink.spans.first)
        #expect(span.attribute("http.request.method") == .string(method))
        #expect(span.attribute("http.request.method_original") == original.map { .string($0) })
    }

    @Test func longAttributesAreTruncated() throws {
        let sink = Collector()
        let p = try Self.service(ratio: 1, sink)
        // 1023 ASCII bytes then a 2-byte character: cut before it, at 1023 bytes.
        let path = "/" + String(repeating: "a", count: 1022) + "é" + String(repeating: "b", count: 5000)
        _ = p.decide(request("GET", path + "?q=1", headers: ["authorization": "Bearer \(token())"], host: String(repeating: "h", count: 3000)))
        let span = try #require(sink.spans.first)
        guard case .string(let exported)? = span.attribute("url.path"), case .string(let host)? = span.attribute("server.address") else {
            Issue.record("no url.path or server.address"); return
        }
        #expect(exported == "/" + String(repeating: "a", count: 1022))
        #expect(host.utf8.count == CheckSpan.maxAttributeBytes)
        #expect(CheckSpan.truncated("/" + String(repeating: "a", count: 1021) + "é") == "/" + String(repeating: "a", count: 1021) + "é")
    }

    /// `url.path` is percent-encoded (RFC 3986 §2.1): a cut never leaves a partial `%XX` escape at the end,
    /// it backs off to before the escape; other attributes are cut on characters only.
    @Test(arguments: [
        ("escape cut after its second byte", "/" + String(repeating: "a", count: 1021) + "%2Fzzzz", true, "/" + String(repeating: "a", count: 1021)),
        ("escape cut after its %", "/" + String(repeating: "a", count: 1022) + "%2Fzzzz", true, "/" + String(repeating: "a", count: 1022)),
        ("escape whole before the cut", "/" + String(repeating: "a", count: 1020) + "%2Fzzzz", true, "/" + String(repeating: "a", count: 1020) + "%2F"),
        ("no escape", "/" + String(repeating: "a", count: 2000), true, "/" + String(repeating: "a", count: 1023)),
        ("not percent-encoded: cut on the character only", String(repeating: "a", count: 1022) + "%2Fzzzz", false, String(repeating: "a", count: 1022) + "%2"),
    ] as [(String, String, Bool, String)])
    func truncationKeepsEscapesWhole(_ name: String, _ value: String, _ percentEncoded: Bool, _ expected: String) {
        #expect(CheckSpan.truncated(value, percentEncoded: percentEncoded) == expected, "\(name)")
    }

    @Test func aLongPathIsCutBeforeAPartialEscape() throws {
        let sink = Collector()
        let p = try Self.service(ratio: 1, sink)
        let path = "/" + String(repeating: "a", count: 1021) + "%C3%A9" + String(repeating: "b", count: 100)
        _ = p.decide(request("GET", path, headers: ["authorization": "Bearer \(token())"]))
        let span = try #require(sink.spans.first)
        #expect(span.attribute("url.path") == .string("/" + String(repeating: "a", count: 1021)))
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
