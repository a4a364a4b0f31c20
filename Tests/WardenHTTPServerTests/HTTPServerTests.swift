import Foundation
import Testing
import WardenHTTPServer
import WardenSync

@Suite("HTTPServer over real HTTP (curl)")
struct HTTPServerTests {
    /// `h2c`: the front door's setup (Warden routes each connection, HTTP/2 beside HTTP/1.1); every
    /// HTTP/1.1 behaviour below holds with and without it.
    static func server(threads: Int = 2, maxHeaderBytes: Int = 8192, h2c: Bool = false,
                       handler: @escaping @Sendable (HTTPServerRequest, HTTPResponder) -> Void) throws -> HTTPServer {
        var configuration = HTTPServer.Configuration(listen: "127.0.0.1:0")
        configuration.threads = threads
        configuration.maxHeaderBytes = maxHeaderBytes
        configuration.http2PriorKnowledge = h2c
        return try HTTPServer(configuration: configuration, handler: handler)
    }

    @Test(arguments: [false, true]) func handlerSeesTheRawTargetRepeatedHeadersAndThePeer(routed: Bool) throws {
        let seen = Locked<[HTTPServerRequest]>([])
        let server = try Self.server(h2c: routed) { request, responder in
            seen.withLock { $0.append(request) }
            responder.respond(.text("ok", status: 200))
        }
        defer { server.stop() }
        let result = try curl("http://127.0.0.1:\(server.port)/envoy/a%2Fb/../c?x=%20y&z", extra: ["--path-as-is", "-H", "X-Team: a", "-H", "X-Team: b"])
        #expect(result.status == 200)
        let request = try #require(seen.withLock { $0.first })
        #expect(request.target == "/envoy/a%2Fb/../c?x=%20y&z")
        #expect(request.path == "/envoy/a%2Fb/../c")
        #expect(request.query == "x=%20y&z")
        #expect(request.headers.filter { $0.name == "x-team" }.map(\.value) == ["a", "b"])
        #expect(request.peerAddress == "127.0.0.1")
        #expect(request.peerPort > 0)
    }

    /// The answer comes later from another thread: the connection waits (suspended), other requests go on.
    @Test(arguments: [false, true]) func answersFromAnotherThreadLater(routed: Bool) throws {
        let server = try Self.server(threads: 1, h2c: routed) { request, responder in
            if request.path == "/slow" {
                DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) {
                    responder.respond(HTTPServerResponse(status: 401, headers: [HTTPField("www-authenticate", "Bearer realm=\"x\"")],
                                                         body: Array("Jwt is missing".utf8)))
                }
            } else {
                responder.respond(.text("fast", status: 200))
            }
        }
        defer { server.stop() }
        let slowResult = Locked<CurlResult?>(nil)
        let client = DispatchGroup()
        DispatchQueue.global().async(group: client) { [port = server.port] in
            let r = try? curl("http://127.0.0.1:\(port)/slow")
            slowResult.withLock { $0 = r }
        }
        for _ in 0..<300 where server.unanswered < 1 { usleep(10_000) }
        let started = Date()
        let fast = try curl("http://127.0.0.1:\(server.port)/fast")
        #expect(fast.body == "fast")
        #expect(Date().timeIntervalSince(started) < 0.25, "one polling thread, yet the waiting request blocks nothing")
        #expect(client.wait(timeout: .now() + 5) == .success)
        let answer = try #require(slowResult.withLock { $0 })
        #expect(answer.status == 401)
        #expect(answer.body == "Jwt is missing")
        #expect(answer.headers["www-authenticate"] == "Bearer realm=\"x\"")
        #expect(server.unanswered == 0)
    }

    @Test func anEmptyHeaderValueIsSent() throws {
        let server = try Self.server { _, responder in
            responder.respond(HTTPServerResponse(status: 200, headers: [HTTPField("x-empty", ""), HTTPField("x-full", "v")]))
        }
        defer { server.stop() }
        let result = try curl("http://127.0.0.1:\(server.port)/")
        #expect(result.headers["x-empty"] == "")
        #expect(result.headers["x-full"] == "v")
    }

    @Test func onlyTheFirstAnswerCounts() throws {
        let server = try Self.server { _, responder in
            responder.respond(.text("first", status: 200))
            responder.respond(.text("second", status: 500))
        }
        defer { server.stop() }
        let result = try curl("http://127.0.0.1:\(server.port)/")
        #expect(result.status == 200)
        #expect(result.body == "first")
    }

    @Test(arguments: [false, true]) func oversizedHeadersAre431AndNeverReachTheHandler(routed: Bool) throws {
        let calls = Locked(0)
        let server = try Self.server(maxHeaderBytes: 8192, h2c: routed) { _, responder in
            calls.withLock { $0 += 1 }
            responder.respond(.text("ok", status: 200))
        }
        defer { server.stop() }
        let big = String(repeating: "a", count: 16 * 1024)
        let result = try curl("http://127.0.0.1:\(server.port)/", extra: ["-H", "X-Big: \(big)"])
        #expect(result.status == 431)
        let long = try curl("http://127.0.0.1:\(server.port)/" + big)
        #expect(long.status == 414 || long.status == 431)
        #expect(calls.withLock { $0 } == 0)
    }

    @Test func anOversizedBodyIs413AndNeverReachesTheHandler() throws {
        let calls = Locked(0)
        var configuration = HTTPServer.Configuration(listen: "127.0.0.1:0")
        configuration.maxBodyBytes = 64 * 1024
        let server = try HTTPServer(configuration: configuration) { _, responder in
            calls.withLock { $0 += 1 }
            responder.respond(.text("ok", status: 200))
        }
        defer { server.stop() }
        let small = try curl("http://127.0.0.1:\(server.port)/", method: "POST", data: String(repeating: "a", count: 1024))
        #expect(small.status == 200)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("warden-http-test-\(UUID().uuidString).body")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(count: 256 * 1024).write(to: file)
        let big = try curl("http://127.0.0.1:\(server.port)/", method: "POST", data: "@" + file.path, extra: ["-H", "Expect:"])
        // Answered 413 mid-upload and closed: curl sees the 413, or the reset of a connection it was still
        // writing to. Never the handler's answer.
        #expect(big.status == 413 || (big.status == 0 && big.exitCode != 0), "\(big.status) \(big.exitCode)")
        #expect(calls.withLock { $0 } == 1)
    }

    @Test(arguments: [false, true]) func malformedRequestIs400(routed: Bool) throws {
        let server = try Self.server(h2c: routed) { _, responder in responder.respond(.text("ok", status: 200)) }
        defer { server.stop() }
        let answers = try rawExchanges(port: server.port, ["GET / HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n"])
        #expect(answers.first?.hasPrefix("HTTP/1.1 400") == true)
    }

    @Test(arguments: [false, true]) func keepsTheConnectionAliveBetweenRequests(routed: Bool) throws {
        let server = try Self.server(h2c: routed) { _, responder in responder.respond(.text("ok", status: 200)) }
        defer { server.stop() }
        let answers = try rawExchanges(port: server.port, ["GET /1 HTTP/1.1\r\nHost: x\r\n\r\n", "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n"])
        #expect(answers.count == 2)
        #expect(answers.allSatisfy { $0.hasPrefix("HTTP/1.1 200") })
    }

    /// Stop lets a waiting request finish within the grace period, and answers 503 to one that would not.
    @Test(arguments: [false, true]) func stopDrainsThenAnswers503(routed: Bool) throws {
        let held = Locked<[String: HTTPResponder]>([:])
        let server = try Self.server(h2c: routed) { request, responder in
            held.withLock { $0[String(request.path)] = responder }  // answered by the test, or never
        }
        let port = server.port
        // Blocking clients on their own threads (not the test's cooperative pool).
        let results = Locked<[String: CurlResult]>([:])
        let clients = DispatchGroup()
        for path in ["/late", "/never"] {
            DispatchQueue.global().async(group: clients) {
                let r = try? curl("http://127.0.0.1:\(port)\(path)")
                results.withLock { $0[path] = r }
            }
        }
        for _ in 0..<300 where server.unanswered < 2 { usleep(10_000) }
        #expect(server.unanswered == 2)
        // Answered after stop has begun, within its grace.
        Thread {
            usleep(200_000)
            held.withLock { $0["/late"] }?.respond(.text("late but in time", status: 200))
        }.start()
        let started = Date()
        server.stop(gracePeriod: 0.6)
        #expect(Date().timeIntervalSince(started) < 2)
        #expect(clients.wait(timeout: .now() + 5) == .success)
        #expect(results.withLock { $0["/late"] }?.body == "late but in time")
        #expect(results.withLock { $0["/never"] }?.status == 503)
        // Stopped: nothing listens any more.
        #expect(try curl("http://127.0.0.1:\(port)/").exitCode != 0)
        // The handler (held by the server) holds `held`, which holds responders holding the server's context.
        held.withLock { $0.removeAll() }
    }
}

/// Writes each request in turn to one fresh connection and reads its answer (each read bounded by 2 s).
/// With `answersWanted`, writes every piece first (`pauseBetween` seconds apart), then reads that many times.
func rawExchanges(port: Int, _ requests: [String], pauseBetween: Double = 0, answersWanted: Int? = nil) throws -> [String] {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var timeout = timeval(tv_sec: 2, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    var answers: [String] = []
    if let answersWanted {
        for (i, text) in requests.enumerated() {
            if i > 0 { usleep(UInt32(pauseBetween * 1_000_000)) }
            let bytes = Array(text.utf8)  // may hold NUL bytes (HTTP/2 frames)
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        }
        for _ in 0..<answersWanted {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { break }
            answers.append(String(decoding: buffer.prefix(n), as: UTF8.self))
        }
        return answers
    }
    for text in requests {
        _ = text.withCString { send(fd, $0, strlen($0), 0) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        guard n > 0 else { break }
        answers.append(String(decoding: buffer.prefix(n), as: UTF8.self))
    }
    return answers
}
