#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import WardenJSON
import WardenPolicy

/// Claim lookup and formatting as Envoy's `claim_to_headers` does it.
enum ClaimText {
    /// The claim at a dotted path: `a.b.c` walks nested objects, as jwt_verify_lib's `StructUtils`
    /// does. A top-level member whose name contains a dot is never found (Envoy 1.40 neither). Split
    /// on the dot byte and looked up by bytes, as Envoy does.
    static func lookup(_ path: String, in claims: [String: JSONValue]) -> JSONValue? {
        var current: JSONValue = .object(claims)
        for part in path.bytesSplit(separator: UInt8(ascii: ".")) {
            guard let next = current.objectValue?.exactValue(forKey: String(part)) else { return nil }
            current = next
        }
        return current
    }

    /// String as is; booleans `true`/`false`; whole numbers in `0 ..< 2^64` as integers, others as C++'s
    /// `std::to_string(double)` (`%f`: six decimals, every integer digit); lists and objects as standard,
    /// padded base64 of their JSON (Envoy 1.40). An empty string or `null` gives no header (nil).
    static func headerValue(_ value: JSONValue) -> String? {
        switch value {
        case .string(let s): return s.isEmpty ? nil : s
        case .bool(let b): return b ? "true" : "false"
        case .number(let n):
            if n >= 0, n < 18_446_744_073_709_551_616.0, n == n.rounded(.towardZero) { return String(UInt64(n)) }
            return sixDecimals(n)
        case .array, .object:
            var json = ""
            protobufJSON(value, into: &json)
            return base64(Array(json.utf8))
        case .null: return nil
        }
    }

    /// `std::to_string(double)`, i.e. `printf("%f")`: correctly rounded, all integer digits.
    static func sixDecimals(_ n: Double) -> String {
        format("%f", n)
    }

    /// JSON as protobuf's printer writes a `google.protobuf.Value` (what Envoy serializes): compact,
    /// `<`, `>`, U+2028, U+2029 escaped as `\uXXXX`, numbers as `%.15g` (or `%.17g` when that is needed to
    /// round-trip), object keys sorted (Envoy's own order is a hash map's, i.e. unspecified).
    static func protobufJSON(_ value: JSONValue, into out: inout String) {
        switch value {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n): out += shortestG(n)
        case .string(let s): quote(s, into: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                protobufJSON(item, into: &out)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            for (i, key) in fields.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                quote(key, into: &out)
                out += ":"
                protobufJSON(fields[key]!, into: &out)
            }
            out += "}"
        }
    }

    static func quote(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "<": out += "\\u003c"
            case ">": out += "\\u003e"
            case "\u{2028}": out += "\\u2028"
            case "\u{2029}": out += "\\u2029"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    /// protobuf's `SimpleDtoa`: `%.15g`, or `%.17g` when the shorter form does not parse back.
    static func shortestG(_ n: Double) -> String {
        guard n.isFinite else { return n.isNaN ? "\"NaN\"" : (n > 0 ? "\"Infinity\"" : "\"-Infinity\"") }
        let short = printG(n, precision: 15)
        if Double(short) == n { return short }
        return printG(n, precision: 17)
    }

    private static func printG(_ n: Double, precision: Int32) -> String {
        format("%.*g", precision, n)
    }

    /// `vsnprintf` into a buffer large enough for `%f` of any finite Double (309 integer digits).
    private static func format(_ pattern: String, _ args: any CVarArg...) -> String {
        var buffer = [CChar](repeating: 0, count: 400)
        _ = withVaList(args) { list in
            buffer.withUnsafeMutableBufferPointer { vsnprintf($0.baseAddress, $0.count, pattern, list) }
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Standard base64 with `=` padding (RFC 4648 §4), as Envoy's `Base64::encode`.
    static func base64(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 2 < bytes.count {
            let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [alphabet[Int(v >> 18 & 63)], alphabet[Int(v >> 12 & 63)], alphabet[Int(v >> 6 & 63)], alphabet[Int(v & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let v = UInt32(bytes[i]) << 16
            out += [alphabet[Int(v >> 18 & 63)], alphabet[Int(v >> 12 & 63)], UInt8(ascii: "="), UInt8(ascii: "=")]
        } else if rest == 2 {
            let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [alphabet[Int(v >> 18 & 63)], alphabet[Int(v >> 12 & 63)], alphabet[Int(v >> 6 & 63)], UInt8(ascii: "=")]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
