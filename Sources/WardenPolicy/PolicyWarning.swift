/// A valid configuration that probably does not do what its author meant: printed by `warden validate`,
/// logged when `warden serve` loads or reloads the policies. Each has a stable `code`, so a CI pipeline
/// can fail on chosen ones (`warden validate --fail-on CODE,…`).
public struct PolicyWarning: Sendable, Hashable, CustomStringConvertible {
    /// Stable identifiers; the raw values are the contract (README, "warden validate").
    public enum Code: String, Sendable, CaseIterable, Comparable {
        /// A RequestAuthentication that no AuthorizationPolicy backs: requests without a token pass.
        case requestAuthenticationBlocksNothing = "ra-blocks-nothing"
        /// A RequestAuthentication with `istio.io/dry-run`: Warden evaluates it without enforcing it, but istiod
        /// refuses the annotation there, so the file no longer applies to the mesh.
        case requestAuthenticationDryRunNotIstio = "ra-dry-run-not-istio"
        /// An `http://` issuer (keys discovered over plain HTTP).
        case issuerNotHTTPS = "issuer-not-https"
        /// An issuer that is no URL and a rule without `jwksUri`/`jwks`: discovery cannot find keys.
        case issuerWithoutKeys = "issuer-without-keys"
        /// A rule with `jwksUri` and no `issuer`: tokens of any issuer verified by those keys are accepted.
        case jwtRuleWithoutIssuer = "jwtrule-without-issuer"
        /// An `http://` `jwksUri`.
        case jwksURINotHTTPS = "jwksuri-not-https"
        /// Inline `jwks` holding private (or symmetric) key material (Istio warns too).
        case jwksPrivateKey = "jwks-private-key"
        /// An ALLOW on `request.auth` where a rule accepts tokens for any audience.
        case allowAnyAudience = "allow-any-audience"
        /// A jwtRule without `audiences`: tokens minted for any service are accepted (RFC 9700 §2.3).
        case jwtRuleAnyAudience = "jwtrule-any-audience"
        /// A jwtRule without `audiences` and no TokenPolicy `typ` for its issuer: nothing stops an ID token
        /// from being used as an access token.
        case idTokenAccepted = "id-token-accepted"
        /// A TokenPolicy rule for an issuer no RequestAuthentication in its scope accepts: it changes nothing.
        case tokenPolicyUnknownIssuer = "tokenpolicy-unknown-issuer"
        /// An ALLOW policy without rules: it denies everything it applies to.
        case allowWithoutRules = "allow-without-rules"
        /// `*…*`: Istio has no contains-match; this is a suffix match of text ending in `*`.
        case wildcardBothEnds = "wildcard-both-ends"
        /// `a*b`: a `*` inside a value is literal text.
        case wildcardInside = "wildcard-inside"
        /// `selector` without labels: applies to every workload in the namespace (Istio warns too).
        case selectorWithoutLabels = "selector-without-labels"
        /// A document Warden does not read (another kind, or an unsupported apiVersion).
        case resourceSkipped = "resource-skipped"

        public static func < (a: Code, b: Code) -> Bool { a.rawValue < b.rawValue }
    }

    public var code: Code
    public var origin: ResourceOrigin
    /// The field it is about (`spec.rules[0].when[1].values[0]`), empty for the whole resource.
    public var field: String
    public var message: String

    public init(_ code: Code, _ origin: ResourceOrigin, field: String = "", _ message: String) {
        self.code = code
        self.origin = origin
        self.field = field
        self.message = message
    }

    /// `warning[code]: file:line: field: message`.
    public var description: String {
        "warning[\(code.rawValue)]: \(origin)\(field.isEmpty ? "" : ": " + field): \(message)"
    }
}

/// What the deployment around Warden must provide for a policy to work as written: printed by
/// `warden validate`, not a warning (`--strict` ignores it).
public struct PolicyHint: Sendable, Hashable, CustomStringConvertible {
    public var origin: ResourceOrigin
    public var field: String
    public var message: String

    public var description: String { "hint: \(origin): \(field): \(message)" }
}
