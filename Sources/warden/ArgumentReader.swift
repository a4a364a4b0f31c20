/// Walks `--flag value` / `--flag=value` / `--switch` arguments, one flag at a time.
struct ArgumentReader {
    private var args: [String]
    private var index = 0

    init(_ args: [String]) { self.args = args }

    /// The next flag name (without its `=value` part), or nil at the end.
    mutating func nextFlag() throws(UsageError) -> String? {
        guard index < args.count else { return nil }
        let arg = args[index]
        guard arg.hasPrefix("--"), arg.count > 2 else { throw UsageError("unexpected argument '\(arg)'") }
        if let eq = arg.firstIndex(of: "=") {
            // Split `--flag=value` into two arguments so value() works the same way.
            args[index] = String(arg[..<eq])
            args.insert(String(arg[arg.index(after: eq)...]), at: index + 1)
        }
        index += 1
        return args[index - 1]
    }

    /// The value that follows `flag`.
    mutating func value(for flag: String) throws(UsageError) -> String {
        guard index < args.count else { throw UsageError("flag \(flag) needs a value") }
        let v = args[index]
        index += 1
        return v
    }

    mutating func int(for flag: String, in range: ClosedRange<Int>) throws(UsageError) -> Int {
        let raw = try value(for: flag)
        guard let n = Int(raw), range.contains(n) else {
            throw UsageError("invalid value '\(raw)' for \(flag): expected an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return n
    }

    mutating func seconds(for flag: String) throws(UsageError) -> Double {
        let raw = try value(for: flag)
        guard let d = parseDurationSeconds(raw), d >= 0 else {
            throw UsageError("invalid value '\(raw)' for \(flag): expected seconds, e.g. 5 or 1.5s or 20m")
        }
        return d
    }

    mutating func address(for flag: String) throws(UsageError) -> String {
        let raw = try value(for: flag)
        guard let colon = raw.lastIndex(of: ":"), let port = Int(raw[raw.index(after: colon)...]),
              (0...65535).contains(port), colon != raw.startIndex else {
            throw UsageError("invalid value '\(raw)' for \(flag): expected HOST:PORT")
        }
        return raw
    }
}

/// Parses `5`, `1.5`, `250ms`, `5s`, `20m`, `1h` into seconds.
func parseDurationSeconds(_ text: String) -> Double? {
    let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
    for (suffix, factor) in units where text.hasSuffix(suffix) {
        return Double(text.dropLast(suffix.count)).map { $0 * factor }
    }
    return Double(text)
}
