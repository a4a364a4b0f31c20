import WardenJSON

/// Query-string handling for token extraction and removal. Every delimiter (`?`, `#`, `&`, `=`) is found
/// by its byte, as Envoy's query parser does: a combining mark after one must not hide it (as a
/// Character, `?\u{301}` is not `?`, and a token after it would go unverified).
enum QueryString {
    /// The query of `path` (after the first `?`, before a `#`), nil without one.
    static func query(of path: String) -> Substring? {
        let utf8 = path.utf8
        guard let q = utf8.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        var query = Substring(utf8[utf8.index(after: q)...])
        if let hash = query.utf8.firstIndex(of: UInt8(ascii: "#")) { query = Substring(query.utf8[..<hash]) }
        return query
    }

    /// Decoded `(name, value)` pairs of the query in `path` (the part after `?`, before `#`).
    static func parse(path: String) -> [(String, String)] {
        guard let query = query(of: path) else { return [] }
        return query.bytesSplit(separator: UInt8(ascii: "&")).filter { !$0.isEmpty }.map { pair in
            if let eq = pair.utf8.firstIndex(of: UInt8(ascii: "=")) {
                return (decode(Substring(pair.utf8[..<eq])), decode(Substring(pair.utf8[pair.utf8.index(after: eq)...])))
            }
            return (decode(pair), "")
        }
    }

    /// The query keys of `path` exactly as written (not decoded) whose decoded name is `name`: what
    /// ext_authz `query_parameters_to_remove` must list, since Envoy matches those keys undecoded
    /// while jwt_authn finds the token by its decoded name (`access%5Ftoken` is `access_token`).
    static func rawKeys(named name: String, in path: String) -> [String] {
        guard let query = query(of: path) else { return [] }
        var keys: [String] = []
        for pair in query.bytesSplit(separator: UInt8(ascii: "&")) where !pair.isEmpty {
            let raw = pair.utf8.firstIndex(of: UInt8(ascii: "=")).map { Substring(pair.utf8[..<$0]) } ?? pair
            if decode(raw).bytesEqual(name), !keys.contains(where: { $0.bytesEqual(raw) }) { keys.append(String(raw)) }
        }
        return keys
    }

    /// Percent-decodes (and `+` → space, as Envoy's query parser does); invalid escapes stay as they are.
    static func decode(_ s: Substring) -> String {
        guard s.utf8.contains(UInt8(ascii: "%")) || s.utf8.contains(UInt8(ascii: "+")) else { return String(s) }
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        let bytes = Array(s.utf8)
        var i = 0
        func hex(_ b: UInt8) -> UInt8? {
            switch b {
            case 0x30...0x39: return b - 0x30
            case 0x41...0x46: return b - 0x41 + 10
            case 0x61...0x66: return b - 0x61 + 10
            default: return nil
            }
        }
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count, let h = hex(bytes[i + 1]), let l = hex(bytes[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else if bytes[i] == UInt8(ascii: "+") {
                out.append(0x20)
                i += 1
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
