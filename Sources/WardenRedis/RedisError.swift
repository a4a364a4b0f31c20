/// Why a Redis command did not get an answer Warden can use.
public enum RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Could not connect (or reconnect) within the timeout.
    case connect(String)
    /// The connection failed during the command (I/O error, timeout, closed by the server).
    case io(String)
    /// The server answered with an error reply (e.g. `NOAUTH`, `WRONGTYPE`).
    case server(String)
    /// An answer of a type the command never gives.
    case unexpectedReply(Int32)

    /// The server could not be reached or did not answer in time (not an answer Redis gave).
    public var isUnavailability: Bool {
        switch self {
        case .connect, .io: return true
        case .server, .unexpectedReply: return false
        }
    }

    public var description: String {
        switch self {
        case .connect(let why): return "cannot connect to Redis: \(why)"
        case .io(let why): return "Redis connection failed: \(why)"
        case .server(let why): return "Redis answered an error: \(why)"
        case .unexpectedReply(let type): return "unexpected Redis reply (type \(type))"
        }
    }
}
