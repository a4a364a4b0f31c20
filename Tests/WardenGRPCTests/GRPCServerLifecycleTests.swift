import Foundation
import Testing
import WardenGRPC

/// Creation errors, binding, and shutdown with calls in flight.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct GRPCServerLifecycleTests {
    static let handlers = TestService().handlers

    @Test func secondServerOnTakenPortFails() throws {
        let first = try GRPCServer(configuration: .init(listen: "127.0.0.1:0", threads: 1), handlers: Self.handlers)
        #expect(first.port > 0)
        let address = "127.0.0.1:\(first.port)"
        #expect(throws: GRPCServerError.bindFailed(address: address)) {
            _ = try GRPCServer(configuration: .init(listen: address, threads: 1), handlers: Self.handlers)
        }
        // Still taken once the first one serves.
        first.start()
        #expect(throws: GRPCServerError.bindFailed(address: address)) {
            _ = try GRPCServer(configuration: .init(listen: address, threads: 1), handlers: Self.handlers)
        }
        first.shutdown(gracePeriod: 1)
        // Free again after shutdown.
        let again = try GRPCServer(configuration: .init(listen: address, threads: 1), handlers: Self.handlers)
        #expect(again.port == first.port)
    }

    struct Invalid: Sendable, CustomTestStringConvertible {
        let configuration: GRPCServerConfiguration
        let paths: [String]
        let error: GRPCServerError
        var testDescription: String { "\(error)" }
    }

    static let invalid: [Invalid] = [
        .init(configuration: .init(listen: "127.0.0.1:0", threads: 0), paths: [], error: .invalidSetting(name: "threads", value: 0)),
        .init(configuration: .init(listen: "127.0.0.1:0", callsPerThread: 0), paths: [], error: .invalidSetting(name: "callsPerThread", value: 0)),
        .init(configuration: .init(listen: "127.0.0.1:0", maxReceiveMessageBytes: -1), paths: [], error: .invalidSetting(name: "maxReceiveMessageBytes", value: -1)),
        .init(configuration: .init(listen: "127.0.0.1:0"), paths: ["Check"], error: .invalidMethodName("Check")),
        .init(configuration: .init(listen: "127.0.0.1:0"), paths: ["/pkg.Service/"], error: .invalidMethodName("/pkg.Service/")),
        .init(configuration: .init(listen: "127.0.0.1:0"), paths: ["/a/b/c"], error: .invalidMethodName("/a/b/c")),
        .init(configuration: .init(listen: "not an address"), paths: [], error: .bindFailed(address: "not an address")),
        .init(configuration: .init(listen: "192.0.2.1:0"), paths: [], error: .bindFailed(address: "192.0.2.1:0")),
        .init(configuration: .init(listen: "127.0.0.1:0", tls: .init(certificateChainPath: "/nonexistent/cert.pem", privateKeyPath: "/nonexistent/key.pem")),
              paths: [], error: .tlsFileUnreadable(path: "/nonexistent/cert.pem", errno: ENOENT)),
        .init(configuration: .init(listen: "127.0.0.1:0", tls: .init(certificateChainPath: #filePath, privateKeyPath: #filePath)),
              paths: [], error: .tlsFileNotPEM(path: #filePath)),
    ]

    @Test(arguments: invalid)
    func invalidConfigurationIsATypedError(_ case_: Invalid) {
        let handlers = Dictionary(uniqueKeysWithValues: case_.paths.map { ($0, Self.handlers[TestService.echo]!) })
        #expect(throws: case_.error) {
            _ = try GRPCServer(configuration: case_.configuration, handlers: handlers)
        }
    }

    @Test func gracefulShutdownFinishesInFlightCalls() throws {
        let service = TestService()
        let server = try service.startServer(threads: 2, callsPerThread: 64)
        let client = GRPCClient(target: "127.0.0.1:\(server.port)")
        let running = try client.start((0..<20).map { .init(method: TestService.slow, payload: [UInt8($0)]) })
        #expect(service.waitForSlowCalls(20, timeout: 20), "the 20 slow calls did not all arrive")

        let started = Date()
        server.shutdown(gracePeriod: 5)
        let took = Date().timeIntervalSince(started)

        let outcomes = GRPCClient.outcomes(running)
        #expect(outcomes == (0..<20).map { .init(code: "OK", details: "", payload: [UInt8($0)]) })
        #expect(took > 0.05 && took < 4, "shutdown took \(took) s; the calls were answered 0.2 s after arriving")
        #expect(try client.call(TestService.echo, [1], timeout: 3).code == "UNAVAILABLE")
        server.shutdown(gracePeriod: 5)  // idempotent
    }

    @Test func shutdownCancelsCallsStillOpenAfterTheGracePeriod() throws {
        let service = TestService()
        let server = try service.startServer(threads: 1, callsPerThread: 32)
        let running = try GRPCClient(target: "127.0.0.1:\(server.port)").start([
            .init(method: TestService.hold, payload: [1], timeout: 30),
            .init(method: TestService.hold, payload: [2], timeout: 30),
            // Gives up before the shutdown: its call is still held by the handler when the server is gone.
            .init(method: TestService.hold, payload: [3], timeout: 1),
        ])
        #expect(service.waitForHeldCalls(3, timeout: 20))
        Thread.sleep(forTimeInterval: 1.2)

        let started = Date()
        server.shutdown(gracePeriod: 0.5)
        let took = Date().timeIntervalSince(started)

        #expect(took >= 0.4 && took < 3, "shutdown took \(took) s with a 0.5 s grace period")
        let outcomes = GRPCClient.outcomes(running)
        #expect(outcomes[0..<2].allSatisfy { $0.code == "UNAVAILABLE" || $0.code == "CANCELLED" }, "\(outcomes)")
        #expect(outcomes[2].code == "DEADLINE_EXCEEDED")
        // Answers arriving after the server is gone are ignored.
        for call in service.held.withLock({ $0 }) { call.respond(.response([42])) }
        service.held.withLock { $0.removeAll() }  // the calls reference the handlers, which reference `held`
    }

    @Test func callHeldAfterItsClientLeftDoesNotBlockShutdown() throws {
        let service = TestService()
        let server = try service.startServer(threads: 1, callsPerThread: 8)
        let running = try GRPCClient(target: "127.0.0.1:\(server.port)").start([
            .init(method: TestService.hold, payload: [1], timeout: 0.5),
        ])
        #expect(service.waitForHeldCalls(1, timeout: 20))
        #expect(GRPCClient.outcomes(running).map(\.code) == ["DEADLINE_EXCEEDED"])
        server.shutdown(gracePeriod: 5)
        for call in service.held.withLock({ $0 }) { call.respond(.response([42])) }
        service.held.withLock { $0.removeAll() }  // the calls reference the handlers, which reference `held`
    }

    /// A call its handler keeps unanswered (a check waiting for keys) is freed when the client cancels it
    /// or its deadline passes: the handler's `onCancel` runs and the call slot takes the next call at once,
    /// instead of staying busy until the handler answers (issue 14: free the call when Envoy cancels it).
    @Test func aCancelledCallFreesItsSlotAndTellsTheHandler() throws {
        let service = TestService()
        // One armed call per method: a slot still held by the first call would keep the second waiting.
        let server = try service.startServer(threads: 1, callsPerThread: 1)
        let client = GRPCClient(target: "127.0.0.1:\(server.port)")
        let first = try client.start([.init(method: TestService.watch, payload: [1], timeout: 0.3)])
        #expect(GRPCClient.outcomes(first).map(\.code) == ["DEADLINE_EXCEEDED"])
        let second = try client.start([.init(method: TestService.watch, payload: [2], timeout: 0.3)])
        #expect(GRPCClient.outcomes(second).map(\.code) == ["DEADLINE_EXCEEDED"])
        let deadline = Date().addingTimeInterval(5)
        while service.cancelled.withLock({ $0 }) < 2, Date() < deadline { usleep(10_000) }
        #expect(service.watched.withLock { $0.count } == 2, "the second call never reached the handler: its slot was not freed")
        #expect(service.cancelled.withLock { $0 } == 2)
        // A call answered by its handler is not reported as cancelled.
        #expect(try client.call(TestService.echo, [7]).payload == [7])
        // Late answers to the freed calls are ignored.
        for call in service.watched.withLock({ $0 }) { call.respond(.response([42])) }
        #expect(try client.call(TestService.echo, [8]).payload == [8])
        server.shutdown(gracePeriod: 1)
        #expect(service.cancelled.withLock { $0 } == 2)
        service.watched.withLock { $0.removeAll() }  // the calls reference the handlers, which reference `watched`
    }

    @Test func concurrentShutdownsAndDeinitAreSafe() async throws {
        let service = TestService()
        let server = try service.startServer(threads: 2, callsPerThread: 4)
        #expect(try GRPCClient(target: "127.0.0.1:\(server.port)").call(TestService.echo, [5]).payload == [5])
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<3 { group.addTask { server.shutdown(gracePeriod: 1) } }
        }
        // Started and dropped without shutdown: deinit shuts it down.
        _ = try service.startServer(threads: 1, callsPerThread: 2)
        // Never started.
        _ = try GRPCServer(configuration: .init(listen: "127.0.0.1:0", threads: 1), handlers: Self.handlers)
    }
}
