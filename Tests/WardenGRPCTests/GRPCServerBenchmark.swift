import Foundation
import Synchronization
import Testing
import WardenGRPC

/// Server CPU per call under h2load (nghttp2-client). Opt-in: `WARDEN_GRPC_BENCH=1 swift test -c release
/// --filter GRPCServerBenchmark`; prints calls/s and µs of process CPU per call. Fails only if a call is lost.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["WARDEN_GRPC_BENCH"] != nil))
struct GRPCServerBenchmark {
    @Test(arguments: [1, 2])
    func echoUnderLoad(threads: Int) throws {
        let handled = Atomic<Int>(0)
        let reply = [UInt8](repeating: 0x21, count: 21)  // the size of an allow CheckResponse
        let server = try GRPCServer(
            configuration: .init(listen: "127.0.0.1:0", threads: threads, callsPerThread: 256),
            handlers: ["/bench.Echo/Echo": { call in
                handled.add(1, ordering: .relaxed)
                call.respond(.response(reply))
            }])
        server.start()
        defer { server.shutdown(gracePeriod: 1) }

        let message = [UInt8](repeating: 0x5A, count: 1600)
        let frame = [0, 0, 0, UInt8(message.count >> 8), UInt8(message.count & 0xFF)] + message
        let body = FileManager.default.temporaryDirectory.appendingPathComponent("warden-bench-\(getpid()).grpc")
        try Data(frame).write(to: body)
        let requests = 200_000

        func h2load(_ count: Int) throws -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/h2load")
            process.arguments = ["-n", "\(count)", "-c", "16", "-m", "32", "-t", "1", "-d", body.path,
                                 "-H", "content-type:application/grpc", "-H", "te:trailers",
                                 "http://127.0.0.1:\(server.port)/bench.Echo/Echo"]
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return text
        }
        _ = try h2load(20_000)  // warm-up
        let before = handled.load(ordering: .relaxed)
        var usageBefore = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usageBefore)
        let started = Date()
        let report = try h2load(requests)
        let seconds = Date().timeIntervalSince(started)
        var usageAfter = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usageAfter)

        func micros(_ time: timeval) -> Double { Double(time.tv_sec) * 1e6 + Double(time.tv_usec) }
        let cpu = micros(usageAfter.ru_utime) + micros(usageAfter.ru_stime)
            - micros(usageBefore.ru_utime) - micros(usageBefore.ru_stime)
        let calls = handled.load(ordering: .relaxed) - before
        print("bench threads=\(threads): \(calls) calls, \(Int(Double(calls) / seconds)) calls/s, "
            + "\(String(format: "%.1f", cpu / Double(calls))) µs CPU/call")
        print(report.split(separator: "\n").filter { $0.contains("requests:") || $0.contains("time for request") }.joined(separator: "\n"))
        #expect(calls == requests)
    }
}
