/// Where an issuer's keys come from.
public enum JWKSSource: Sendable, Hashable, CustomStringConvertible {
    /// A JWKS document at an `http`/`https` URI (`jwksUri`).
    case remote(uri: String)
    /// OIDC discovery: `GET <issuer>/.well-known/openid-configuration`, then its `jwks_uri`.
    case discovery(issuer: String)
    /// A JWKS document given in the configuration (`jwks`). Parsed once at registration, never expires.
    case inline(String)
    /// A JWKS document in a local file; read at registration and re-read on the refresh schedule.
    case file(path: String)

    /// `kind:location`, used in logs, status and the persisted cache file.
    /// Inline documents are not echoed (they may hold `oct` secrets); only their length is.
    public var description: String {
        switch self {
        case .remote(let uri): return "remote:\(uri)"
        case .discovery(let issuer): return "discovery:\(issuer)"
        case .inline(let text): return "inline:\(text.utf8.count) bytes"
        case .file(let path): return "file:\(path)"
        }
    }

    /// Hashes the kind and location. An inline document is hashed by its length and its first and
    /// last 64 bytes only: the store looks its source up on every check, and hashing a whole JWKS
    /// text there cost more than the rest of the lookup. Equality still compares the full text.
    public func hash(into hasher: inout Hasher) {
        switch self {
        case .remote(let uri): hasher.combine(0); hasher.combine(uri)
        case .discovery(let issuer): hasher.combine(1); hasher.combine(issuer)
        case .file(let path): hasher.combine(3); hasher.combine(path)
        case .inline(let text):
            hasher.combine(2)
            let utf8 = text.utf8
            hasher.combine(utf8.count)
            let hashed: Void? = utf8.withContiguousStorageIfAvailable { all in
                let bytes = UnsafeRawBufferPointer(all)
                hasher.combine(bytes: UnsafeRawBufferPointer(rebasing: bytes.prefix(64)))
                hasher.combine(bytes: UnsafeRawBufferPointer(rebasing: bytes.suffix(64)))
            }
            if hashed == nil { hasher.combine(text) }
        }
    }

    /// Whether the keys come over the network (and so are refreshed, persisted, rate-limited and
    /// bounded by a fetch timeout).
    public var isRemote: Bool {
        switch self {
        case .remote, .discovery: return true
        case .inline, .file: return false
        }
    }

    /// The URL of the discovery document for an issuer (a trailing slash on the issuer is not doubled).
    static func discoveryURL(issuer: String) -> String {
        var base = issuer
        while base.hasSuffix("/") { base.removeLast() }
        return base + "/.well-known/openid-configuration"
    }

    /// `description` without what may be a credential in a URI (userinfo, query values): for
    /// `/config_dump`, `/metrics` labels and logs.
    public var redactedDescription: String {
        switch self {
        case .remote(let uri): return "remote:" + Self.redacted(uri: uri)
        case .discovery(let issuer): return "discovery:" + Self.redacted(uri: issuer)
        case .inline, .file: return description
        }
    }

    /// `text` (a log line) with every URI in it redacted as `redacted(uri:)` does: a URI runs from its scheme
    /// to the next whitespace, quote or `)`, without trailing `:,.;`.
    public static func redactedText(_ text: String) -> String {
        guard text.contains("://") else { return text }
        var out = ""
        var rest = Substring(text)
        while let r = rest.range(of: "://") {
            // The scheme: the letters right before "://".
            var start = r.lowerBound
            while start > rest.startIndex, rest[rest.index(before: start)].isLetter { start = rest.index(before: start) }
            var end = rest[r.upperBound...].firstIndex { $0.isWhitespace || $0 == "\"" || $0 == ")" || $0 == "'" } ?? rest.endIndex
            // Punctuation that ends a sentence or a `source:` prefix is not part of the URI.
            while end > r.upperBound, ":,.;".contains(rest[rest.index(before: end)]) { end = rest.index(before: end) }
            out += rest[..<start]
            out += redacted(uri: String(rest[start..<end]))
            rest = rest[end...]
        }
        return out + rest
    }

    /// `uri` with `user:password@` replaced by `<redacted>@` and query values by `…`.
    public static func redacted(uri: String) -> String {
        var text = uri
        if let scheme = text.range(of: "://") {
            let authorityEnd = text[scheme.upperBound...].firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? text.endIndex
            if let at = text[scheme.upperBound..<authorityEnd].lastIndex(of: "@") {
                text.replaceSubrange(scheme.upperBound...at, with: "<redacted>@")
            }
        }
        guard let q = text.firstIndex(of: "?") else { return text }
        let names = text[text.index(after: q)...].split(separator: "&").map { $0.split(separator: "=", maxSplits: 1).first.map(String.init) ?? "" }
        return String(text[..<q]) + "?" + names.map { $0 + "=…" }.joined(separator: "&")
    }
}
