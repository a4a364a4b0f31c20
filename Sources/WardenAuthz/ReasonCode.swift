import WardenJWT
import WardenPolicy

/// Why a check ended as it did: one case per outcome the Check path produces. The raw value is the
/// `reason_code` of the decision log, the `reason` label of `warden_checks_total` and the README's table
/// (`ReasonCodeTests` compares them), so it is stable: add cases, never rename one.
public enum ReasonCode: String, CaseIterable, Sendable {
    /// Every token present verified and the AuthorizationPolicies allow the request.
    case allowed
    // A token was rejected (401, or 403 for the audience): one case per JWTError that reaches a check.
    case jwtMalformed = "jwt_malformed"
    /// No token, and a jwtRule in scope has `presence: REQUIRED` (401 `Jwt is missing`).
    case jwtMissing = "jwt_missing"
    /// An Envoy jwt_authn route names a `requirement_name` its document lacks (403, as Envoy).
    case jwtWrongRequirementName = "jwt_wrong_requirement_name"
    case jwtTokenTooLarge = "jwt_token_too_large"
    /// One location carries two different tokens (`session=A; session=B`).
    case jwtMultipleTokens = "jwt_multiple_tokens"
    /// Tokens of several issuers, and no rule finds only its own at its locations (Envoy: 401).
    case jwtMixedIssuers = "jwt_mixed_issuers"
    case jwtUnsupportedAlgorithm = "jwt_unsupported_algorithm"
    case jwtIssuerNotConfigured = "jwt_issuer_not_configured"
    case jwtIssuerMismatch = "jwt_issuer_mismatch"
    case jwtExpired = "jwt_expired"
    case jwtNotYetValid = "jwt_not_yet_valid"
    case jwtMissingExpiration = "jwt_missing_expiration"
    case jwtLifetimeTooLong = "jwt_lifetime_too_long"
    case jwtAudienceMismatch = "jwt_audience_mismatch"
    case jwtJWKSUnavailable = "jwt_jwks_unavailable"
    case jwtUnknownKid = "jwt_unknown_kid"
    case jwtBadSignature = "jwt_bad_signature"
    case jwtLenientEncoding = "jwt_lenient_encoding"
    /// A token bound to a client certificate (`cnf.x5t#S256`, RFC 8705) without that certificate.
    case jwtCertificateBinding = "jwt_certificate_binding"
    /// A DPoP-bound token (`cnf.jkt`) presented as a bearer token (RFC 9449 §7.1).
    case jwtDPoPBoundAsBearer = "jwt_dpop_bound_as_bearer"
    /// A `cnf` claim with no confirmation method Warden checks.
    case jwtUnsupportedConfirmation = "jwt_unsupported_confirmation"
    /// A TokenPolicy requires sender-constrained tokens and this one is a plain bearer token.
    case jwtBindingRequired = "jwt_binding_required"
    /// A DPoP proof that fails RFC 9449 §4.3 (form, signature, htm, htu, iat, ath, replay).
    case jwtDPoPProofInvalid = "jwt_dpop_proof_invalid"
    /// A token with the DPoP scheme whose `cnf.jkt` is not the proof's key (or that is not DPoP-bound).
    case jwtDPoPKeyMismatch = "jwt_dpop_key_mismatch"
    /// The shared DPoP replay store (Redis) could not answer: 503, fail closed.
    case jwtDPoPReplayUnavailable = "jwt_dpop_replay_unavailable"
    /// Server nonces are on (`--dpop-nonce-key-file`) and the DPoP proof has no `nonce` (401 `use_dpop_nonce`
    /// with a fresh `DPoP-Nonce`, RFC 9449 §9): the first request of a client, which then retries.
    case jwtDPoPNonceRequired = "jwt_dpop_nonce_required"
    /// The proof's nonce is one Warden issued, older than `--dpop-nonce-lifetime` (401 `use_dpop_nonce`).
    case jwtDPoPNonceExpired = "jwt_dpop_nonce_expired"
    /// The proof's nonce was not issued by this nonce key to this proof key: forged, altered, or the replicas'
    /// key files differ (401 `use_dpop_nonce`).
    case jwtDPoPNonceInvalid = "jwt_dpop_nonce_invalid"
    /// An opaque token the RFC 7662 introspection endpoint answered `active: false` for.
    case tokenInactive = "token_inactive"
    /// The token's delegation chain (`act`) is not allowed by its issuer's TokenPolicy (403).
    case jwtDelegationNotAllowed = "jwt_delegation_not_allowed"
    /// The introspection endpoint gave no usable answer (down, slow, error status, malformed): fail closed.
    case tokenIntrospectionFailed = "token_introspection_failed"
    /// The request was allowed, and the token endpoint refused to exchange its token (403, RFC 8693 §2.2.2).
    case tokenExchangeRefused = "token_exchange_refused"
    /// The request was allowed, and the token exchange got no usable answer in time (503, fail closed).
    case tokenExchangeUnavailable = "token_exchange_unavailable"
    /// The request was allowed, and whether a `tokenExchange` rule applies depends on a connection fact the
    /// HTTP front door did not report (`to.ports`/`notPorts`: the destination port): 403, fail closed — never
    /// sent on without the exchange.
    case tokenExchangeConnectionFactUnreported = "token_exchange_connection_fact_unreported"
    /// A TokenPolicy's `typ` list refuses the token's `typ` (e.g. an ID token where `at+jwt` is required).
    case jwtTypeNotAllowed = "jwt_type_not_allowed"
    /// A TokenPolicy's required claim is missing or has another value.
    case jwtRequiredClaim = "jwt_required_claim"
    /// `sub` fails a TokenPolicy's `subjects` (Envoy's `subjects`).
    case jwtSubjectNotAllowed = "jwt_subject_not_allowed"
    // The AuthorizationPolicies deny (403 `RBAC: access denied`).
    /// A DENY policy matched.
    case policyDenied = "policy_denied"
    /// A DENY policy matched because a `when` on `experimental.envoy.filters.*` needs a metadata namespace
    /// Envoy did not send (not in the ext_authz filter's `metadata_context_namespaces`): fail closed.
    case policyDeniedMetadataNotSent = "policy_denied_metadata_not_sent"
    /// A DENY policy matched because a part of the rule needs a connection fact (`source.ip`,
    /// `source.principal`, `connection.sni`, `destination.*`) the HTTP front door did not report: fail closed.
    case policyDeniedConnectionFactUnreported = "policy_denied_connection_fact_unreported"
    /// ALLOW policies apply and none matched.
    case noAllowPolicyMatched = "no_allow_policy_matched"
    /// The path cannot be normalized.
    case invalidPath = "invalid_path"

    /// Whether the request goes through.
    public var isAllowed: Bool { self == .allowed }

    /// When Warden itself could not decide — something it depends on did not answer, and it failed closed —
    /// a fixed description of what (never a value from the request or the dependency's answer); nil for
    /// every answer about the request, allow or deny. The span's status is ERROR with this message.
    public var unavailability: String? {
        switch self {
        case .jwtJWKSUnavailable: return "the issuer's keys are unavailable"
        case .tokenIntrospectionFailed: return "the introspection endpoint gave no usable answer"
        case .jwtDPoPReplayUnavailable: return "the DPoP replay store is unavailable"
        case .tokenExchangeUnavailable: return "the token endpoint gave no usable answer"
        default: return nil
        }
    }

    /// A dense index (0 ..< allCases.count), for per-reason counters.
    public var index: Int { Self.indices[self]! }
    private static let indices: [ReasonCode: Int] = Dictionary(uniqueKeysWithValues: allCases.enumerated().map { ($1, $0) })
}

extension JWTError {
    /// The reason code a check rejected with this error reports.
    public var reasonCode: ReasonCode {
        switch self {
        case .malformed: return .jwtMalformed
        case .tokenTooLarge: return .jwtTokenTooLarge
        case .multipleTokens: return .jwtMultipleTokens
        case .mixedIssuers: return .jwtMixedIssuers
        case .unsupportedAlgorithm: return .jwtUnsupportedAlgorithm
        case .issuerNotConfigured: return .jwtIssuerNotConfigured
        case .issuerMismatch: return .jwtIssuerMismatch
        case .expired: return .jwtExpired
        case .notYetValid: return .jwtNotYetValid
        case .missingExpiration: return .jwtMissingExpiration
        case .lifetimeTooLong: return .jwtLifetimeTooLong
        case .audienceMismatch: return .jwtAudienceMismatch
        case .jwksUnavailable: return .jwtJWKSUnavailable
        // A JWKS document that does not parse never becomes keys: a check sees no keys for the source.
        case .malformedJWKS: return .jwtJWKSUnavailable
        case .unknownKid: return .jwtUnknownKid
        case .badSignature: return .jwtBadSignature
        case .lenientEncoding: return .jwtLenientEncoding
        case .bindingFailed(.noCertificate), .bindingFailed(.certificateMismatch): return .jwtCertificateBinding
        case .bindingFailed(.dpopAsBearer): return .jwtDPoPBoundAsBearer
        case .bindingFailed(.unsupported): return .jwtUnsupportedConfirmation
        case .bindingFailed(.required): return .jwtBindingRequired
        case .bindingFailed(.dpop(.replayStoreUnavailable)): return .jwtDPoPReplayUnavailable
        case .bindingFailed(.dpop(.nonceMissing)): return .jwtDPoPNonceRequired
        case .bindingFailed(.dpop(.nonceExpired)): return .jwtDPoPNonceExpired
        case .bindingFailed(.dpop(.nonceInvalid)): return .jwtDPoPNonceInvalid
        case .bindingFailed(.dpop(let e)): return e.isProofError ? .jwtDPoPProofInvalid : .jwtDPoPKeyMismatch
        case .typeNotAllowed: return .jwtTypeNotAllowed
        case .requiredClaim: return .jwtRequiredClaim
        case .subjectNotAllowed: return .jwtSubjectNotAllowed
        case .tokenInactive: return .tokenInactive
        case .delegationNotAllowed: return .jwtDelegationNotAllowed
        case .introspectionFailed: return .tokenIntrospectionFailed
        case .missing: return .jwtMissing
        case .wrongRequirementName: return .jwtWrongRequirementName
        }
    }
}

extension AuthorizationDecision {
    /// The reason code of this authorization result.
    public var reasonCode: ReasonCode {
        switch verdict {
        case .allow: return .allowed
        case .deny(.denyPolicyMatched(let m)):
            if !m.unsentMetadata.isEmpty { return .policyDeniedMetadataNotSent }
            return m.unreportedFacts.isEmpty ? .policyDenied : .policyDeniedConnectionFactUnreported
        case .deny(.noAllowPolicyMatched): return .noAllowPolicyMatched
        case .deny(.invalidPath): return .invalidPath
        }
    }
}
