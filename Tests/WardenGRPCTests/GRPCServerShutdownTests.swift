import WardenSync
import Foundation
import Testing
import WardenGRPC

/// Graceful shutdown under steady load: every call whose handler answered must reach its client.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct GRPCServerShutdownTests {
    /// Many short calls, answered on the queue thread or from another thread, end right as the server shuts
    /// down; calls it never answered may fail (UNAVAILABLE, or CANCELLED for calls gRPC had queued without a
    /// free slot), but every answered one must arrive. `WARDEN_SHUTDOWN_ROUNDS` repeats it more often.
    @Test(arguments: [TestService.counted, TestService.countedLater])
    func everyAnsweredCallReachesItsClient(method: String) throws {
        let rounds = Int(ProcessInfo.processInfo.environment["WARDEN_SHUTDOWN_ROUNDS"] ?? "") ?? 4
        var lost: [String] = []
        for round in 0..<rounds {
            let service = TestService()
            let server = try service.startServer(threads: 2, callsPerThread: 64)
            let running = try GRPCClient(target: "127.0.0.1:\(server.port)")
                .startStress(method: method, threads: 16, perThread: 1_000_000, stopOnError: true)
            let deadline = Date().addingTimeInterval(20)
            while service.answered.withLock({ $0 }) < 200 + round * 97, Date() < deadline { usleep(1000) }
            server.shutdown(gracePeriod: 5)
            let answered = service.answered.withLock { $0 }
            let (ok, errors) = GRPCClient.stressResult(running)
            if ok != answered {
                lost.append("round \(round): answered \(answered), client got \(ok); \(errors)")
            }
        }
        #expect(lost.isEmpty, "\(lost.joined(separator: "\n"))")
    }

    /// Answers given shortly before the grace period ends are large enough (4 MiB each) to still be on their
    /// way when it ends: the server must let them reach the transport instead of cancelling them mid-flight.
    @Test func callsAnsweredBeforeTheGracePeriodEndsAreNotCancelled() throws {
        let service = TestService()
        let server = try service.startServer(threads: 2, callsPerThread: 64)
        let count = 16, size = 4 << 20, grace = 0.4
        let running = try GRPCClient(target: "127.0.0.1:\(server.port)").start(
            (0..<count).map { .init(method: TestService.hold, payload: [UInt8($0)], timeout: 30) }, truncate: true)
        #expect(service.waitForHeldCalls(count, timeout: 20))
        let calls = service.held.withLock { calls in defer { calls.removeAll() }; return calls }
        let answeredAt = Locked<[Int: Date]>([:])
        let done = DispatchSemaphore(value: 0)
        let started = Date()
        // All answers in one burst from 50 ms before the grace period ends: 64 MiB take long enough to write
        // that the last ones given in time are still on their way when it ends.
        DispatchQueue.global().asyncAfter(deadline: .now() + grace - 0.05) {
            for call in calls {
                call.respond(.response([UInt8](repeating: call.request[0], count: size)))
                answeredAt.withLock { $0[Int(call.request[0])] = Date() }
            }
            done.signal()
        }
        server.shutdown(gracePeriod: grace)
        done.wait()
        let outcomes = GRPCClient.outcomes(running)
        // `started` precedes the server's own deadline, so these were answered before the grace period ended.
        let inTime = answeredAt.withLock { $0 }.filter { $0.value.timeIntervalSince(started) < grace - 0.002 }.keys.sorted()
        #expect(inTime.count >= 2, "only \(inTime.count) calls were answered in time; the test proves little")
        let lost = inTime.filter { outcomes[$0] != .init(code: "OK", details: "", payload: [UInt8](repeating: UInt8($0), count: 8), size: size) }
        #expect(lost.isEmpty, "\(lost.count) of \(inTime.count) calls answered within the grace period failed: \(lost.prefix(3).map { outcomes[$0] })")
    }
}
