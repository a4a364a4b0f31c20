import WardenSync
import Foundation
import Testing
import WardenAdmin

/// A handler shaped like Warden's: a few known paths, everything else 404, and echo of what arrived.
@Sendable func demoHandler(_ request: AdminRequest) -> AdminResponse {
    switch (request.method, request.path) {
    case ("GET", "/healthz"):
        return .text("ok\n")
    case ("GET", "/readyz"):
        return AdminResponse(status: 503, body: "not ready: policies not loaded\n")
    case ("GET", "/echo"):
        let query = request.query.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        return .json("{\"query\":\"\(query)\",\"agent\":\"\(request.headers["user-agent"] ?? "")\"}")
    case ("GET", "/bytes"):
        return AdminResponse(status: 200, contentType: "application/octet-stream", body: [0, 1, 2, 255],
                             headers: [(name: "X-Warden-Test", value: "yes")])
    case (_, "/healthz"):
        return AdminResponse(status: 405, body: "method not allowed\n", headers: [(name: "Allow", value: "GET")])
    default:
        return .notFound
    }
}

@Suite("AdminServer over real HTTP")
struct AdminServerTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let method: String
        let path: String
        let status: Int
        let contentType: String
        let body: String
        var testDescription: String { "\(method) \(path) → \(status)" }
    }

    static let cases: [Case] = [
        Case(method: "GET", path: "/healthz", status: 200, contentType: "text/plain; charset=utf-8", body: "ok\n"),
        Case(method: "GET", path: "/readyz", status: 503, contentType: "text/plain; charset=utf-8",
             body: "not ready: policies not loaded\n"),
        Case(method: "GET", path: "/nope", status: 404, contentType: "text/plain; charset=utf-8", body: "not found\n"),
        Case(method: "GET", path: "/echo?b=2&a=1&flag", status: 200, contentType: "application/json",
             body: "{\"query\":\"a=1&b=2&flag=\",\"agent\":\"warden-test\"}"),
        Case(method: "POST", path: "/healthz", status: 405, contentType: "text/plain; charset=utf-8",
             body: "method not allowed\n"),
    ]

    @Test(arguments: cases)
    func answersWithTheHandlersResponse(_ c: Case) throws {
        let server = try AdminServer(listen: "127.0.0.1:0", handler: demoHandler)
        defer { server.stop() }
        #expect(server.port > 0)
        let result = try curl("http://127.0.0.1:\(server.port)\(c.path)", method: c.method,
                              data: c.method == "POST" ? "some body that is discarded" : nil,
                              extra: ["-A", "warden-test"])
        #expect(result.exitCode == 0)
        #expect(result.status == c.status)
        #expect(result.contentType == c.contentType)
        #expect(result.body == c.body)
    }

    @Test func binaryBodyAndExtraHeaders() throws {
        let server = try AdminServer(listen: "127.0.0.1:0", handler: demoHandler)
        defer { server.stop() }
        let result = try curl("http://127.0.0.1:\(server.port)/bytes", extra: ["--output", "/dev/null"])
        #expect(result.status == 200)
        #expect(result.headers["x-warden-test"] == "yes")
        #expect(result.headers["content-length"] == "4")
        #expect(result.contentType == "application/octet-stream")
    }

    @Test func handlerSeesMethodPathQueryAndHeaders() throws {
        let seen = Locked<[AdminRequest]>([])
        let server = try AdminServer(listen: "127.0.0.1:0") { request in
            seen.withLock { $0.append(request) }
            return .text("ok")
        }
        defer { server.stop() }
        _ = try curl("http://127.0.0.1:\(server.port)/config_dump?resource=jwks&x=a%20b",
                     extra: ["-H", "X-Custom: Value"])
        let requests = seen.withLock { $0 }
        #expect(requests.count == 1)
        #expect(requests.first?.method == "GET")
        #expect(requests.first?.path == "/config_dump")
        #expect(requests.first?.query == ["resource": "jwks", "x": "a b"])
        #expect(requests.first?.headers["x-custom"] == "Value")
    }

    @Test func boundOnlyToTheGivenAddress() throws {
        // All of 127/8 reaches the loopback interface on Linux, so a wildcard bind would answer on 127.0.0.2.
        let server = try AdminServer(listen: "127.0.0.1:0", handler: demoHandler)
        defer { server.stop() }
        #expect(try curl("http://127.0.0.1:\(server.port)/healthz").status == 200)
        let other = try curl("http://127.0.0.2:\(server.port)/healthz")
        #expect(other.exitCode != 0)
        #expect(other.status == 0)
    }

    @Test func listensOnIPv6Loopback() throws {
        let server: AdminServer
        do {
            server = try AdminServer(listen: "[::1]:0", handler: demoHandler)
        } catch .addressNotAvailable {
            return  // no IPv6 loopback on this host
        }
        defer { server.stop() }
        #expect(server.host == "::1")
        #expect(try curl("http://[::1]:\(server.port)/healthz").status == 200)
    }

    @Test func takenPortIsATypedError() throws {
        let first = try AdminServer(listen: "127.0.0.1:0", handler: demoHandler)
        defer { first.stop() }
        #expect(throws: AdminServerError.addressInUse("127.0.0.1:\(first.port)")) {
            _ = try AdminServer(listen: "127.0.0.1:\(first.port)", handler: demoHandler)
        }
    }

    @Test func stopReleasesThePort() throws {
        let first = try AdminServer(listen: "127.0.0.1:0", handler: demoHandler)
        let port = first.port
        first.stop()
        first.stop()  // idempotent
        #expect(try curl("http://127.0.0.1:\(port)/healthz").status == 0)
        let second = try AdminServer(listen: "127.0.0.1:\(port)", handler: demoHandler)
        defer { second.stop() }
        #expect(second.port == port)
        #expect(try curl("http://127.0.0.1:\(port)/healthz").status == 200)
    }

    @Test func servesConcurrentClients() async throws {
        let server = try AdminServer(listen: "127.0.0.1:0", handler: demoHandler)
        defer { server.stop() }
        let port = server.port
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask { try curl("http://127.0.0.1:\(port)/healthz").status }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses == Array(repeating: 200, count: 8))
    }

    @Test(arguments: ["127.0.0.1", "127.0.0.1:", "127.0.0.1:99999", "example.com:80", ":9901", "[::1:80",
                      "1.2.3:80", "127.0.0.1:-1"])
    func invalidListenAddress(_ listen: String) {
        #expect(throws: AdminServerError.invalidAddress(listen)) {
            _ = try AdminServer(listen: listen, handler: demoHandler)
        }
    }

    @Test func unassignedAddressIsATypedError() {
        // 192.0.2.0/24 is TEST-NET-1: never assigned to a local interface.
        #expect(throws: AdminServerError.addressNotAvailable("192.0.2.1:0")) {
            _ = try AdminServer(listen: "192.0.2.1:0", handler: demoHandler)
        }
    }
}
