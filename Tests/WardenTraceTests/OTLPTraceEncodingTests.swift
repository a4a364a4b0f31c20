import Foundation
import Testing
import WardenOTLP
import WardenTrace

/// The OTLP trace request, byte for byte as protoc encodes `Fixtures/export.txtpb` with proto/opentelemetry.
@Suite("OTLP trace encoding")
struct OTLPTraceEncodingTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    @Test func fixedSpansMatchProtoc() throws {
        let golden = try [UInt8](Data(contentsOf: Self.fixtures.appendingPathComponent("export.protoc.binpb")))
        let first = Span(traceID: TraceID(hex: "4bf92f3577b34da6a3ce929d0e0e4736")!, spanID: SpanID(0x0102_0304_0506_0708)!,
                         parentSpanID: SpanID(hex: "00f067aa0ba902b7"), traceState: "rojo=00f067aa0ba902b7", name: "warden.check",
                         kind: .server, startUnixNanos: 1_767_225_600_000_000_000, endUnixNanos: 1_767_225_600_000_250_000,
                         attributes: [SpanAttribute("http.request.method", "GET"), SpanAttribute("server.port", 8443),
                                      SpanAttribute("warden.generation", 0), SpanAttribute("warden.flag", .bool(false))],
                         events: [SpanEvent(name: "warden.jwks.wait", unixNanos: 1_767_225_600_000_200_000,
                                            attributes: [SpanAttribute("warden.jwks.wait_ms", .double(0.125))])])
        let second = Span(traceID: TraceID(high: 0, low: 1)!, spanID: SpanID(UInt64.max)!, parentSpanID: nil, name: "warden.check",
                          kind: .server, startUnixNanos: 1, endUnixNanos: 2, status: .error,
                          statusMessage: "the issuer's keys are unavailable")
        let bytes = OTLPTraceEncoding.exportRequest(
            [first, second],
            resource: [SpanAttribute("service.name", "warden"), SpanAttribute("service.version", "0.1.0"),
                       SpanAttribute("deployment.environment.name", "")],
            scopeName: "warden", scopeVersion: "0.1.0")
        #expect(bytes == golden)
    }

    /// A check span's typed encoding (the exporter's) is its generic rendering's encoding, byte for byte,
    /// with every optional attribute present or absent and values of several lengths.
    struct CheckRow: Sendable, CustomTestStringConvertible {
        var name: String
        var span: CheckSpan
        var testDescription: String { name }
    }

    static func check(parent: Bool = true, traceState: String = "", address: String = "api.example.com", port: Int? = 8443,
                      allowed: Bool = true, status: Int = 200, policy: String? = nil, generation: Int = 3,
                      dryRun: (would: String, reasonCode: String)? = nil, user: String? = nil, waits: [CheckSpan.Wait] = [],
                      path: String = "/orders", method: String = "GET", methodOriginal: String? = nil, error: String? = nil) -> CheckSpan {
        CheckSpan(traceID: TraceID(hex: "4bf92f3577b34da6a3ce929d0e0e4736")!, spanID: SpanID(0x0102_0304_0506_0708)!,
                  parentSpanID: parent ? SpanID(hex: "00f067aa0ba902b7") : nil, traceState: traceState,
                  startUnixNanos: 1_767_225_600_000_000_000, endUnixNanos: 1_767_225_600_000_250_000, method: method,
                  methodOriginal: methodOriginal, path: path,
                  serverAddress: address, serverPort: port, allowed: allowed, status: status, reasonCode: allowed ? "allowed" : "jwt_expired",
                  policy: policy, generation: generation, dryRun: dryRun, endUserID: user, waits: waits, error: error)
    }

    static let checkRows: [CheckRow] = [
        CheckRow(name: "allowed, parent, host and port", span: check()),
        CheckRow(name: "root span, tracestate, no address, no port", span: check(parent: false, traceState: "rojo=00f067aa0ba902b7",
                                                                              address: "", port: nil)),
        CheckRow(name: "denied by a policy, generation 0", span: check(allowed: false, status: 403, policy: "default/no-admin rule[0]",
                                                                        generation: 0)),
        CheckRow(name: "dry-run and end user", span: check(dryRun: ("deny_401", "jwt_audience_mismatch"), user: "https://issuer/alice")),
        CheckRow(name: "JWKS wait event", span: check(waits: [CheckSpan.Wait(kind: .jwks, step: .istio, unixNanos: 1_767_225_600_000_200_000,
                                                                              milliseconds: 0.125)])),
        CheckRow(name: "introspection wait event", span: check(waits: [CheckSpan.Wait(kind: .introspection, step: .istio, unixNanos: 5,
                                                                                       milliseconds: 1500)])),
        CheckRow(name: "jwt_authn and Istio key waits, then a token exchange, ERROR status",
                 span: check(allowed: false, status: 503, waits: [CheckSpan.Wait(kind: .jwks, step: .jwtAuthn, unixNanos: 3, milliseconds: 2),
                                                                  CheckSpan.Wait(kind: .jwks, step: .istio, unixNanos: 4, milliseconds: 1),
                                                                  CheckSpan.Wait(exchange: .unavailable, unixNanos: 5, milliseconds: 900)],
                             error: "the token endpoint gave no usable answer")),
        CheckRow(name: "cached token exchange", span: check(waits: [CheckSpan.Wait(exchange: .cached, unixNanos: 5, milliseconds: 0)])),
        CheckRow(name: "_OTHER method with the original", span: check(method: "_OTHER", methodOriginal: "PROPFIND")),
        CheckRow(name: "long original method", span: check(method: "_OTHER", methodOriginal: String(repeating: "M", count: 1024))),
        CheckRow(name: "long error message", span: check(error: String(repeating: "e", count: 200))),
        CheckRow(name: "ints: one-byte, two-byte, three-byte varints", span: check(port: 65535, status: 127, generation: 0x3FFF)),
        CheckRow(name: "ints: 128 and 16,384", span: check(port: 128, status: 401, generation: 0x4000)),
        // url.path is 8 bytes: a value of 111 bytes makes the KeyValue 125 bytes long (the last one-byte length).
        CheckRow(name: "strings at the one-byte length boundary", span: check(path: "/" + String(repeating: "a", count: 110))),
        CheckRow(name: "strings just past it", span: check(path: "/" + String(repeating: "a", count: 111))),
        CheckRow(name: "strings past it by more", span: check(path: "/" + String(repeating: "a", count: 114))),
        CheckRow(name: "long path and policy (multi-byte lengths)", span: check(policy: String(repeating: "p", count: 300),
                                                                                 path: "/" + String(repeating: "ü", count: 200))),
    ]

    @Test(arguments: checkRows)
    func checkSpanEncodesAsItsRendering(_ row: CheckRow) {
        let resource = [SpanAttribute("service.name", "warden")]
        let typed = OTLPTraceEncoding.exportRequest([row.span, row.span], resource: resource, scopeName: "warden", scopeVersion: "0.1.0")
        let generic = OTLPTraceEncoding.exportRequest([row.span.span, row.span.span], resource: resource, scopeName: "warden",
                                                      scopeVersion: "0.1.0")
        #expect(typed == generic)
    }
}
