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

    /// Whether the keys come over the network (and so are refreshed, persisted and rate-limited).
    var isRemote: Bool {
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
}
