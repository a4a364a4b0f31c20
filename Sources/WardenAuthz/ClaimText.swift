import WardenJSON

/// Claim lookup and formatting as Envoy's `claim_to_headers` does it.
enum ClaimText {
    /// The claim at a dotted path (`a.b.c` walks nested objects); a literal top-level name wins.
    static func lookup(_ path: String, in claims: [String: JSONValue]) -> JSONValue? {
        if let direct = claims[path] { return direct }
        var current: JSONValue = .object(claims)
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            guard let next = current[String(part)] else { return nil }
            current = next
        }
        return current
    }

    /// String as is; booleans `true`/`false`; whole non-negative numbers as integers, others as C++'s
    /// `std::to_string(double)` (six decimals). Lists and objects have no header form (nil).
    static func headerValue(_ value: JSONValue) -> String? {
        switch value {
        case .string(let s): return s.isEmpty ? nil : s
        case .bool(let b): return b ? "true" : "false"
        case .number(let n):
            if n >= 0, n < 1.8e19, n == n.rounded(.towardZero) { return String(UInt64(n)) }
            return sixDecimals(n)
        default: return nil
        }
    }

    static func sixDecimals(_ n: Double) -> String {
        let negative = n < 0
        let scaled = (abs(n) * 1_000_000).rounded()
        guard scaled < 9e18 else { return String(n) }
        let micro = UInt64(scaled)
        let frac = String(micro % 1_000_000)
        return (negative ? "-" : "") + String(micro / 1_000_000) + "." + String(repeating: "0", count: 6 - frac.count) + frac
    }
}
