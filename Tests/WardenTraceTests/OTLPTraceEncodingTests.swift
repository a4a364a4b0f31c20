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
                          kind: .server, startUnixNanos: 1, endUnixNanos: 2, status: .error)
        let bytes = OTLPTraceEncoding.exportRequest(
            [first, second],
            resource: [SpanAttribute("service.name", "warden"), SpanAttribute("service.version", "0.1.0"),
                       SpanAttribute("deployment.environment.name", "")],
            scopeName: "warden", scopeVersion: "0.1.0")
        #expect(bytes == golden)
    }
}
