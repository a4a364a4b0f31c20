import WardenSync
import CMicroHTTPD
import Foundation

/// An identity provider in the test process: a JWKS at `/jwks.json`, an OIDC discovery document at
/// `/.well-known/openid-configuration` and `/redirect` (302 to `behaviour.redirectTo`), on an ephemeral
/// 127.0.0.1 port, over HTTP or HTTPS (libmicrohttpd, a thread per connection, so a slow answer holds up
/// only its own request). Faults are scripted through `configure`; `stop()` closes the port, so later
/// connections are refused.
///
/// Key material and the TLS certificate are fixtures (Fixtures/idp, written by
/// Tests/IntegrationTests/swift_fixtures/idp_keys.py): public keys only, handed out in order under the kids
/// a test asks for.
final class IdP: Sendable {
    struct Key: Sendable {
        var kid: String
        var kty = "RSA"
        /// EC: P-256 (default), P-384, P-521; OKP: Ed25519.
        var crv: String?
    }

    /// What the IdP does with the next requests.
    struct Behaviour: Sendable {
        /// Every JWKS and discovery request gets `downStatus` and the body "down".
        var down = false
        var downStatus = 503
        /// Seconds a JWKS request waits before it is answered (cut short by `stop()`).
        var delay = 0.0
        /// Adds `"padding": "xxx…"` of this many characters to the JWKS document.
        var padding = 0
        /// Sends the JWKS chunked, without Content-Length.
        var omitContentLength = false
        /// Discovery `issuer` and `jwks_uri` (default: the IdP's base URL and its /jwks.json).
        var issuer: String?
        var jwksURI: String?
        var redirectTo: String?
        /// Sends an ETag and answers a matching If-None-Match with 304.
        var etag = true
        /// Serves this text instead of the key set.
        var body: String?
    }

    /// Requests seen so far, and JWKS requests being answered right now.
    struct Stats: Sendable, Equatable {
        var jwks = 0
        var discovery = 0
        var notModified = 0
        var inFlight = 0
    }

    let port: Int
    let tls: Bool
    /// With `tls`: the self-signed certificate the IdP serves (use it as the CA bundle).
    var caBundle: String? { tls ? Self.fixture("tls-cert.pem") : nil }
    var base: String { "\(tls ? "https" : "http")://127.0.0.1:\(port)" }
    var jwksURL: String { base + "/jwks.json" }

    private let state: ServerState
    private let daemon = Locked<OpaquePointer?>(nil)

    init(keys: [Key] = [Key(kid: "k1"), Key(kid: "k2", kty: "EC", crv: "P-256")], tls: Bool = false) throws {
        let listener = try Self.listen()
        port = listener.port
        self.tls = tls
        state = ServerState(pool: try Self.keyPool())
        try state.replaceKeys(keys)
        state.base = "\(tls ? "https" : "http")://127.0.0.1:\(listener.port)"

        var flags = MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_THREAD_PER_CONNECTION.rawValue
        var options: [CVarArg] = [MHD_OPTION.LISTEN_SOCKET.rawValue, listener.socket, MHD_OPTION.CONNECTION_TIMEOUT.rawValue, UInt32(30)]
        // libmicrohttpd copies the PEM texts while starting.
        var pem: [UnsafeMutablePointer<CChar>] = []
        defer { pem.forEach { free($0) } }
        if tls {
            for name in ["tls-key.pem", "tls-cert.pem"] {
                pem.append(strdup(try String(contentsOfFile: Self.fixture(name), encoding: .utf8))!)
            }
            flags |= MHD_USE_TLS.rawValue
            options += [MHD_OPTION.HTTPS_MEM_KEY.rawValue, UnsafePointer(pem[0]), MHD_OPTION.HTTPS_MEM_CERT.rawValue, UnsafePointer(pem[1])]
        }
        options.append(MHD_OPTION.END.rawValue)
        let context = Unmanaged.passUnretained(state).toOpaque()
        let started = withVaList(options) { arguments in
            MHD_start_daemon_va(flags, 0, nil, nil, idpAccessHandler, context, arguments)
        }
        guard let started else {
            close(listener.socket)
            throw IdPError.startFailed
        }
        daemon.withLock { $0 = started }
    }

    deinit { stop() }

    /// Changes what the IdP does from the next request on.
    func configure(_ change: (inout Behaviour) -> Void) {
        state.locked.withLock { change(&$0.behaviour) }
    }

    /// Publishes one more key (rotation).
    func addKey(_ key: Key) throws {
        try state.addKey(key)
    }

    var stats: Stats { state.locked.withLock { $0.stats } }

    /// The JWKS document as it is served right now.
    var jwksDocument: String { String(decoding: state.locked.withLock { $0.jwksBody() }, as: UTF8.self) }

    /// Closes the port and ends every connection (requests waiting out a `delay` are cut short).
    func stop() {
        guard let handle = daemon.withLock({ d -> OpaquePointer? in defer { d = nil }; return d }) else { return }
        state.stopping()
        MHD_stop_daemon(handle)
    }

    static func fixture(_ name: String) -> String { Fixtures.path("idp/" + name) }

    /// A listening TCP socket on 127.0.0.1 with a port the kernel picks (libmicrohttpd takes it over).
    private static func listen() throws -> (socket: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw IdPError.socket(errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, length) == 0 && Glibc.listen(fd, 64) == 0 && getsockname(fd, sa, &length) == 0
            }
        }
        guard bound else {
            let error = errno
            close(fd)
            throw IdPError.socket(error)
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// Fixtures/idp/keys.json: public JWKs without kid, grouped by "kty crv".
    private static func keyPool() throws -> [String: [[String: String]]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixture("keys.json")))
        guard let doc = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let keys = doc["keys"] as? [[String: String]] else { throw IdPError.badKeyPool }
        return Dictionary(grouping: keys) { "\($0["kty"] ?? "") \($0["crv"] ?? "")" }
    }
}

enum IdPError: Error {
    case socket(Int32)
    case startFailed
    case badKeyPool
    case noKeyMaterial(kty: String, crv: String?)
}

/// What the request handlers share with the test: state behind a lock, and a condition that wakes delayed
/// requests when the IdP stops.
private final class ServerState: @unchecked Sendable {
    // @unchecked: `base` is written once before the daemon starts; the rest is behind `locked` / `wakeUp`.
    struct Shared {
        var keys: [[String: String]] = []
        var used: [String: Int] = [:]
        var behaviour = IdP.Behaviour()
        var stats = IdP.Stats()
        var stopped = false
        var base = ""

        func jwksBody() -> [UInt8] {
            if let body = behaviour.body { return Array(body.utf8) }
            var doc: [String: Any] = ["keys": keys]
            if behaviour.padding > 0 { doc["padding"] = String(repeating: "x", count: behaviour.padding) }
            return json(doc)
        }
    }

    let pool: [String: [[String: String]]]
    let locked = Locked(Shared())
    private let wakeUp = NSCondition()

    init(pool: [String: [[String: String]]]) { self.pool = pool }

    var base: String {
        get { locked.withLock { $0.base } }
        set { locked.withLock { $0.base = newValue } }
    }

    func replaceKeys(_ keys: [IdP.Key]) throws {
        try locked.withLock { shared in
            shared.keys = []
            shared.used = [:]
            for key in keys { shared.keys.append(try material(for: key, used: &shared.used)) }
        }
    }

    func addKey(_ key: IdP.Key) throws {
        try locked.withLock { shared in shared.keys.append(try material(for: key, used: &shared.used)) }
    }

    /// The next unused pool key of the key's type, as a JWK with its kid.
    private func material(for key: IdP.Key, used: inout [String: Int]) throws -> [String: String] {
        let crv = key.crv ?? (key.kty == "EC" ? "P-256" : key.kty == "OKP" ? "Ed25519" : nil)
        let group = "\(key.kty) \(crv ?? "")"
        let index = used[group, default: 0]
        guard let candidates = pool[group], index < candidates.count else { throw IdPError.noKeyMaterial(kty: key.kty, crv: crv) }
        used[group] = index + 1
        var jwk = candidates[index]
        jwk["kid"] = key.kid
        jwk["use"] = "sig"
        jwk["alg"] = ["RSA ": "RS256", "EC P-256": "ES256", "EC P-384": "ES384", "EC P-521": "ES512", "OKP Ed25519": "EdDSA"][group]
        return jwk
    }

    /// Waits `seconds`, or less if the IdP stops meanwhile.
    func sleep(_ seconds: Double) {
        let deadline = Date().addingTimeInterval(seconds)
        wakeUp.lock()
        defer { wakeUp.unlock() }
        while !locked.withLock({ $0.stopped }), wakeUp.wait(until: deadline) {}
    }

    func stopping() {
        locked.withLock { $0.stopped = true }
        wakeUp.lock()
        wakeUp.broadcast()
        wakeUp.unlock()
    }

    /// Answers one complete GET.
    func respond(path: String, ifNoneMatch: String?) -> Reply {
        let (behaviour, base) = locked.withLock { ($0.behaviour, $0.base) }
        switch path {
        case "/jwks.json":
            locked.withLock { $0.stats.jwks += 1; $0.stats.inFlight += 1 }
            defer { locked.withLock { $0.stats.inFlight -= 1 } }
            if behaviour.delay > 0 { sleep(behaviour.delay) }
            if behaviour.down { return Reply(status: behaviour.downStatus, body: Array("down".utf8)) }
            let body = locked.withLock { $0.jwksBody() }
            guard behaviour.etag else {
                return Reply(status: 200, headers: [("Content-Type", "application/json")], body: body, chunked: behaviour.omitContentLength)
            }
            let etag = "\"\(fnv1a(body))\""
            if ifNoneMatch == etag {
                locked.withLock { $0.stats.notModified += 1 }
                return Reply(status: 304, headers: [("ETag", etag)])
            }
            return Reply(status: 200, headers: [("Content-Type", "application/json"), ("ETag", etag)], body: body,
                         chunked: behaviour.omitContentLength)
        case "/.well-known/openid-configuration":
            locked.withLock { $0.stats.discovery += 1 }
            if behaviour.down { return Reply(status: behaviour.downStatus, body: Array("down".utf8)) }
            let doc = ["issuer": behaviour.issuer ?? base, "jwks_uri": behaviour.jwksURI ?? base + "/jwks.json"]
            return Reply(status: 200, headers: [("Content-Type", "application/json")], body: json(doc))
        case "/redirect" where behaviour.redirectTo != nil:
            return Reply(status: 302, headers: [("Location", behaviour.redirectTo!)])
        default:
            return Reply(status: 404, body: Array("not found".utf8))
        }
    }
}

struct Reply {
    var status: Int
    var headers: [(String, String)] = []
    var body: [UInt8] = []
    /// Chunked transfer encoding, no Content-Length.
    var chunked = false
}

private func json(_ object: Any) -> [UInt8] {
    [UInt8](try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
}

/// FNV-1a 64, hex: an ETag that changes with the document.
private func fnv1a(_ bytes: [UInt8]) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    return String(hash, radix: 16)
}

/// libmicrohttpd's access handler: first call per request marks it, later calls (body chunks, none for GET)
/// are drained, the last one answers.
private func idpAccessHandler(
    _ cls: UnsafeMutableRawPointer?, _ connection: OpaquePointer?,
    _ url: UnsafePointer<CChar>?, _ method: UnsafePointer<CChar>?, _ version: UnsafePointer<CChar>?,
    _ uploadData: UnsafePointer<CChar>?, _ uploadDataSize: UnsafeMutablePointer<Int>?,
    _ requestContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> MHD_Result {
    guard let cls, let connection, let requestContext else { return .NO }
    if requestContext.pointee == nil {
        requestContext.pointee = UnsafeMutableRawPointer(bitPattern: 1)
        return .YES
    }
    if let uploadDataSize, uploadDataSize.pointee != 0 {
        uploadDataSize.pointee = 0
        return .YES
    }
    let state = Unmanaged<ServerState>.fromOpaque(cls).takeUnretainedValue()
    let ifNoneMatch = MHD_lookup_connection_value(connection, .HEADER_KIND, "If-None-Match").map { String(cString: $0) }
    let reply = state.respond(path: url.map { String(cString: $0) } ?? "/", ifNoneMatch: ifNoneMatch)

    let response: OpaquePointer?
    if reply.chunked {
        let body = Unmanaged.passRetained(ChunkedBody(reply.body)).toOpaque()
        response = MHD_create_response_from_callback(UInt64.max, 16 * 1024, { cls, position, buffer, max in
            let body = Unmanaged<ChunkedBody>.fromOpaque(cls!).takeUnretainedValue()
            let start = Int(position)
            guard start < body.bytes.count else { return -1 }  // MHD_CONTENT_READER_END_OF_STREAM
            let count = min(max, body.bytes.count - start)
            body.bytes.withUnsafeBytes { source in
                UnsafeMutableRawPointer(buffer!).copyMemory(from: source.baseAddress! + start, byteCount: count)
            }
            return count
        }, body, { cls in Unmanaged<ChunkedBody>.fromOpaque(cls!).release() })
    } else {
        var bytes = reply.body
        response = bytes.withUnsafeMutableBytes { MHD_create_response_from_buffer($0.count, $0.baseAddress, .RESPMEM_MUST_COPY) }
    }
    guard let response else { return .NO }
    defer { MHD_destroy_response(response) }
    for (name, value) in reply.headers { _ = MHD_add_response_header(response, name, value) }
    return MHD_queue_response(connection, UInt32(reply.status), response)
}

/// A chunked body, kept alive by libmicrohttpd (retained until its free callback).
private final class ChunkedBody {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
}
