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
    /// The keys the signature was checked against (nil: no keys were reached).
    public let keys: KeySnapshot?
    /// The provider that took the token (rule + requirements + key slot).
    let provider: JWTProvider?
    /// The token-cache entry that answered for the signature, if one did: its parsed token, verified
    /// view and identity are read from there, not copied (copying them cost ~2.5k instructions of a
    /// cached check in retains and releases).
    let cached: TokenCache.Entry?
    private let ownJWT: UnverifiedJWT?
    private let ownOutcome: Outcome
    private let ownIdentity: RequestIdentity?
    /// The identity with the SecurityPolicy provider that verified it (`verifiedBy`), when the provider is
    /// one: a copy made once here, only for such tokens (Istio's keep reading the cache entry's).
    private let providerIdentity: RequestIdentity?

    init(location: TokenLocation, byteCount: Int, jwt: UnverifiedJWT?, provider: JWTProvider?, keys: KeySnapshot?,
         outcome: Outcome, cached: TokenCache.Entry? = nil) {
        self.location = location
        self.byteCount = byteCount
        self.provider = provider
        self.keys = keys
        self.cached = cached
        if cached != nil {
            (ownJWT, ownOutcome, ownIdentity) = (nil, .notChecked, nil)
        } else {
            ownJWT = jwt
            ownOutcome = outcome
            if case .verified(let v) = outcome { ownIdentity = RequestIdentity(v) } else { ownIdentity = nil }
        }
        if let id = provider?.rule.gatewayProviderID, var bound = cached?.identity ?? ownIdentity {
            bound.verifiedBy = id
            providerIdentity = bound
        } else {
            providerIdentity = nil
        }
    }

    /// The token as parsed (header and claims NOT verified unless `outcome` is `.verified`); nil when it
    /// did not parse or was not checked.
    public var jwt: UnverifiedJWT? { cached?.jwt ?? ownJWT }
    /// How verification ended.
    public var outcome: Outcome { cached.map { .verified($0.verified) } ?? ownOutcome }
    /// Whether the token cache answered for the signature.
    public var fromCache: Bool { cached != nil }
    /// Istio's `request.auth.*` view of a verified token.
    public var identity: RequestIdentity? { providerIdentity ?? cached?.identity ?? ownIdentity }
    /// The rule whose issuer the token names and which reads tokens from `location`; nil when none.
    public var rule: JWTRule? { provider?.rule }
    /// The introspection endpoint the token's issuer names (an opaque token is sent there), if any.
    public var introspectionEndpoint: String? { provider?.introspection?.label }

    /// The verified token, if verification passed.
    public var verified: VerifiedJWT? {
        if let cached { return cached.verified }
        if case .verified(let v) = ownOutcome { return v }
        return nil
    }

    /// The error that rejected the token, if one did.
    public var error: JWTError? {
        if case .rejected(let e) = ownOutcome { return e }
        return nil
    }
}

/// The checks a token goes through, in the order Warden runs them (Envoy's order).
public enum TokenCheck: Int, Sendable, CaseIterable, Comparable {
    case decode, issuer, time, audience
    /// A TokenPolicy's checks of the token's type, claims and subject.
    case profile
    case keys, kid, signature
    /// Proof of possession for a sender-constrained token (`cnf`): every request, cached or not.
    case binding

    public static func < (a: TokenCheck, b: TokenCheck) -> Bool { a.rawValue < b.rawValue }
}

extension JWTError {
    /// The check that produces this error.
    public var check: TokenCheck {
        switch self {
        case .malformed, .tokenTooLarge, .unsupportedAlgorithm, .multipleTokens, .missing, .wrongRequirementName: return .decode
        case .issuerNotConfigured, .issuerMismatch: return .issuer
        // Raised once every check of every token passed: about the tokens together, after the signature.
        case .mixedIssuers: return .signature
        case .expired, .notYetValid, .missingExpiration, .lifetimeTooLong: return .time
        case .audienceMismatch: return .audience
        case .typeNotAllowed, .requiredClaim, .subjectNotAllowed, .delegationNotAllowed: return .profile
        case .jwksUnavailable, .malformedJWKS: return .keys
        case .unknownKid: return .kid
        case .badSignature, .lenientEncoding: return .signature
        case .bindingFailed: return .binding
        // The introspection endpoint stands in for keys and signature: it failing is like keys unavailable,
        // its "inactive" like a signature that does not verify.
        case .introspectionFailed: return .keys
        case .tokenInactive: return .signature
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
