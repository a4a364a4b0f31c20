/// Writes the Prometheus text exposition format (version 0.0.4): every family of `/metrics` is written
/// through this, so escaping and layout live in one place.
public struct PrometheusText {
    public private(set) var text = ""

    public init() {}

    /// `# HELP` and `# TYPE` lines of a family.
    public mutating func family(_ name: String, _ type: String, _ help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    /// One sample; label values are escaped.
    public mutating func sample(_ name: String, _ value: String, labels: [(String, String)] = []) {
        text += name
        if !labels.isEmpty {
            text += "{"
            var first = true
            for (k, v) in labels {
                if !first { text += "," }
                first = false
                text += k + "=\"" + Self.escape(v) + "\""
            }
            text += "}"
        }
        text += " " + value + "\n"
    }

    public mutating func sample(_ name: String, _ value: Int, labels: [(String, String)] = []) {
        sample(name, String(value), labels: labels)
    }

    public mutating func sample(_ name: String, _ value: Double, labels: [(String, String)] = []) {
        sample(name, "\(value)", labels: labels)
    }

    /// Label value escaping: backslash, double quote and line feed, per scalar (a `\r\n` pair is one
    /// Character in Swift); other control characters, which the format cannot escape, become spaces.
    /// Label values can come from outside (a discovery document's `jwks_uri`): none may add a line.
    public static func escape(_ s: String) -> String {
        var out = String.UnicodeScalarView()
        for u in s.unicodeScalars {
            switch u {
            case "\\": out.append(contentsOf: "\\\\".unicodeScalars)
            case "\"": out.append(contentsOf: "\\\"".unicodeScalars)
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            default: out.append(u.value < 0x20 || u.value == 0x7F ? " " : u)
            }
        }
        return String(out)
    }
}
