/// Query-string handling for token extraction and removal.
enum QueryString {
    /// Decoded `(name, value)` pairs of the query in `path` (the part after `?`, before `#`).
    static func parse(path: String) -> [(String, String)] {
        // Most paths have no query: a byte scan answers that without Character segmentation.
        guard path.utf8.contains(UInt8(ascii: "?")), let q = path.firstIndex(of: "?") else { return [] }
        var query = path[path.index(after: q)...]
        if let hash = query.firstIndex(of: "#") { query = query[..<hash] }
        return query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            if let eq = pair.firstIndex(of: "=") {
                return (decode(pair[..<eq]), decode(pair[pair.index(after: eq)...]))
            }
            return (decode(pair), "")
        }
    }

    /// The query keys of `path` exactly as written (not decoded) whose decoded name is `name`: what
    /// ext_authz `query_parameters_to_remove` must list, since Envoy matches those keys undecoded
    /// while jwt_authn finds the token by its decoded name (`access%5Ftoken` is `access_token`).
    static func rawKeys(named name: String, in path: String) -> [String] {
        guard path.utf8.contains(UInt8(ascii: "?")), let q = path.firstIndex(of: "?") else { return [] }
        var query = path[path.index(after: q)...]
        if let hash = query.firstIndex(of: "#") { query = query[..<hash] }
        var keys: [String] = []
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let raw = pair.firstIndex(of: "=").map { pair[..<$0] } ?? pair
            if decode(raw) == name, !keys.contains(String(raw)) { keys.append(String(raw)) }
        }
        return keys
    }

    /// Percent-decodes (and `+` → space, as Envoy's query parser does); invalid escapes stay as they are.
    static func decode(_ s: Substring) -> String {
        guard s.contains("%") || s.contains("+") else { return String(s) }
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
