import WardenJWKS
import WardenJWT
import WardenPolicy

/// One RequestAuthentication JWT rule, ready for verification: requirements, key source, token locations.
/// A class: every check passes it through several closures, and copies of the struct were retains of
/// each of its fields.
final class JWTProvider: Sendable {
    let rule: JWTRule
    let requirements: JWTRequirements
    let source: JWKSSource
    let locations: [TokenLocation]

    init(rule: JWTRule, options: AuthzOptions) {
        self.rule = rule
        requirements = JWTRequirements(issuer: rule.issuer, audiences: rule.audiences, clockSkew: options.clockSkew,
                                       requireExpiration: options.requireExpiration)
        source = JWTProvider.source(of: rule, options: options)
        var locations: [TokenLocation] = rule.fromHeaders.map { .header(name: $0.name.lowercased(), prefix: $0.prefix) }
        locations += rule.fromParams.map { .queryParameter($0) }
        locations += rule.fromCookies.map { .cookie($0) }
        self.locations = locations
    }

    /// An operator's `--jwks-file` for the issuer wins; then the rule's own source.
    static func source(of rule: JWTRule, options: AuthzOptions) -> JWKSSource {
        options.jwksFiles[rule.issuer].map { .file(path: $0) } ?? source(of: rule)
    }

    /// Inline `jwks` wins, then `jwksUri`, else OIDC discovery from the issuer (as istiod does).
    static func source(of rule: JWTRule) -> JWKSSource {
        if let jwks = rule.jwks, !jwks.isEmpty { return .inline(jwks) }
        if let uri = rule.jwksUri, !uri.isEmpty { return .remote(uri: uri) }
        return .discovery(issuer: rule.issuer)
    }

    /// Headers this rule writes; client-supplied copies are always removed (Envoy's sanitizeHeaders).
    var outputHeaders: [String] {
        rule.outputClaimToHeaders.map { $0.header.lowercased() } + (rule.outputPayloadToHeader.map { [$0.lowercased()] } ?? [])
    }
}
