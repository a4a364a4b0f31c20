/// `security.warden.io/v1alpha1` `TokenPolicy`: what Istio's RequestAuthentication cannot say about a token,
/// in a kind of Warden's own so policy files stay valid Istio YAML (istiod rejects unknown fields). It lives
/// in the same files and is scoped exactly like a RequestAuthentication (namespace or root namespace,
/// `selector`, `targetRefs`). Each rule refines the tokens of one issuer a RequestAuthentication in scope
/// declares; a rule for an issuer no RequestAuthentication in scope accepts changes nothing (`warden
/// validate` says so).
public struct TokenPolicy: Sendable, Hashable {
    public static let apiVersion = "security.warden.io/v1alpha1"
    public static let kind = "TokenPolicy"

    public var ref: PolicyRef
    public var origin: ResourceOrigin
    public var selector: WorkloadSelector?
    public var targetRefs: [TargetRef]
    public var rules: [TokenRule]
    /// `spec.tokenExchange[]`: RFC 8693 exchanges at the edge, in order (the first that matches applies).
    public var exchanges: [ExchangeRule] = []
    /// `istio.io/dry-run: "true"`, the same annotation as Istio's AuthorizationPolicy and Warden's dry-run
    /// RequestAuthentication: its rules are evaluated and reported, never enforced.
    public var dryRun: Bool

    public init(ref: PolicyRef, origin: ResourceOrigin, selector: WorkloadSelector? = nil, targetRefs: [TargetRef] = [],
                rules: [TokenRule], dryRun: Bool = false) {
        self.dryRun = dryRun
        self.ref = ref
        self.origin = origin
        self.selector = selector
        self.targetRefs = targetRefs
        self.rules = rules
    }
}

/// `spec.jwtRules[]` of a TokenPolicy: stricter checks for one issuer's tokens. Every field is optional;
/// several rules for one issuer in scope all apply (the strictest of each).
public struct TokenRule: Sendable, Hashable {
    public var issuer: String
    /// Accepted JOSE `typ` header values, compared case-insensitively with an optional `application/`
    /// prefix (RFC 7515 §4.1.9). `[at+jwt]` is RFC 9068's access-token profile (§2.1, §4): an ID token
    /// (`typ: JWT`, or none) is then refused as an access token. Empty: `typ` is not checked.
    public var typ: [String]
    /// Envoy's `max_lifetime`: reject a token whose remaining lifetime `exp − now` is this or more, and a
    /// token without `exp`.
    public var maxLifetime: Duration?
    /// Claims the token must carry (with one of the listed values, when values are given).
    public var requiredClaims: [RequiredClaim]
    /// Envoy's `subjects` matcher on `sub`.
    public var subjects: SubjectMatcher?
    /// The token must be sender-constrained (`cnf`: bound to a client certificate, RFC 8705, or a DPoP
    /// key, RFC 9449): a plain bearer token from this issuer is refused.
    public var senderConstrained: Bool
    /// Opaque tokens at this issuer's locations are checked at an RFC 7662 introspection endpoint.
    public var introspection: IntrospectionConfig?

    public init(issuer: String, typ: [String] = [], maxLifetime: Duration? = nil, requiredClaims: [RequiredClaim] = [],
                subjects: SubjectMatcher? = nil, senderConstrained: Bool = false, introspection: IntrospectionConfig? = nil) {
        self.introspection = introspection
        self.issuer = issuer
        self.typ = typ
        self.maxLifetime = maxLifetime
        self.requiredClaims = requiredClaims
        self.subjects = subjects
        self.senderConstrained = senderConstrained
    }
}

/// A claim a token must carry: present (as a string, number, boolean, or a list holding one), or, with
/// `values`, equal to one of them (a list claim: one element equal to one of them; `scope`-like strings are
/// not split — list each scope on its own in an AuthorizationPolicy `when` instead).
public struct RequiredClaim: Sendable, Hashable {
    /// The claim; `a.b` reads a nested object member (as Istio's `outputClaimToHeaders`).
    public var name: String
    public var values: [String]

    public init(name: String, values: [String] = []) {
        self.name = name
        self.values = values
    }
}

/// Envoy's `StringMatcher` as jwt_authn's `subjects` uses it: exactly one of exact, prefix, suffix or
/// contains (no regular expressions), compared byte for byte.
public enum SubjectMatcher: Sendable, Hashable, CustomStringConvertible {
    case exact(String), prefix(String), suffix(String), contains(String)

    public func matches(_ subject: String) -> Bool {
        let s = Array(subject.utf8)
        switch self {
        case .exact(let e): return s.elementsEqual(e.utf8)
        case .prefix(let p): return s.starts(with: p.utf8)
        case .suffix(let x): return s.reversed().starts(with: x.utf8.reversed())
        case .contains(let c): return c.isEmpty || s.firstRange(of: Array(c.utf8)) != nil
        }
    }

    public var description: String {
        switch self {
        case .exact(let s): return "exact \"\(s)\""
        case .prefix(let s): return "prefix \"\(s)\""
        case .suffix(let s): return "suffix \"\(s)\""
        case .contains(let s): return "contains \"\(s)\""
        }
    }
}

/// `jwtRules[].introspection` of a TokenPolicy: where an opaque token (one that is not a JWS) found at the
/// issuer's token locations is checked (RFC 7662). An active answer's claims (`sub`, `iss`, `aud`, `scope`,
/// `client_id`, `exp`, `cnf`, …) then stand for the token's, under the same audience, lifetime, TokenPolicy,
/// binding, `when` and output-header rules as a JWT of that issuer.
public struct IntrospectionConfig: Sendable, Hashable {
    /// How Warden authenticates to the endpoint (RFC 6749 §2.3.1; names as RFC 8414's
    /// `introspection_endpoint_auth_methods_supported`).
    public enum ClientAuthMethod: String, Sendable, Hashable, CaseIterable {
        case clientSecretBasic = "client_secret_basic"
        case clientSecretPost = "client_secret_post"
        /// A JWT signed with Warden's private key (RFC 7523 §2.2, OpenID Connect Core §9).
        case privateKeyJWT = "private_key_jwt"
    }

    /// The endpoint URL (`https`; `http` only to a loopback address).
    public var endpoint: String
    public var clientID: String
    /// A file holding the client secret (its first line); read at each policy load. For `private_key_jwt`,
    /// a PEM private key (RSA, EC P-256/384/521 or Ed25519) instead.
    public var clientSecretFile: String
    /// The client assertion's `alg` for `private_key_jwt` (nil: RS256 for RSA, ES256/384/512 by curve, EdDSA).
    public var signingAlgorithm: String?
    public var clientAuthMethod: ClientAuthMethod
    /// The longest an active answer is reused (never past the token's `exp`). Default 5 minutes.
    public var cacheDuration: Duration
    /// How long an inactive answer is reused. Default 10 seconds.
    public var negativeCacheDuration: Duration
    /// Bound on one call to the endpoint (the caller's deadline may cut it shorter). Default 2 seconds.
    public var timeout: Duration
    /// JWTs of the issuer are introspected too, after their signature verified: a revocation check
    /// (`active: false` refuses a token whose signature and claims are fine).
    public var introspectJWTs: Bool = false

    public init(endpoint: String, clientID: String, clientSecretFile: String, clientAuthMethod: ClientAuthMethod = .clientSecretBasic,
                cacheDuration: Duration = .seconds(300), negativeCacheDuration: Duration = .seconds(10), timeout: Duration = .seconds(2)) {
        self.endpoint = endpoint
        self.clientID = clientID
        self.clientSecretFile = clientSecretFile
        self.clientAuthMethod = clientAuthMethod
        self.cacheDuration = cacheDuration
        self.negativeCacheDuration = negativeCacheDuration
        self.timeout = timeout
    }
}

/// `spec.tokenExchange[]` of a TokenPolicy: after a request is allowed, its verified token of `issuer` is
/// exchanged (RFC 8693) at `endpoint` for one minted for the upstream, which replaces it toward the upstream.
public struct ExchangeRule: Sendable, Hashable {
    /// The subject token's issuer (a RequestAuthentication in scope accepts it).
    public var issuer: String
    /// Requests it applies to (like an AuthorizationPolicy's `to`); empty: every request in scope.
    public var to: [Operation]
    /// The token endpoint (`https`; `http` only to a loopback address).
    public var endpoint: String
    public var clientID: String
    /// The client secret (first line) or, for `private_key_jwt`, a PEM private key.
    public var clientSecretFile: String
    public var clientAuthMethod: IntrospectionConfig.ClientAuthMethod
    public var signingAlgorithm: String?
    /// RFC 8693 §2.1 `audience` and `resource` values (at least one of the two), `scope`, `requested_token_type`.
    public var audiences: [String]
    public var resources: [String]
    public var scope: String?
    public var requestedTokenType: String?
    /// A file whose content is sent as `actor_token` (e.g. a projected service-account token), re-read per call.
    public var actorTokenFile: String?
    public var actorTokenType: String
    /// The header the exchanged token goes in (`authorization`: `Bearer <token>`; another: the token as is).
    public var header: String
    /// Bound on one call (the caller's deadline may cut it shorter). Default 2 s.
    public var timeout: Duration
    /// Exchanged tokens are reused until this long before they expire. Default 30 s.
    public var expiryMargin: Duration

    public init(issuer: String, to: [Operation] = [], endpoint: String, clientID: String, clientSecretFile: String,
                clientAuthMethod: IntrospectionConfig.ClientAuthMethod = .clientSecretBasic, signingAlgorithm: String? = nil,
                audiences: [String] = [], resources: [String] = [], scope: String? = nil, requestedTokenType: String? = nil,
                actorTokenFile: String? = nil, actorTokenType: String = "urn:ietf:params:oauth:token-type:jwt",
                header: String = "authorization", timeout: Duration = .seconds(2), expiryMargin: Duration = .seconds(30)) {
        self.issuer = issuer
        self.to = to
        self.endpoint = endpoint
        self.clientID = clientID
        self.clientSecretFile = clientSecretFile
        self.clientAuthMethod = clientAuthMethod
        self.signingAlgorithm = signingAlgorithm
        self.audiences = audiences
        self.resources = resources
        self.scope = scope
        self.requestedTokenType = requestedTokenType
        self.actorTokenFile = actorTokenFile
        self.actorTokenType = actorTokenType
        self.header = header
        self.timeout = timeout
        self.expiryMargin = expiryMargin
    }
}
