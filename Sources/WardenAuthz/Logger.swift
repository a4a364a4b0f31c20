import Glibc
import WardenJSON

/// Severity of a log line; lines below the logger's level are not written.
public enum LogLevel: String, Sendable, Comparable {
    case debug, info, warn, error

    private var rank: Int {
        switch self {
        case .debug: 0
        case .info: 1
        case .warn: 2
        case .error: 3
        }
    }

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rank < b.rank }
}

/// `--log-format`: one JSON object per line, or `time LEVEL msg key=value…`.
public enum LogFormat: String, Sendable {
    case json, text
}

/// Writes one line per event to stderr, as JSON or `key=value` text. Thread-safe: each line is one write(2).
public struct Logger: Sendable {
    public let level: LogLevel
    public let format: LogFormat

    public init(level: LogLevel, format: LogFormat) {
        self.level = level
        self.format = format
    }

    public func enabled(_ l: LogLevel) -> Bool { l >= level }

    /// Logs `message` with structured `fields` (values already redacted by the caller).
    /// One line, newline included, in the logger's format.
    public func render(_ l: LogLevel, _ message: String, _ fields: [(String, JSONValue)], time: String) -> String {
        var line = ""
        switch format {
        case .json:
            line = "{\"time\":\"\(time)\",\"level\":\"\(l.rawValue)\",\"msg\":"
            JSONValue.writeString(message, to: &line)
            for (k, v) in fields {
                line += ","
                JSONValue.writeString(k, to: &line)
                line += ":" + v.serialized
            }
            line += "}\n"
        case .text:
            line = "\(time) \(l.rawValue.uppercased()) \(message)"
            for (k, v) in fields {
                let text = v.scalarText ?? v.serialized
                line += " \(k)=" + (Logger.isBare(text) ? text : v.serialized)
            }
            line += "\n"
        }
        return line
    }

    public func log(_ l: LogLevel, _ message: String, _ fields: [(String, JSONValue)] = []) {
        guard enabled(l) else { return }
        let line = render(l, message, fields, time: Logger.timestamp())
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { buf in
            var off = 0
            while off < buf.count {
                let n = write(2, buf.baseAddress! + off, buf.count - off)
                if n <= 0 { if errno == EINTR { continue } else { return } }
                off += n
            }
        }
    }

    public func debug(_ m: String, _ f: [(String, JSONValue)] = []) { log(.debug, m, f) }
    public func info(_ m: String, _ f: [(String, JSONValue)] = []) { log(.info, m, f) }
    public func warn(_ m: String, _ f: [(String, JSONValue)] = []) { log(.warn, m, f) }
    public func error(_ m: String, _ f: [(String, JSONValue)] = []) { log(.error, m, f) }

    /// Whether a text-format value can be written without quotes: not empty, and no space, quote,
    /// backslash, `=` or control character. Anything else is written as a JSON string (control characters
    /// escaped), so a value — a claim, a path — can never end the line or fake another field.
    static func isBare(_ text: String) -> Bool {
        !text.isEmpty && !text.utf8.contains { $0 <= 0x20 || $0 == 0x7F || $0 == 0x22 || $0 == 0x5C || $0 == 0x3D }
    }

    /// RFC 3339 UTC time with milliseconds.
    public static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = time_t(ts.tv_sec)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        func pad(_ v: Int32, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(tmv.tm_year + 1900)-\(pad(tmv.tm_mon + 1, 2))-\(pad(tmv.tm_mday, 2))T\(pad(tmv.tm_hour, 2)):\(pad(tmv.tm_min, 2)):\(pad(tmv.tm_sec, 2)).\(pad(Int32(ts.tv_nsec / 1_000_000), 3))Z"
    }
}
