/// What a header Warden writes may contain (RFC 9110 §5.5): a field value is visible ASCII and obs-text
/// (0x80–0xFF) with single spaces or tabs between them; never CR, LF, NUL or another control character,
/// never leading or trailing whitespace. Every value Warden emits — claims, the payload header, the
/// `WWW-Authenticate` realm, `x-warden-*` — passes through here.
public enum HeaderField {
    /// Whether `value` is a valid field value (the empty value is).
    public static func isValidValue(_ value: String) -> Bool {
        var bytes = value.utf8.makeIterator()
        var last: UInt8 = 0
        var first = true
        while let b = bytes.next() {
            if !isVisible(b) {
                guard b == 0x20 || b == 0x09, !first else { return false }
            }
            first = false
            last = b
        }
        return !(last == 0x20 || last == 0x09)
    }

    /// Why `value` is not a valid field value, for the log (nil when it is).
    public static func problem(_ value: String) -> String? {
        guard !isValidValue(value) else { return nil }
        for b in value.utf8 {
            switch b {
            case 0x0D: return "contains CR"
            case 0x0A: return "contains LF"
            case 0x00: return "contains NUL"
            case 0x09, 0x20: continue
            case ..<0x20, 0x7F: return "contains a control character"
            default: continue
            }
        }
        return "leading or trailing whitespace"
    }

    /// Diagnostic text made a valid field value: control characters become spaces, runs of whitespace
    /// one space, the ends trimmed, at most `limit` bytes (cut at a character boundary).
    public static func sanitized(_ text: String, limit: Int = 512) -> String {
        var out = String.UnicodeScalarView()
        var bytes = 0
        var pendingSpace = false
        for u in text.unicodeScalars {
            if u.value < 0x21 || u.value == 0x7F {
                pendingSpace = !out.isEmpty
                continue
            }
            let size = String(u).utf8.count + (pendingSpace ? 1 : 0)
            guard bytes + size <= limit else { break }
            if pendingSpace { out.append(" ") }
            out.append(u)
            bytes += size
            pendingSpace = false
        }
        return String(out)
    }

    /// A URI for `Bearer realm="…"`: the characters a quoted-string cannot hold as they are (`"`, `\`) and
    /// control characters are percent-encoded, so the request path cannot end the realm and add
    /// parameters (Envoy copies the path as it is). Identical to Envoy's realm for every ordinary path.
    public static func realm(_ uri: String) -> String {
        guard uri.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == 0x22 || $0 == 0x5C }) else { return uri }
        return percentEncoded(uri)
    }

    private static func percentEncoded(_ uri: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(uri.utf8.count + 8)
        for b in uri.utf8 {
            if b < 0x20 || b == 0x7F || b == 0x22 || b == 0x5C {
                bytes += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 15)]]
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func isVisible(_ b: UInt8) -> Bool { (b >= 0x21 && b <= 0x7E) || b >= 0x80 }
}
