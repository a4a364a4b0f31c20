/// Why a front-door request cannot be checked (answered 400, counted in `warden_invalid_requests_total`,
/// never decided): the original request it describes is missing, ambiguous or malformed. One case per cause.
public enum HTTPAuthzRequestError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A header that names the original request is absent (e.g. `x-forwarded-uri`).
    case missingHeader(String)
    /// A header that names the original request arrived more than once: which one is meant is unclear.
    case repeatedHeader(String)
    /// The original method is not an RFC 9110 token.
    case invalidMethod
    /// The original URI is not an origin-form target (`/…` without spaces or control characters).
    case invalidURI
    /// The original path has `%2F` or `%5C`: refused, as the documented Envoy config does
    /// (`path_with_escaped_slashes_action: REJECT_REQUEST`), never reinterpreted.
    case escapedSlash
    /// The original path is not in the normal form Warden decides on — a `.` or `..` segment (also as
    /// `%2E`), an empty segment (`//`), a `\`, or an escaped unreserved character (`%41`, `%7E`): refused,
    /// never normalized, because a forward-auth proxy passes the raw path to the app (nginx `$request_uri`,
    /// Caddy's `{uri}`) and the app may not resolve it as Warden would.
    case nonNormalPath
    /// The original URI has a `#`: a request target never carries a fragment (RFC 9112 §3.2), yet nginx
    /// passes one in `$request_uri` and the app may read past it (`/public/x#/../../private`); refused,
    /// never cut off.
    case fragmentInURI
    /// The original host is empty or has characters no host has.
    case invalidHost
    /// A trusted header (`--http-trusted-headers`) does not hold what it should.
    case invalidTrustedHeader(String)

    public var description: String {
        switch self {
        case .missingHeader(let h): "missing header \(h)"
        case .repeatedHeader(let h): "header \(h) sent more than once"
        case .invalidMethod: "the original method is not a valid HTTP method"
        case .invalidURI: "the original URI is not an origin-form request target"
        case .escapedSlash: "the original path has an escaped slash (%2F or %5C)"
        case .nonNormalPath:
            "the original path is not in normal form (dot segment, '//', backslash or escaped unreserved character); "
                + "the proxy would pass it to the app unresolved"
        case .fragmentInURI: "the original URI has a '#' (a request target carries no fragment)"
        case .invalidHost: "the original host is not a valid host"
        case .invalidTrustedHeader(let h): "trusted header \(h) is malformed"
        }
    }
}
