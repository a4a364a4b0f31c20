internal import CHiredis
import WardenSync
#if canImport(Glibc)
import Glibc
#endif

/// A small pool of blocking hiredis connections to one Redis server: each command borrows a connection
/// (connecting, or reconnecting after a failure, within `timeout`), runs with `timeout` on its reads and
/// writes, and returns it. No more than `maxConnections` exist; a caller beyond them gets a fresh,
/// short-lived one rather than waiting. Commands are sent with `redisCommandArgv` (binary-safe; hiredis's
/// printf-style API is never used).
///
/// Bounded waits: the host name is resolved once, when the client is made (as nginx resolves a static
/// upstream), so no command can block in DNS; after a failure the client answers at once with the same
/// error for `cooldown` seconds (a breaker) instead of making every caller wait `timeout` for a dead
/// server, then lets one command probe. A pooled connection the server closed while idle is retried
/// once on a fresh one.
public final class RedisClient: Sendable {
    public let host: String
    /// The numeric address `host` resolved to.
    public let address: String
    public let port: Int
    public let timeout: Double
    public let cooldown: Double
    public let maxConnections: Int
    private let password: String?
    private let idle = Locked<[Connection]>([])
    private let breaker = Locked<(until: Double, error: RedisError?)>((0, nil))
    private let clock: @Sendable () -> Double

    /// - Throws: `.connect` when `host` does not resolve.
    public init(host: String, port: Int, timeout: Double = 0.05, cooldown: Double = 1, password: String? = nil,
                maxConnections: Int = 8, clock: @escaping @Sendable () -> Double = RedisClient.monotonicSeconds) throws(RedisError) {
        self.host = host
        address = try Self.resolve(host)
        self.port = port
        self.timeout = timeout
        self.cooldown = max(0, cooldown)
        self.password = password
        self.maxConnections = max(1, maxConnections)
        self.clock = clock
    }

    deinit {
        for c in idle.withLock({ $0 }) { c.close() }
    }

    /// `SET key 1 NX PX ttl`: true when the key was absent and is now set, false when it existed.
    public func setIfAbsent(_ key: String, ttlMilliseconds: Int) throws(RedisError) -> Bool {
        let reply = try run(["SET", key, "1", "NX", "PX", String(max(1, ttlMilliseconds))])
        switch reply {
        case .status(let s) where s == "OK": return true
        case .nil: return false
        case .error(let e): throw .server(e)
        case .status(let s): throw .server("SET answered \(s)")
        case .other(let type): throw .unexpectedReply(type)
        }
    }

    /// `PING`, for readiness and tests.
    public func ping() throws(RedisError) {
        if case .error(let e) = try run(["PING"]) { throw .server(e) }
    }

    enum Reply { case status(String), error(String), `nil`, other(Int32) }

    private func run(_ args: [String]) throws(RedisError) -> Reply {
        let now = clock()
        if let open = breaker.withLock({ b in now < b.until ? b.error : nil }) { throw open }
        do throws(RedisError) {
            let (connection, pooled) = try borrow()
            do throws(RedisError) {
                let reply = try command(args, on: connection)
                breaker.withLock { $0 = (0, nil) }
                return reply
            } catch .io where pooled && clock() - now < timeout / 2 {
                // A quick I/O failure on a pooled connection: the server closed it while idle (its
                // `timeout`, a restart). One fresh try; a slow failure is not retried (bounded wait).
                let fresh = try connect()
                let reply = try command(args, on: fresh)
                breaker.withLock { $0 = (0, nil) }
                return reply
            }
        } catch {
            if cooldown > 0, error.isUnavailability { breaker.withLock { $0 = (now + cooldown, error) } }
            throw error
        }
    }

    /// Runs one command; the connection goes back to the pool after an answer, is closed after a failure.
    private func command(_ args: [String], on connection: Connection) throws(RedisError) -> Reply {
        do throws(RedisError) {
            let reply = try connection.command(args)
            giveBack(connection)
            return reply
        } catch {
            connection.close()  // a failed connection is never reused
            throw error
        }
    }

    private func borrow() throws(RedisError) -> (Connection, pooled: Bool) {
        if let c = idle.withLock({ $0.popLast() }) { return (c, true) }
        return (try connect(), false)
    }

    private func connect() throws(RedisError) -> Connection {
        let c = try Connection(host: address, port: port, timeout: timeout)
        if let password {
            do throws(RedisError) {
                if case .error(let e) = try c.command(["AUTH", password]) { throw RedisError.server(e) }
            } catch {
                c.close()
                throw error
            }
        }
        return c
    }

    /// A monotonic clock in seconds (for the breaker).
    public static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// `host` as a numeric address (the first `getaddrinfo` answers, IPv4 or IPv6).
    static func resolve(_ host: String) throws(RedisError) -> String {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, nil, &hints, &list)
        guard rc == 0, let first = list else {
            throw .connect("cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(first.pointee.ai_addr, first.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 else {
            throw .connect("cannot resolve \(host)")
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private func giveBack(_ c: Connection) {
        let kept = idle.withLock { pool -> Bool in
            guard pool.count < maxConnections else { return false }
            pool.append(c)
            return true
        }
        if !kept { c.close() }
    }

    /// One hiredis context, used by one thread at a time (borrowed from the pool).
    final class Connection: @unchecked Sendable {
        // @unchecked: `context` is touched only by the thread that borrowed the connection.
        private var context: UnsafeMutablePointer<redisContext>?

        init(host: String, port: Int, timeout: Double) throws(RedisError) {
            let tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
            guard let c = redisConnectWithTimeout(host, Int32(port), tv) else { throw .connect("out of memory") }
            if c.pointee.err != 0 {
                let why = Self.message(c)
                redisFree(c)
                throw .connect(why)
            }
            redisSetTimeout(c, tv)
            context = c
        }

        func command(_ args: [String]) throws(RedisError) -> Reply {
            guard let context else { throw .io("closed") }
            // One buffer holding every argument, passed with explicit lengths: binary-safe (a NUL in a
            // password is sent as it is, never cut short or read past).
            let bytes = args.flatMap { Array($0.utf8) }
            var lengths = args.map { $0.utf8.count }
            let raw: UnsafeMutableRawPointer? = bytes.withUnsafeBufferPointer { buffer in
                let base = UnsafeRawPointer(buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!).assumingMemoryBound(to: CChar.self)
                var pointers: [UnsafePointer<CChar>?] = []
                var offset = 0
                for n in lengths {
                    pointers.append(base + offset)
                    offset += n
                }
                return pointers.withUnsafeMutableBufferPointer { p in
                    lengths.withUnsafeMutableBufferPointer { l in
                        redisCommandArgv(context, Int32(args.count), p.baseAddress, l.baseAddress)
                    }
                }
            }
            guard let raw else { throw .io(Self.message(context)) }
            defer { freeReplyObject(raw) }
            let reply = raw.assumingMemoryBound(to: redisReply.self).pointee
            func text() -> String {
                guard let s = reply.str else { return "" }
                return String(decoding: UnsafeRawBufferPointer(start: s, count: Int(reply.len)), as: UTF8.self)
            }
            switch reply.type {
            case REDIS_REPLY_STATUS: return .status(text())
            case REDIS_REPLY_ERROR: return .error(text())
            case REDIS_REPLY_NIL: return .nil
            default: return .other(reply.type)
            }
        }

        func close() {
            if let context { redisFree(context) }
            context = nil
        }

        deinit { close() }

        private static func message(_ c: UnsafeMutablePointer<redisContext>) -> String {
            withUnsafeBytes(of: c.pointee.errstr) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
        }
    }
}
