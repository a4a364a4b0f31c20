import Foundation
import Testing
import WardenGRPC

/// Unary calls from a real gRPC client (gRPC core, Support/GRPCClient.swift) against an in-process server.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct GRPCServerTests {
    struct Expectation: CustomTestStringConvertible, Sendable {
        let name: String
        let method: String
        let payload: [UInt8]
        let code: String
        let details: String
        let response: [UInt8]
        var testDescription: String { name }
    }

    static let cases: [Expectation] = [
        .init(name: "echo round trip", method: TestService.echo, payload: Array("hello warden".utf8),
              code: "OK", details: "", response: Array("hello warden".utf8)),
        .init(name: "empty message is a message", method: TestService.echo, payload: [],
              code: "OK", details: "", response: []),
        .init(name: "binary payload", method: TestService.echo, payload: (0..<300).map { UInt8($0 % 255) },
              code: "OK", details: "", response: (0..<300).map { UInt8($0 % 255) }),
        .init(name: "handler refuses 0xFF body", method: TestService.echo, payload: [0xFF, 1, 2],
              code: "INVALID_ARGUMENT", details: "body starts with 0xFF", response: []),
        .init(name: "unknown method", method: "/test.Nope/Missing", payload: [1, 2, 3],
              code: "UNIMPLEMENTED", details: "unknown method /test.Nope/Missing", response: []),
        .init(name: "unknown service of a known method name", method: "/other.Echo/Echo", payload: [],
              code: "UNIMPLEMENTED", details: "unknown method /other.Echo/Echo", response: []),
        .init(name: "handler that never responds", method: TestService.forget, payload: [7],
              code: "INTERNAL", details: "handler did not respond", response: []),
        .init(name: "answer from another thread", method: TestService.slow, payload: [9, 9],
              code: "OK", details: "", response: [9, 9]),
    ]

    @Test(arguments: cases)
    func unaryCall(_ expected: Expectation) throws {
        let service = TestService()
        let server = try service.startServer()
        defer { server.shutdown(gracePeriod: 1) }
        let outcome = try GRPCClient(target: "127.0.0.1:\(server.port)")
            .call(expected.method, expected.payload, timeout: 5)
        #expect(outcome == .init(code: expected.code, details: expected.details, payload: expected.response))
    }

    @Test func handlerSeesMethodAndPeer() throws {
        let server = try TestService().startServer()
        defer { server.shutdown(gracePeriod: 1) }
        let outcome = try GRPCClient(target: "127.0.0.1:\(server.port)").call(TestService.describe)
        let text = String(decoding: outcome.payload, as: UTF8.self)
        #expect(outcome.code == "OK")
        #expect(text.hasPrefix("\(TestService.describe)|ipv4:127.0.0.1:"), "\(text)")
    }

    /// `capturedMetadata`: only the named entries reach the handler, valid values only (printable ASCII,
    /// bounded); nothing is read when none is named.
    @Test(arguments: [
        (["traceparent", "b3"], [("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), ("x-other", "1"),
                                 ("b3", String(repeating: "a", count: 1025))],
         "traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        (["x-b3-traceid", "x-b3-sampled"], [("x-b3-traceid", "a3ce929d0e0e4736"), ("x-b3-sampled", "1")],
         "x-b3-sampled=1\nx-b3-traceid=a3ce929d0e0e4736"),
        ([], [("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")], ""),
    ] as [([String], [(String, String)], String)])
    func capturedMetadataReachesTheHandler(_ names: [String], _ sent: [(String, String)], _ expected: String) throws {
        let server = try TestService().startServer(capturedMetadata: Set(names))
        defer { server.shutdown(gracePeriod: 1) }
        let outcome = try GRPCClient(target: "127.0.0.1:\(server.port)")
            .call([.init(method: TestService.describe, payload: [], metadata: sent)])[0]
        #expect(outcome.code == "OK")
        #expect(String(decoding: outcome.payload, as: UTF8.self).split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false).last.map(String.init) == expected)
    }

    @Test func requestWithoutMessageIsInvalidArgument() throws {
        let server = try TestService().startServer()
        defer { server.shutdown(gracePeriod: 1) }
        let outcomes = try GRPCClient(target: "127.0.0.1:\(server.port)").call([
            .init(method: TestService.echo, payload: [], streamUnary: true),
            .init(method: TestService.echo, payload: [4, 2], streamUnary: true),
        ])
        #expect(outcomes == [
            .init(code: "INVALID_ARGUMENT", details: "missing or unreadable request message", payload: []),
            .init(code: "OK", details: "", payload: [4, 2]),
        ])
    }

    @Test func messageAboveLimitIsResourceExhausted() throws {
        let server = try TestService().startServer(maxReceiveMessageBytes: 1024)
        defer { server.shutdown(gracePeriod: 1) }
        let outcomes = try GRPCClient(target: "127.0.0.1:\(server.port)").call([
            .init(method: TestService.echo, payload: [UInt8](repeating: 0x61, count: 1025), timeout: 5),
            .init(method: TestService.echo, payload: [UInt8](repeating: 0x62, count: 1024), timeout: 5),
        ])
        #expect(outcomes.map(\.code) == ["RESOURCE_EXHAUSTED", "OK"])
        #expect(outcomes[1].payload.count == 1024)
    }

    @Test func manyConcurrentCallsAreAnsweredAndMatched() throws {
        let server = try TestService().startServer(threads: 2, callsPerThread: 8)
        defer { server.shutdown(gracePeriod: 1) }
        let result = try GRPCClient(target: "127.0.0.1:\(server.port)")
            .stress(method: TestService.echo, threads: 16, perThread: 100)
        #expect(result.errors == [])
        #expect(result.ok == 1600)
    }
}
