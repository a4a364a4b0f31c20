import WardenSync
import Foundation
import WardenGRPC

/// Test methods and what the test can observe of them.
final class TestService: Sendable {
    static let echo = "/test.Echo/Echo"
    static let slow = "/test.Echo/Slow"
    static let describe = "/test.Echo/Describe"
    static let forget = "/test.Echo/Forget"
    static let hold = "/test.Echo/Hold"
    static let counted = "/test.Echo/Counted"
    static let countedLater = "/test.Echo/CountedLater"
    static let watch = "/test.Echo/Watch"

    /// Slow calls received so far.
    let slowCalls = Locked(0)
    /// Calls the Counted methods answered so far (counted just before `respond`).
    let answered = Locked(0)
    /// Calls the Hold method keeps without ever answering.
    let held = Locked<[UnaryCall]>([])
    /// Calls the Watch method keeps unanswered, and how many cancellations it was told of.
    let watched = Locked<[UnaryCall]>([])
    let cancelled = Locked(0)

    var handlers: [String: UnaryHandler] {
        [
            // Echo; a body starting with 0xFF is refused.
            Self.echo: { call in
                if call.request.first == 0xFF {
                    call.respond(.failure(.invalidArgument, "body starts with 0xFF"))
                } else {
                    call.respond(.response(call.request))
                }
            },
            // Echo after 200 ms, answered from another thread.
            Self.slow: { [self] call in
                slowCalls.withLock { $0 += 1 }
                DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) {
                    call.respond(.response(call.request))
                }
            },
            // "method|peer|metadata" (the captured metadata as sorted "key=value" lines). One method more would
            // change how the armed calls split over the methods, which the shutdown tests count on.
            Self.describe: { call in
                let metadata = call.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\n")
                call.respond(.response(Array("\(call.method)|\(call.peer)|\(metadata)".utf8)))
            },
            // Drops the call without answering.
            Self.forget: { _ in },
            Self.hold: { [self] call in
                held.withLock { $0.append(call) }
            },
            // Keeps the call without answering; counts its cancellation.
            Self.watch: { [self] call in
                watched.withLock { $0.append(call) }
                call.onCancel { [self] in cancelled.withLock { $0 += 1 } }
            },
            // Echo, counting the answers (on the queue thread).
            Self.counted: { [self] call in
                answered.withLock { $0 += 1 }
                call.respond(.response(call.request))
            },
            // Echo from another thread after 0-2 ms, counting the answers.
            Self.countedLater: { [self] call in
                DispatchQueue.global().asyncAfter(deadline: .now() + .microseconds(Int.random(in: 0...2000))) {
                    self.answered.withLock { $0 += 1 }
                    call.respond(.response(call.request))
                }
            },
        ]
    }

    func waitForSlowCalls(_ count: Int, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if slowCalls.withLock({ $0 }) >= count { return true }
            usleep(10_000)
        }
        return false
    }

    func waitForHeldCalls(_ count: Int, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if held.withLock({ $0.count }) >= count { return true }
            usleep(10_000)
        }
        return false
    }

    /// A started server on an ephemeral loopback port with these handlers.
    func startServer(
        threads: Int = 2, callsPerThread: Int = 16, maxReceiveMessageBytes: Int = 4 << 20, tls: TLSConfiguration? = nil,
        capturedMetadata: Set<String> = []
    ) throws -> GRPCServer {
        let server = try GRPCServer(
            configuration: GRPCServerConfiguration(
                listen: "127.0.0.1:0", threads: threads, callsPerThread: callsPerThread,
                maxReceiveMessageBytes: maxReceiveMessageBytes, tls: tls, capturedMetadata: capturedMetadata),
            handlers: handlers)
        server.start()
        return server
    }
}
