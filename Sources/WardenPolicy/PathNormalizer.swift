/// Normalizes request paths as Istio's default `BASE` normalization (Envoy `normalize_path`) does
/// before authorization policies see them:
/// - the query string and fragment are dropped (policies match the path only);
/// - percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded once, other escapes
///   keep their encoding with upper-case hex — so `%2F` and `%5C` stay encoded, as with BASE
///   (only `DECODE_AND_MERGE_SLASHES` would decode them);
/// - `\` becomes `/`;
/// - `.` and `..` segments are removed per RFC 3986 §5.2.4 (never above the root);
/// - repeated slashes are kept (merging is `MERGE_SLASHES`, not the default).
/// Returns nil for paths Envoy rejects with 400 (`%00`, malformed escapes).
public enum PathNormalizer {
    public static func normalize(_ raw: String) -> String? {
        alreadyNormal(raw) ?? fullyNormalized(raw)
    }

    /// The normalization step by step (what `normalize` does when `alreadyNormal` cannot answer).
    static func fullyNormalized(_ raw: String) -> String? {
        var bytes = Array(raw.utf8)
        if let cut = bytes.firstIndex(where: { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }) {
            bytes.removeSubrange(cut...)
        }
        guard bytes.first == UInt8(ascii: "/") || bytes.first == UInt8(ascii: "\\") else {
            return String(decoding: bytes, as: UTF8.self)   // e.g. "*" (OPTIONS) or absolute-form: left alone
        }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "%") {
                guard i + 2 < bytes.count, let hi = hex(bytes[i + 1]), let lo = hex(bytes[i + 2]) else { return nil }
                let v = hi << 4 | lo
                if v == 0 { return nil }
                if isUnreserved(v) {
                    decoded.append(v)
                } else {
                    decoded.append(UInt8(ascii: "%"))
                    decoded.append(upperHex(hi))
                    decoded.append(upperHex(lo))
                }
                i += 3
            } else {
                decoded.append(b == UInt8(ascii: "\\") ? UInt8(ascii: "/") : b)
                i += 1
            }
        }
        return removeDotSegments(String(decoding: decoded, as: UTF8.self))
    }

    /// The common case without work to do: an absolute path with no escape, backslash or dot segment
    /// (its query or fragment cut off). nil when the full normalization has to run.
    static func alreadyNormal(_ raw: String) -> String? {
        let utf8 = raw.utf8
        guard utf8.first == UInt8(ascii: "/") else { return nil }
        var previous: UInt8 = 0
        var end = utf8.endIndex
        for i in utf8.indices {
            let b = utf8[i]
            switch b {
            case UInt8(ascii: "?"), UInt8(ascii: "#"):
                end = i
            case UInt8(ascii: "%"), UInt8(ascii: "\\"):
                return nil
            case UInt8(ascii: ".") where previous == UInt8(ascii: "/"):
                return nil   // may start a `.` or `..` segment
            default:
                previous = b
                continue
            }
            break
        }
        if end == utf8.endIndex { return raw }
        return String(raw[..<end])
    }

    /// RFC 3986 §5.2.4 on an absolute path.
    static func removeDotSegments(_ path: String) -> String {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        var out: [Substring] = []
        let last = segments.count - 1
        for (index, segment) in segments.enumerated() {
            switch segment {
            case ".":
                if index == last { out.append("") }
            case "..":
                if !out.isEmpty { out.removeLast() }
                if index == last { out.append("") }
            default:
                out.append(segment)
            }
        }
        return "/" + out.joined(separator: "/")
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    private static func upperHex(_ v: UInt8) -> UInt8 { v < 10 ? UInt8(ascii: "0") + v : UInt8(ascii: "A") + v - 10 }

    private static func isUnreserved(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): return true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"): return true
        default: return false
        }
    }
}
