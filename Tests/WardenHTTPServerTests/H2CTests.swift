import Foundation
import Testing
import WardenHTTPServer
import WardenSync

/// HTTP/2 without TLS (h2c, prior knowledge) beside HTTP/1.1 on one port, through a real client
/// (curl with nghttp2, `--http2-prior-knowledge`, as Envoy's HTTP/2 clusters connect).
@Suite("HTTPServer h2c (curl --http2-prior-knowledge)")
struct H2CTests {
    static let h2 = ["--http2-prior-knowledge"]

    static func server(threads: Int = 2, maxHeaderBytes: Int = 8192, connectionLimit: Int = 64,
                       handler: @escaping @Sendable (HTTPServerRequest, HTTPResponder) -> Void) throws -> HTTPServer {
        var configuration = HTTPServer.Configuration(listen: "127.0.0.1:0")
        configuration.threads = threads
        configuration.maxHeaderBytes = maxHeaderBytes
        configuration.connectionLimit = connectionLimit
        configuration.http2PriorKnowledge = true
        return try HTTPServer(configuration: configuration, handler: handler)
    }

    /// The handler cannot tell the protocols apart: the same method, raw target, header fields in order
    /// (`:authority` as `host`, where HTTP/1.1 carries it) and peer.
    @Test func bothProtocolsHandTheHandlerTheSameRequest() throws {
        let seen = Locked<[HTTPServerRequest]>([])
        let server = try Self.server { request, responder in
            seen.withLock { $0.append(request) }
            responder.respond(HTTPServerResponse(status: 200, headers: [HTTPField("x-jwt-sub", "alice"),
                                                                       HTTPField("X-Envoy-Auth-Headers-To-Remove", "authorization")]))
        }
        defer { server.stop() }
        let url = "http://127.0.0.1:\(server.port)/envoy/a%2Fb/../c?x=%20y&z"
        let headers = ["--path-as-is", "-A", "test", "-H", "X-Team: a", "-H", "X-Team: b", "-H", "Authorization: Bearer t"]
        let one = try curl(url, extra: headers)
        let two = try curl(url, extra: headers + Self.h2)
        #expect(one.httpVersion == "1.1")
        #expect(two.httpVersion == "2")
        for result in [one, two] {
            #expect(result.status == 200)
            #expect(result.headers["x-jwt-sub"] == "alice")
            #expect(result.headers["x-envoy-auth-headers-to-remove"] == "authorization")
        }
        let requests = seen.withLock { $0 }
        try #require(requests.count == 2)
        #expect(requests[1].target == "/envoy/a%2Fb/../c?x=%20y&z")
        #expect(requests[1].method == "GET")
        #expect(requests[1].headers == requests[0].headers)
        #expect(requests[1].header("host") == "127.0.0.1:\(server.port)")
        #expect(requests[1].peerAddress == "127.0.0.1")
        #expect(requests[1].peerPort > 0)
    }

    /// A stream waiting for its answer holds neither the event loop nor its connection: other streams and
    /// connections are answered meanwhile, and the late answer (from another thread) arrives intact.
    @Test func answersFromAnotherThreadLater() throws {
        let server = try Self.server { request, responder in
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
            let r = try? curl("http://127.0.0.1:\(port)/slow", extra: Self.h2)
            slowResult.withLock { $0 = r }
        }
        for _ in 0..<300 where server.unanswered < 1 { usleep(10_000) }
        #expect(server.unanswered == 1)
        let started = Date()
        let fast = try curl("http://127.0.0.1:\(server.port)/fast", extra: Self.h2)
        #expect(fast.body == "fast")
        #expect(fast.httpVersion == "2")
        #expect(Date().timeIntervalSince(started) < 0.25, "the waiting stream blocks nothing")
        #expect(client.wait(timeout: .now() + 5) == .success)
        let answer = try #require(slowResult.withLock { $0 })
        #expect(answer.status == 401)
        #expect(answer.body == "Jwt is missing")
        #expect(answer.headers["www-authenticate"] == "Bearer realm=\"x\"")
        #expect(server.unanswered == 0)
    }

    /// Several streams on one connection (curl multiplexes `--parallel` transfers over one HTTP/2
    /// connection), each answered from its own thread in reverse order.
    @Test func multiplexedStreamsAnsweredOutOfOrder() throws {
        let server = try Self.server { request, responder in
            let n = Int(request.path.dropFirst()) ?? 0
            DispatchQueue.global().asyncAfter(deadline: .now() + 0.05 * Double(5 - n)) {
                responder.respond(.text("stream \(n)", status: 200))
            }
        }
        defer { server.stop() }
        let urls = (1...4).map { "http://127.0.0.1:\(server.port)/\($0)" }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-sS", "--max-time", "5", "--http2-prior-knowledge", "--parallel", "--parallel-immediate",
                             "-w", "%{http_version} %{num_connects}\n"] + urls.flatMap { ["-o", "/dev/null", $0] }
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let lines = text.split(separator: "\n")
        #expect(lines.count == 4)
        #expect(lines.allSatisfy { $0.hasPrefix("2 ") })
        #expect(server.unanswered == 0)
    }

    /// The same bound as HTTP/1.1's 431, on the decoded header list; the handler never sees the request.
    @Test func oversizedHeadersAre431AndNeverReachTheHandler() throws {
        let calls = Locked(0)
        let server = try Self.server(maxHeaderBytes: 8192) { _, responder in
            calls.withLock { $0 += 1 }
            responder.respond(.text("ok", status: 200))
        }
        defer { server.stop() }
        let big = String(repeating: "a", count: 16 * 1024)
        let header = try curl("http://127.0.0.1:\(server.port)/", extra: ["-H", "X-Big: \(big)"] + Self.h2)
        #expect(header.status == 431)
        #expect(header.httpVersion == "2")
        let path = try curl("http://127.0.0.1:\(server.port)/" + big, extra: Self.h2)
        #expect(path.status == 431)
        #expect(calls.withLock { $0 } == 0)
        // Just under the bound still passes.
        let fits = try curl("http://127.0.0.1:\(server.port)/", extra: ["-H", "X-Big: " + String(repeating: "a", count: 6000)] + Self.h2)
        #expect(fits.status == 200)
    }

    /// A `host` field sent over HTTP/2 beside `:authority` is dropped (libh2o: `:authority` wins, RFC 9113
    /// §8.3.1): the handler sees one `host`, the authority, never the client's second opinion.
    @Test func authorityWinsOverAHostField() throws {
        let seen = Locked<[HTTPServerRequest]>([])
        let server = try Self.server { request, responder in
            seen.withLock { $0.append(request) }
            responder.respond(.text("ok\n", status: 200))
        }
        defer { server.stop() }
        // curl and nghttp turn a Host header into :authority over HTTP/2: the frames are written by hand.
        let answer = try rawHTTP2Request(port: server.port, fields: [
            (":method", "GET"), (":scheme", "http"), (":path", "/p"), (":authority", "a.example"), ("host", "b.example"),
            ("x-order", "1"),
        ])
        #expect(String(decoding: answer, as: UTF8.self).contains("ok"))
        let request = try #require(seen.withLock { $0.first })
        #expect(request.headers == [HTTPField("host", "a.example"), HTTPField("x-order", "1")])
    }

    /// `Upgrade: h2c` (RFC 7540 §3.2; removed by RFC 9113 §3.1) is not offered: the request is answered
    /// over HTTP/1.1, as a server may (RFC 9110 §7.8), and reaches the handler once.
    @Test func upgradeToH2cIsAnsweredOverHTTP1() throws {
        let calls = Locked(0)
        let server = try Self.server { _, responder in
            calls.withLock { $0 += 1 }
            responder.respond(.text("ok", status: 200))
        }
        defer { server.stop() }
        let result = try curl("http://127.0.0.1:\(server.port)/", extra: ["--http2"])  // sends Upgrade: h2c
        #expect(result.status == 200)
        #expect(result.httpVersion == "1.1")
        #expect(calls.withLock { $0 } == 1)
    }

    /// A client that sends the preface in pieces is still routed to HTTP/2; one that sends HTTP/1.1
    /// starting with the same letter goes to HTTP/1.1.
    @Test func aPrefaceInPiecesIsStillHTTP2() throws {
        let server = try Self.server { _, responder in responder.respond(.text("ok", status: 200)) }
        defer { server.stop() }
        // The server's first frame answers the preface: SETTINGS (type 4) on stream 0.
        let h2 = try rawExchanges(port: server.port, ["PRI * HTTP/2.0\r\n", "\r\nSM\r\n\r\n\u{0}\u{0}\u{0}\u{4}\u{0}\u{0}\u{0}\u{0}\u{0}"],
                                  pauseBetween: 0.1, answersWanted: 1)
        let frame = Array(h2.joined().utf8)
        #expect(frame.count >= 9 && frame[3] == 4, "\(frame.prefix(9))")
        let http1 = try rawExchanges(port: server.port, ["PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"])
        #expect(http1.first?.hasPrefix("HTTP/1.1 200") == true)
    }

    /// A connection that never says which protocol it speaks (nothing, or part of the preface) is closed
    /// after the sniff timeout; it holds no server's slot meanwhile, and others are served.
    @Test(arguments: ["", "PRI * HTTP/2.0\r\n"]) func silentConnectionsAreClosedAfterTheIdleTimeout(sent: String) throws {
        var configuration = HTTPServer.Configuration(listen: "127.0.0.1:0")
        configuration.http2PriorKnowledge = true
        configuration.sniffTimeoutSeconds = 1
        let server = try HTTPServer(configuration: configuration) { _, responder in responder.respond(.text("ok", status: 200)) }
        defer { server.stop() }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(server.port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: 4, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0)
        let bytes = Array(sent.utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        #expect(try curl("http://127.0.0.1:\(server.port)/", extra: Self.h2).status == 200)
        let started = Date()
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = recv(fd, &buffer, buffer.count, 0)
        let failure = errno
        let waited = Date().timeIntervalSince(started)
        // Closed: EOF, or a reset when the peeked bytes were still unread (never the receive timeout).
        #expect(n == 0 || (n < 0 && failure == ECONNRESET), "\(n) errno \(failure)")
        #expect(waited > 0.5 && waited < 3, "\(waited)")
    }

    /// Past the connection limit an HTTP/2 connection is closed at once; under it, served.
    @Test func connectionsAreBounded() throws {
        let held = Locked<[HTTPResponder]>([])
        // One event loop: the limit is split between the loops (`threads`).
        let server = try Self.server(threads: 1, connectionLimit: 1) { _, responder in held.withLock { $0.append(responder) } }
        defer { server.stop() }
        let first = DispatchGroup()
        let firstResult = Locked<CurlResult?>(nil)
        DispatchQueue.global().async(group: first) { [port = server.port] in
            let r = try? curl("http://127.0.0.1:\(port)/", extra: Self.h2)
            firstResult.withLock { $0 = r }
        }
        for _ in 0..<300 where server.unanswered < 1 { usleep(10_000) }
        #expect(server.unanswered == 1)
        let second = try curl("http://127.0.0.1:\(server.port)/", extra: Self.h2)
        #expect(second.status == 0 && second.exitCode != 0)
        held.withLock { $0.first }?.respond(.text("ok", status: 200))
        #expect(first.wait(timeout: .now() + 5) == .success)
        #expect(firstResult.withLock { $0 }?.status == 200)
        held.withLock { $0.removeAll() }
    }

    /// Stop: GOAWAY, the waiting stream answered within the grace, the one that would not gets 503.
    @Test func stopDrainsThenAnswers503() throws {
        let held = Locked<[String: HTTPResponder]>([:])
        let server = try Self.server { request, responder in
            held.withLock { $0[String(request.path)] = responder }
        }
        let port = server.port
        let results = Locked<[String: CurlResult]>([:])
        let clients = DispatchGroup()
        for path in ["/late", "/never"] {
            DispatchQueue.global().async(group: clients) {
                let r = try? curl("http://127.0.0.1:\(port)\(path)", extra: Self.h2)
                results.withLock { $0[path] = r }
            }
        }
        for _ in 0..<300 where server.unanswered < 2 { usleep(10_000) }
        #expect(server.unanswered == 2)
        Thread {
            usleep(200_000)
            held.withLock { $0["/late"] }?.respond(.text("late but in time", status: 200))
        }.start()
        let started = Date()
        server.stop(gracePeriod: 0.6)
        #expect(Date().timeIntervalSince(started) < 3)
        #expect(clients.wait(timeout: .now() + 5) == .success)
        #expect(results.withLock { $0["/late"] }?.body == "late but in time")
        #expect(results.withLock { $0["/never"] }?.status == 503)
        #expect(try curl("http://127.0.0.1:\(port)/", extra: Self.h2).exitCode != 0)
        held.withLock { $0.removeAll() }
    }
}

/// Sends the HTTP/2 preface, an empty SETTINGS frame and one HEADERS frame (END_STREAM, END_HEADERS) with
/// `fields` as HPACK literals (never indexed, no Huffman), then returns what the server sent within 1 s.
func rawHTTP2Request(port: Int, fields: [(String, String)]) throws -> [UInt8] {
    var block: [UInt8] = []
    for (name, value) in fields {
        precondition(name.utf8.count < 127 && value.utf8.count < 127)
        block.append(0x10)
        block.append(UInt8(name.utf8.count)); block += Array(name.utf8)
        block.append(UInt8(value.utf8.count)); block += Array(value.utf8)
    }
    var bytes = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    bytes += [0, 0, 0, 4, 0, 0, 0, 0, 0]  // SETTINGS, empty
    bytes += [0, UInt8(block.count >> 8), UInt8(block.count & 0xff), 1, 0x05, 0, 0, 0, 1] + block
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var timeout = timeval(tv_sec: 1, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while received.count < 1 << 16 {
        let n = recv(fd, &buffer, buffer.count, 0)
        guard n > 0 else { break }
        received += buffer.prefix(n)
        if String(decoding: received, as: UTF8.self).contains("\n") { break }  // the text body is in
    }
    return received
}
