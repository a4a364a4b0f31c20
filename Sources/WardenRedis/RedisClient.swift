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
public final class RedisClient: Sendable {
    public let host: String
    public let port: Int
    public let timeout: Double
    public let maxConnections: Int
    private let password: String?
    private let idle = Locked<[Connection]>([])

    public init(host: String, port: Int, timeout: Double = 0.05, password: String? = nil, maxConnections: Int = 8) {
        self.host = host
        self.port = port
        self.timeout = timeout
        self.password = password
        self.maxConnections = max(1, maxConnections)
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
        let connection = try borrow()
        do throws(RedisError) {
            let reply = try connection.command(args)
            giveBack(connection)
            return reply
        } catch {
            connection.close()  // a failed connection is never reused
            throw error
        }
    }

    private func borrow() throws(RedisError) -> Connection {
        if let c = idle.withLock({ $0.popLast() }) { return c }
        let c = try Connection(host: host, port: port, timeout: timeout)
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
            let cStrings = args.map { strdup($0) }
            defer { cStrings.forEach { free($0) } }
            var pointers = cStrings.map { UnsafePointer($0) }
            var lengths = args.map { $0.utf8.count }
            let raw = pointers.withUnsafeMutableBufferPointer { p in
                lengths.withUnsafeMutableBufferPointer { l in
                    redisCommandArgv(context, Int32(args.count), p.baseAddress, l.baseAddress)
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
