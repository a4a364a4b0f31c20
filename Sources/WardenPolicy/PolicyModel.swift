/// `namespace/name` of a loaded resource.
public struct PolicyRef: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var namespace: String
    public var name: String

    public init(namespace: String, name: String) {
        self.namespace = namespace
        self.name = name
    }

    public var description: String { "\(namespace)/\(name)" }

    public static func < (a: PolicyRef, b: PolicyRef) -> Bool { (a.namespace, a.name) < (b.namespace, b.name) }
}

/// Where a resource was read from.
public struct ResourceOrigin: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    /// The document this resource was compiled from when it is another dialect's (e.g. `Envoy Gateway
    /// SecurityPolicy foo/sp`); nil for Istio's and Warden's own kinds. Shown by `/config_dump` and `explain`.
    public var dialect: String?

    public init(file: String, line: Int, dialect: String? = nil) {
        self.file = file
        self.line = line
        self.dialect = dialect
    }

    public var description: String { "\(file):\(line)" + (dialect.map { " (compiled from \($0))" } ?? "") }
}

/// `selector.matchLabels`.
public struct WorkloadSelector: Sendable, Hashable {
    public var matchLabels: [String: String]

    public init(matchLabels: [String: String]) { self.matchLabels = matchLabels }

    /// True when every selector label is present in `labels` with the same value.
    public func matches(_ labels: [String: String]) -> Bool {
        matchLabels.allSatisfy { labels[$0.key] == $0.value }
    }
}

/// A Gateway API style reference (`targetRefs` in a policy, `--target` for a workload).
public struct TargetRef: Sendable, Hashable, CustomStringConvertible {
    public var group: String
    public var kind: String
    public var name: String
    /// nil in a policy means the policy's namespace; nil in a `WorkloadScope` means the scope's namespace.
    public var namespace: String?

    public init(group: String = "", kind: String, name: String, namespace: String? = nil) {
        self.group = group
        self.kind = kind
        self.name = name
        self.namespace = namespace
    }

    public var description: String { "\(kind)/\(namespace.map { "\($0)/" } ?? "")\(name)" }

    /// Parses the `--target` forms `Kind/name` and `Kind/namespace/name`; nil when malformed.
    public init?(flag: String) {
        let parts = flag.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.allSatisfy({ !$0.isEmpty }) else { return nil }
        switch parts.count {
        case 2: self.init(kind: parts[0], name: parts[1])
        case 3: self.init(kind: parts[0], name: parts[2], namespace: parts[1])
        default: return nil
        }
    }
}

/// A RequestAuthentication resource.
public struct RequestAuthentication: Sendable, Hashable {
    public var ref: PolicyRef
    public var origin: ResourceOrigin
    public var selector: WorkloadSelector?
    public var targetRefs: [TargetRef]
    public var jwtRules: [JWTRule]
    /// `istio.io/dry-run: "true"` (a Warden extension: Istio accepts the annotation on AuthorizationPolicy
    /// only): its rules are evaluated on every request and what Warden would have answered is reported, but
    /// they never change the decision (`DecisionRecord.dryRun`).
    public var dryRun: Bool

    public init(ref: PolicyRef, origin: ResourceOrigin, selector: WorkloadSelector?, targetRefs: [TargetRef], jwtRules: [JWTRule],
                dryRun: Bool = false) {
        self.ref = ref
        self.origin = origin
        self.selector = selector
        self.targetRefs = targetRefs
        self.jwtRules = jwtRules
        self.dryRun = dryRun
    }
}

/// `fromHeaders` entry: header `name` whose value starts with `prefix` (e.g. `Bearer `).
public struct JWTHeader: Sendable, Hashable {
    public var name: String
    public var prefix: String

    public init(name: String, prefix: String = "") {
        self.name = name
        self.prefix = prefix
    }
}

/// `outputClaimToHeaders` entry. `claim` may be nested with dots (`a.b.c`).
public struct ClaimToHeader: Sendable, Hashable {
    public var header: String
    public var claim: String

    public init(header: String, claim: String) {
        self.header = header
        self.claim = claim
    }
}

/// `jwtRules[].presence` (Istio API v1.31): whether a request without a token passes this rule.
public enum JWTPresence: String, Sendable, Hashable, CaseIterable {
    /// The default: a request without a token passes authentication with no identity.
    case optional = "OPTIONAL"
    /// A request that carries no token is rejected with 401 `Jwt is missing` (jwt_authn's `JwtMissed`).
    case required = "REQUIRED"
}

/// One `jwtRules` entry of a RequestAuthentication.
public struct JWTRule: Sendable, Hashable {
    /// Empty when the rule names only a `jwksUri`: as Envoy's provider without `issuer`, tokens of any
    /// `iss` that no other rule claims are verified with this rule's keys.
    public var issuer: String
    public var audiences: [String]
    public var jwksUri: String?
    /// Inline JWKS JSON.
    public var jwks: String?
    /// Empty means the defaults: `Authorization: Bearer <token>` and `?access_token=`.
    public var fromHeaders: [JWTHeader]
    public var fromParams: [String]
    public var fromCookies: [String]
    public var forwardOriginalToken: Bool
    public var outputClaimToHeaders: [ClaimToHeader]
    public var outputPayloadToHeader: String?
    /// Bound on each JWKS / OIDC discovery request for this rule's key source; nil means the
    /// server's `--jwks-fetch-timeout` (default 5 s, Istio's default).
    public var timeout: Duration?
    /// `timeout` in seconds (exact: attoseconds are added, not divided, so 0.3 s stays 0.3).
    public var timeoutSeconds: Double? {
        timeout.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 }
    }
    /// Claims split on spaces in addition to `scope`, `scp` and `permission`.
    public var spaceDelimitedClaims: [String]
    /// Whether a request with no token is rejected (`REQUIRED`) or passes without identity (`OPTIONAL`).
    public var presence: JWTPresence = .optional
    /// The RequestAuthentication this rule came from.
    public var source: PolicyRef
    /// Another dialect's own `clock_skew_seconds` / `require_expiration` (Envoy jwt_authn providers); nil:
    /// the server's `--clock-skew` / `--require-expiration`, as for Istio rules.
    public var clockSkewSeconds: Double?
    public var requireExpiration: Bool?
    /// An Envoy jwt_authn provider's `remote_jwks.cache_duration`: this source's keys are refreshed on that
    /// schedule rather than `--jwks-cache-duration`'s.
    public var cacheDurationSeconds: Double?
    /// The jwt_authn provider this rule is (an Envoy jwt_authn document's provider, a SecurityPolicy's
    /// `jwt.providers[].name`): the answer's per-provider options (metadata keys, padding) are found by it.
    public var jwtAuthnProvider: String?
    /// `ns/name/provider` of a SecurityPolicy's provider (set by its decoder): the identity of a token this
    /// rule verified carries it (`RequestIdentity.verifiedBy`). nil for Istio's and jwt_authn's rules.
    public var gatewayProviderID: String?

    public init(issuer: String, audiences: [String] = [], jwksUri: String? = nil, jwks: String? = nil,
                fromHeaders: [JWTHeader] = [], fromParams: [String] = [], fromCookies: [String] = [],
                forwardOriginalToken: Bool = false, outputClaimToHeaders: [ClaimToHeader] = [],
                outputPayloadToHeader: String? = nil, timeout: Duration? = nil, spaceDelimitedClaims: [String] = [],
                source: PolicyRef = PolicyRef(namespace: "", name: "")) {
        self.issuer = issuer
        self.audiences = audiences
        self.jwksUri = jwksUri
        self.jwks = jwks
        self.fromHeaders = fromHeaders
        self.fromParams = fromParams
        self.fromCookies = fromCookies
        self.forwardOriginalToken = forwardOriginalToken
        self.outputClaimToHeaders = outputClaimToHeaders
        self.outputPayloadToHeader = outputPayloadToHeader
        self.timeout = timeout
        self.spaceDelimitedClaims = spaceDelimitedClaims
        self.source = source
    }

    /// True when neither headers nor params are configured, so the Istio defaults apply
    /// (`Authorization: Bearer` and `access_token`).
    public var usesDefaultLocations: Bool { fromHeaders.isEmpty && fromParams.isEmpty && fromCookies.isEmpty }
}

/// AuthorizationPolicy `action`.
public enum PolicyAction: String, Sendable, Hashable, CaseIterable {
    case allow = "ALLOW", deny = "DENY", audit = "AUDIT", custom = "CUSTOM"
}

/// An AuthorizationPolicy resource.
public struct AuthorizationPolicy: Sendable, Hashable {
    public var ref: PolicyRef
    public var origin: ResourceOrigin
    public var selector: WorkloadSelector?
    public var targetRefs: [TargetRef]
    public var action: PolicyAction
    /// `provider.name` (CUSTOM only).
    public var provider: String?
    /// Empty rules never match (an ALLOW policy with an empty spec denies everything it applies to).
    public var rules: [AuthorizationRule]
    /// `istio.io/dry-run: "true"`: evaluated and reported, never changes the decision.
    public var dryRun: Bool

    public init(ref: PolicyRef, origin: ResourceOrigin, selector: WorkloadSelector? = nil, targetRefs: [TargetRef] = [],
                action: PolicyAction, provider: String? = nil, rules: [AuthorizationRule], dryRun: Bool = false) {
        self.ref = ref
        self.origin = origin
        self.selector = selector
        self.targetRefs = targetRefs
        self.action = action
        self.provider = provider
        self.rules = rules
        self.dryRun = dryRun
    }
}

/// A rule matches when any `from` AND any `to` AND every `when` match; an empty list matches anything.
public struct AuthorizationRule: Sendable, Hashable {
    public var from: [Source]
    public var to: [Operation]
    public var when: [Condition]

    public init(from: [Source] = [], to: [Operation] = [], when: [Condition] = []) {
        self.from = from
        self.to = to
        self.when = when
    }
}

/// `from[].source`; every non-empty field must match (AND), each field matches any of its values.
public struct Source: Sendable, Hashable {
    public var principals: [StringPattern] = []
    public var notPrincipals: [StringPattern] = []
    /// `iss/sub` patterns, matched against the token's `iss` and `sub` separately (as istiod compiles them).
    public var requestPrincipals: [RequestPrincipalPattern] = []
    public var notRequestPrincipals: [RequestPrincipalPattern] = []
    public var namespaces: [StringPattern] = []
    public var notNamespaces: [StringPattern] = []
    public var ipBlocks: [IPBlock] = []
    public var notIpBlocks: [IPBlock] = []
    public var remoteIpBlocks: [IPBlock] = []
    public var notRemoteIpBlocks: [IPBlock] = []
    /// `ns/sa` pairs (a bare `sa` was expanded with the policy's namespace).
    public var serviceAccounts: [String] = []
    public var notServiceAccounts: [String] = []
    public var trustDomains: [StringPattern] = []
    public var notTrustDomains: [StringPattern] = []

    public init() {}
}

/// `to[].operation`; every non-empty field must match (AND), each field matches any of its values.
public struct Operation: Sendable, Hashable {
    public var hosts: [StringPattern] = []
    public var notHosts: [StringPattern] = []
    public var ports: [UInt32] = []
    public var notPorts: [UInt32] = []
    public var methods: [StringPattern] = []
    public var notMethods: [StringPattern] = []
    public var paths: [PathPattern] = []
    public var notPaths: [PathPattern] = []
    /// `methods`/`notMethods` ignore ASCII case: Envoy Gateway's SecurityPolicy matches `:method` with
    /// `ignore_case` (`authorization.go` buildMethodsPredicate); Istio's methods are exact.
    public var methodsIgnoreCase = false

    public init() {}
}

/// A `when` condition key, parsed at load time.
public enum ConditionKey: Sendable, Hashable, CustomStringConvertible {
    /// `request.headers[name]`, name lower-cased.
    case requestHeader(String)
    /// `request.experimental.inline.headers[name]`, name lower-cased: like `requestHeader`, but a value
    /// also matches one element of a comma-separated header (see `InlineHeaderMatch`).
    case requestInlineHeader(String)
    case sourceIP, remoteIP, destinationIP
    case sourceNamespace, sourcePrincipal, sourceServiceAccount
    /// `source.trustDomain`: the trust domain of the peer's SPIFFE identity (see `TrustDomainMatch`).
    case sourceTrustDomain
    case requestPrincipal, requestAudiences, requestPresenter
    /// `request.auth.claims[a][b]…` as the path `["a", "b"]`.
    case requestClaim([String])
    case destinationPort
    case connectionSNI
    /// `experimental.envoy.filters.<filter>[<field>]`: a field of another Envoy filter's dynamic metadata,
    /// which Envoy sends in the CheckRequest's `metadata_context` for the namespaces listed in the ext_authz
    /// filter's `metadata_context_namespaces` (see `FilterMetadataKey`).
    case envoyFilterMetadata(FilterMetadataKey)
    /// Envoy Gateway `principal.jwt.claims[]` (see `GatewayClaimMatch`): the claim at the dotted `path`, typed
    /// as Envoy Gateway's metadata matcher reads it — `array: false` a JSON string equal to a value,
    /// `array: true` a list with one string element equal to a value.
    case gatewayClaim([String], array: Bool)
    /// Envoy Gateway `principal.jwt.scopes[]`: one element of the normalized `scope` or `scp` list.
    case gatewayScope
    /// Envoy Gateway `principal.jwt.provider`: the token was verified by that provider (`RequestIdentity.verifiedBy`
    /// equals the value, `ns/name/provider`); `issuer` is the provider's, for `warden convert` and explanations.
    case gatewayProvider(issuer: String)

    public var description: String {
        switch self {
        case .requestHeader(let h): return "request.headers[\(h)]"
        case .requestInlineHeader(let h): return "request.experimental.inline.headers[\(h)]"
        case .sourceIP: return "source.ip"
        case .remoteIP: return "remote.ip"
        case .destinationIP: return "destination.ip"
        case .sourceNamespace: return "source.namespace"
        case .sourcePrincipal: return "source.principal"
        case .sourceServiceAccount: return "source.serviceAccount"
        case .sourceTrustDomain: return "source.trustDomain"
        case .requestPrincipal: return "request.auth.principal"
        case .requestAudiences: return "request.auth.audiences"
        case .requestPresenter: return "request.auth.presenter"
        case .requestClaim(let path): return "request.auth.claims" + path.map { "[\($0)]" }.joined()
        case .destinationPort: return "destination.port"
        case .connectionSNI: return "connection.sni"
        case .envoyFilterMetadata(let k): return k.description
        case .gatewayClaim(let path, let array): return "jwt.claims[\(path.joined(separator: "."))](\(array ? "StringArray" : "String"))"
        case .gatewayScope: return "jwt.scopes"
        case .gatewayProvider: return "jwt.provider"
        }
    }
}

/// A compiled `when` value.
public enum ConditionValue: Sendable, Hashable {
    case string(StringPattern)
    /// `request.auth.principal`: an `iss/sub` pattern (see `RequestPrincipalPattern`).
    case requestPrincipal(RequestPrincipalPattern)
    case ip(IPBlock)
    case port(UInt32)
    /// `experimental.envoy.filters.*`: a string, or (written `[v]`) a list element.
    case metadata(MetadataValuePattern)
}

/// A `when` entry: the attribute must match one of `values` (if any) and none of `notValues`.
public struct Condition: Sendable, Hashable {
    public var key: ConditionKey
    public var values: [ConditionValue]
    public var notValues: [ConditionValue]

    public init(key: ConditionKey, values: [ConditionValue], notValues: [ConditionValue]) {
        self.key = key
        self.values = values
        self.notValues = notValues
    }
}
