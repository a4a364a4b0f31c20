import WardenJSON

/// What an introspection endpoint said about a token (RFC 7662 §2.2), or why it said nothing usable.
public enum IntrospectionOutcome: Sendable {
    /// `active: true`: the answer's members (without `active`) and the body as received.
    case active(claims: [String: JSONValue], answer: [UInt8], cached: Bool)
    /// `active: false`: the token is expired, revoked, unknown or not for this client.
    case inactive(cached: Bool)
    case failed(IntrospectionError)
}

/// Why an introspection call gave no answer Warden can use. Every case fails the check closed.
public enum IntrospectionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The HTTP call failed (connect, TLS, timeout, too large).
    case transport(String)
    /// The endpoint answered with a status other than 200 (e.g. 401: Warden's client credentials).
    case status(Int)
    /// The body is not a JSON object with a boolean `active`.
    case malformed(String)
    /// The client secret file could not be read.
    case secret(String)
    /// Too many introspections are in flight already (bounded; answered at once).
    case busy

    public var description: String {
        switch self {
        case .transport(let why): return "the introspection call failed: \(why)"
        case .status(let code): return "the introspection endpoint answered HTTP \(code)"
        case .malformed(let why): return "the introspection answer is malformed: \(why)"
        case .secret(let why): return why
        case .busy: return "too many token introspections in flight"
        }
    }
}
