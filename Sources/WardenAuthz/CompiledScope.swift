import WardenPolicy

/// The policies that apply to one workload scope, with the token extractor and providers derived from them.
final class CompiledScope: Sendable {
    let effective: EffectivePolicy
    let extractor: TokenExtractor
    /// Provider per issuer; the first rule naming an issuer wins (as Envoy's findByIssuer).
    let providers: [String: JWTProvider]
    /// Every header any applicable rule outputs, to strip client-supplied copies.
    let outputHeaders: [String]

    init(effective: EffectivePolicy, options: AuthzOptions) {
        self.effective = effective
        let all = effective.jwtRules.map { JWTProvider(rule: $0, options: options) }
        var providers: [String: JWTProvider] = [:]
        for p in all where providers[p.rule.issuer] == nil { providers[p.rule.issuer] = p }
        self.providers = providers
        extractor = TokenExtractor(rules: all.map { (issuer: $0.rule.issuer, locations: $0.locations) })
        var seen = Set<String>()
        outputHeaders = all.flatMap(\.outputHeaders).filter { seen.insert($0).inserted }
    }
}
