/// Why a source has no fresh keys: the last fetch (or file read, or inline parse) failed.
public enum JWKSError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The request produced no HTTP response.
    case fetch(FetchError)
    /// The server answered with a status other than 200 (or 304 to a conditional request).
    case httpStatus(Int)
    /// A 304 came back although the store holds no copy to revalidate.
    case notModifiedWithoutCache
    /// The discovery document is not JSON, lacks `jwks_uri`, or its `jwks_uri` is not http/https.
    case discoveryInvalid(String)
    /// The document is not a JWKS (`{"keys":[…]}`).
    case malformedJWKS(String)
    /// The document parsed but holds no key Warden can use; the skip reasons say why.
    case noUsableKeys(skipped: [String])
    /// A `.file` source could not be read.
    case fileUnreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case .fetch(let e): return e.description
        case .httpStatus(let s): return "HTTP status \(s)"
        case .notModifiedWithoutCache: return "304 Not Modified without a cached copy"
        case .discoveryInvalid(let m): return "invalid discovery document: \(m)"
        case .malformedJWKS(let m): return "malformed JWKS: \(m)"
        case .noUsableKeys(let skipped):
            return skipped.isEmpty ? "no usable keys" : "no usable keys (\(skipped.joined(separator: "; ")))"
        case .fileUnreadable(let path, let reason): return "cannot read \(path): \(reason)"
        }
    }

    /// A short label for metrics (`failed` fetches by cause).
    public var label: String {
        switch self {
        case .fetch(let e): return e.label
        case .httpStatus: return "http_status"
        case .notModifiedWithoutCache: return "not_modified_without_cache"
        case .discoveryInvalid: return "discovery_invalid"
        case .malformedJWKS: return "malformed_jwks"
        case .noUsableKeys: return "no_usable_keys"
        case .fileUnreadable: return "file_unreadable"
        }
    }
}
