import WardenJWKS
import WardenJWT
import WardenPolicy

/// One token a check found, and everything that was learned about it: where it was, what it says
/// (parsed, not trusted unless verified), which rule took it, the keys it met and how it ended.
/// Built once per token by the authenticator; read by the response builder, the decision log and
/// `warden explain`. A class: it travels through closures and arrays, and is never changed.
public final class TokenTrace: Sendable {
    /// How verification of this token ended.
    public enum Outcome: Sendable {
        /// Not checked: an earlier-checked token already decided the answer (Envoy checks the last
        /// extracted token first and stops at the first failure).
        case notChecked
        /// Every check passed.
        case verified(VerifiedJWT)
        /// The first check that failed, as Warden stops there.
        case rejected(JWTError)
    }

    public let location: TokenLocation
    /// The token's length in bytes (the token itself is never kept in a trace: traces are logged).
    public let byteCount: Int
    /// The token as parsed (header and claims NOT verified unless `outcome` is `.verified`); nil when it
    /// did not parse or was not checked.
    public let jwt: UnverifiedJWT?
    /// The rule whose issuer the token names and which reads tokens from `location`; nil when none.
    public let rule: JWTRule?
    /// The keys the signature was checked against (nil: no keys were reached).
    public let keys: KeySnapshot?
    public let outcome: Outcome
    /// Whether the token cache answered for the signature.
    public let fromCache: Bool
    /// Istio's `request.auth.*` view of a verified token.
    public let identity: RequestIdentity?
    /// The provider that took the token (rule + requirements + key slot).
    let provider: JWTProvider?
    /// The token-cache entry that answered for the signature, if one did.
    let cached: TokenCache.Entry?

    init(location: TokenLocation, byteCount: Int, jwt: UnverifiedJWT?, provider: JWTProvider?, keys: KeySnapshot?,
         outcome: Outcome, cached: TokenCache.Entry? = nil) {
        self.location = location
        self.byteCount = byteCount
        self.jwt = jwt
        self.provider = provider
        rule = provider?.rule
        self.keys = keys
        self.outcome = outcome
        self.cached = cached
        fromCache = cached != nil
        if let cached {
            identity = cached.identity
        } else if case .verified(let v) = outcome {
            self.identity = RequestIdentity(v)
        } else {
            self.identity = nil
        }
    }

    /// The verified token, if verification passed.
    public var verified: VerifiedJWT? {
        if case .verified(let v) = outcome { return v }
        return nil
    }

    /// The error that rejected the token, if one did.
    public var error: JWTError? {
        if case .rejected(let e) = outcome { return e }
        return nil
    }
}

/// The checks a token goes through, in the order Warden runs them (Envoy's order).
public enum TokenCheck: Int, Sendable, CaseIterable, Comparable {
    case decode, issuer, time, audience, keys, kid, signature

    public static func < (a: TokenCheck, b: TokenCheck) -> Bool { a.rawValue < b.rawValue }
}

extension JWTError {
    /// The check that produces this error.
    public var check: TokenCheck {
        switch self {
        case .malformed, .tokenTooLarge, .unsupportedAlgorithm: return .decode
        case .issuerNotConfigured, .issuerMismatch: return .issuer
        case .expired, .notYetValid, .missingExpiration, .lifetimeTooLong: return .time
        case .audienceMismatch: return .audience
        case .jwksUnavailable, .malformedJWKS: return .keys
        case .unknownKid: return .kid
        case .badSignature, .lenientEncoding: return .signature
        }
    }
}

extension RequestIdentity {
    /// The identity a verified token gives a request.
    init(_ jwt: VerifiedJWT) {
        self.init(issuer: jwt.issuer ?? "", subject: jwt.subject ?? "", audiences: jwt.audiences,
                  presenter: jwt.presenter, claims: jwt.claims)
    }
}
