import WardenHTTPServer

/// Warden's admin endpoints (`/healthz`, `/readyz`, `/metrics`, `/config_dump`) on an ``HTTPServer``.
///
/// It binds only to the address it is given, serves requests on one polling thread and answers each
/// with the handler's response. Request bodies are read and discarded. The handler runs on that
/// thread: keep it short and never call ``stop()`` from inside it.
public final class AdminServer: Sendable {
    /// The bound port (the ephemeral one the kernel chose when the listen address said port 0).
    public var port: Int { server.port }
    /// The bound host, as an IP literal.
    public var host: String { server.host }

    private let server: HTTPServer

    /// Starts listening on `listen` ("host:port"; port 0 picks a free port).
    /// - Parameters:
    ///   - connectionLimit: concurrent connections accepted; further ones are refused.
    ///   - connectionTimeoutSeconds: idle connections are closed after this long.
    ///   - handler: answers every request, including unknown paths.
    /// - Throws: ``AdminServerError`` naming the cause (bad address, address in use, …).
    public init(
        listen: String,
        connectionLimit: Int = 64,
        connectionTimeoutSeconds: Int = 10,
        handler: @escaping @Sendable (AdminRequest) -> AdminResponse
    ) throws(AdminServerError) {
        var configuration = HTTPServer.Configuration(listen: listen)
        configuration.connectionLimit = connectionLimit
        configuration.idleTimeoutSeconds = connectionTimeoutSeconds
        do {
            server = try HTTPServer(configuration: configuration) { request, responder in
                responder.respond(handler(AdminRequest(request)).serverResponse)
            }
        } catch {
            throw AdminServerError(error)
        }
    }

    /// Stops accepting, closes every connection and joins the polling thread. Idempotent.
    /// The port is free again when this returns.
    public func stop() {
        server.stop()
    }
}

extension AdminRequest {
    /// The admin view of a request: the path and query arguments percent-decoded (`+` in the query is
    /// a space), headers by lower-cased name with the last value winning.
    init(_ request: HTTPServerRequest) {
        var query: [String: String] = [:]
        for pair in (request.query ?? "").split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = percentDecoded(parts[0], plusIsSpace: true)
            query[name] = parts.count > 1 ? percentDecoded(parts[1], plusIsSpace: true) : ""
        }
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name] = field.value }
        self.init(method: request.method, path: percentDecoded(request.path), query: query, headers: headers)
    }
}

extension AdminResponse {
    var serverResponse: HTTPServerResponse {
        HTTPServerResponse(status: status,
                           headers: [HTTPField("Content-Type", contentType)] + headers.map { HTTPField($0.name, $0.value) },
                           body: body)
    }
}

/// `%XX` sequences decoded as UTF-8 (invalid sequences kept as sent).
private func percentDecoded<S: StringProtocol>(_ text: S, plusIsSpace: Bool = false) -> String {
    var bytes: [UInt8] = []
    var utf8 = Array(text.utf8)[...]
    while let byte = utf8.popFirst() {
        if byte == UInt8(ascii: "%"), utf8.count >= 2,
           let high = hexValue(utf8[utf8.startIndex]), let low = hexValue(utf8[utf8.startIndex + 1]) {
            bytes.append(high << 4 | low)
            utf8 = utf8.dropFirst(2)
        } else {
            bytes.append(plusIsSpace && byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}
