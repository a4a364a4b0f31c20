import Testing
@testable import WardenHTTPServer

/// Which server a connection goes to, from the bytes it sent first (socket-free).
@Suite("ConnectionRouter.route")
struct ConnectionRouterTests {
    static let preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

    @Test(arguments: [
        ("", ConnectionRouter.Route.undecided),
        ("P", .undecided),
        ("PRI * HTTP/2.0\r\n", .undecided),
        (String(preface.dropLast()), .undecided),
        (preface, .http2),
        (preface + "\u{0}\u{0}\u{0}\u{4}", .http2),  // the SETTINGS frame that follows
        ("POST / HTTP/1.1\r\n", .http1),
        ("PUT / HTTP/1.1\r\n", .http1),
        ("PATCH /", .http1),
        ("PRI * HTTP/1.1\r\n", .http1),  // the preface's method with another version
        ("GET / HTTP/1.1\r\n", .http1),
        ("\r\n", .http1),
        ("pri * HTTP/2.0\r\n\r\nSM\r\n\r\n", .http1),  // the preface is case-sensitive
    ])
    func routes(sent: String, expected: ConnectionRouter.Route) {
        #expect(ConnectionRouter.route(Array(sent.utf8)) == expected)
    }
}
