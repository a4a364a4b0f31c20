import WardenIntrospection
import WardenJWKS
import WardenJWT
import WardenPolicy

/// One RequestAuthentication JWT rule, ready for verification: requirements, token locations and the
/// slot its keys are read from. A class: every check passes it through several closures.
final class JWTProvider: Sendable {
    let rule: JWTRule
    let requirements: JWTRequirements
    let slot: KeySlot
    let locations: [TokenLocation]
    /// The TokenPolicy rules in scope for this issuer, merged (nil: none).
    let constraints: TokenConstraints?
    /// Where opaque tokens at this rule's locations are introspected (the first TokenPolicy rule in scope
    /// for the issuer that names an endpoint); nil: an opaque token is a malformed JWT.
    let introspection: IntrospectionEndpoint?
    /// This issuer's JWTs are introspected too once verified (a revocation check).
    let introspectsJWTs: Bool

    init(rule: JWTRule, options: AuthzOptions, slot: KeySlot, tokenRules: [TokenRule] = []) {
        self.rule = rule
        constraints = TokenConstraints(rules: tokenRules)
        // A rule without issuer checks no `iss` (Envoy's provider without `issuer`).
        requirements = JWTRequirements(issuer: rule.issuer.isEmpty ? nil : rule.issuer, audiences: rule.audiences,
                                       clockSkew: rule.clockSkewSeconds ?? options.clockSkew,
                                       requireExpiration: rule.requireExpiration ?? options.requireExpiration,
                                       maxLifetime: constraints?.maxLifetime)
        self.slot = slot
        locations = rule.ownTokenLocations
        let config = tokenRules.lazy.compactMap(\.introspection).first
        introspection = config.map { IntrospectionEndpoint(config: $0, issuer: rule.issuer) }
        introspectsJWTs = config?.introspectJWTs ?? false
    }

    /// Whether this rule reads tokens at `location` (`Authorization: DPoP` wherever it reads `Bearer`).
    func reads(_ location: TokenLocation) -> Bool {
        let all = rule.tokenLocations
        return all.contains(location) || (location == .dpopAuthorization && all.contains(.bearerAuthorization))
    }

    var source: JWKSSource { slot.source }

    /// Headers this rule writes; client-supplied copies are always removed (Envoy's sanitizeHeaders).
    var outputHeaders: [String] {
        rule.outputClaimToHeaders.map { $0.header.lowercased() } + (rule.outputPayloadToHeader.map { [$0.lowercased()] } ?? [])
    }
}

extension JWTRule {
    /// The locations the rule names itself (empty: the defaults apply).
    var ownTokenLocations: [TokenLocation] {
        var locations: [TokenLocation] = fromHeaders.map { .header(name: $0.name.lowercased(), prefix: $0.prefix) }
        locations += fromParams.map { .queryParameter($0) }
        locations += fromCookies.map { .cookie($0) }
        return locations
    }

    /// Where tokens for this rule are looked for (the Istio defaults when the rule names none).
    public var tokenLocations: [TokenLocation] {
        let own = ownTokenLocations
        return own.isEmpty ? TokenLocation.defaults : own
    }

    /// Where this rule's keys come from: inline `jwks` wins, then `jwksUri`, else OIDC discovery from
    /// the issuer (as istiod does).
    public var keySource: JWKSSource {
        if let jwks, !jwks.isEmpty { return .inline(jwks) }
        if let uri = jwksUri, !uri.isEmpty { return .remote(uri: uri) }
        return .discovery(issuer: issuer)
    }

    /// The source the server reads: an operator's `--jwks-file` for the issuer wins over the rule's own.
    public func keySource(options: AuthzOptions) -> JWKSSource {
        options.jwksFiles[issuer].map { .file(path: $0) } ?? keySource
    }
}

extension IntrospectionEndpoint {
    /// The token endpoint of an exchange rule, with its client credentials read now (at policy load).
    init(exchange rule: ExchangeRule) {
        var config = IntrospectionConfig(endpoint: rule.endpoint, clientID: rule.clientID, clientSecretFile: rule.clientSecretFile,
                                         clientAuthMethod: rule.clientAuthMethod, timeout: rule.timeout)
        config.signingAlgorithm = rule.signingAlgorithm
        self.init(config: config, issuer: rule.issuer, member: "token_endpoint")
    }

    /// The endpoint a TokenPolicy names, with its client secret read from its file now (at policy load).
    init(config: IntrospectionConfig, issuer: String, member: String = "introspection_endpoint") {
        var (secret, error) = (String?.none, String?.none)
        let auth: ClientAuth
        switch config.clientAuthMethod {
        case .clientSecretBasic, .clientSecretPost:
            (secret, error) = Self.readSecret(path: config.clientSecretFile)
            auth = config.clientAuthMethod == .clientSecretPost ? .post : .basic
        case .privateKeyJWT:
            let (signing, why) = Self.readSigningKey(path: config.clientSecretFile, algorithm: config.signingAlgorithm)
            auth = signing ?? .basic
            error = why
        }
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        self.init(url: config.endpoint, discovery: (issuer, member), clientID: config.clientID, clientSecret: secret, secretError: error,
                  clientAuth: auth,
                  cacheDuration: seconds(config.cacheDuration), negativeCacheDuration: seconds(config.negativeCacheDuration),
                  timeout: seconds(config.timeout))
    }
}
