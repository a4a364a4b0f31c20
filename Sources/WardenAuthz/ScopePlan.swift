import Synchronization
import WardenJWKS
import WardenPolicy

/// The policies that apply to one workload scope, compiled for checks: the effective policies, the
/// token extractor, one provider per issuer with a direct reference to its key slot, and the headers
/// whose client copies are always removed. Immutable; part of one `CheckPlan`.
final class ScopePlan: Sendable {
    let effective: EffectivePolicy
    let extractor: TokenExtractor
    /// Provider per issuer (compared byte for byte, as Envoy's `findByIssuer`); the first rule naming an
    /// issuer wins.
    let providers: [ExactKey: JWTProvider]
    /// The rules without issuer, in rule order: they take a token whose `iss` no rule names (Envoy's
    /// `findByIssuer` falls back to the first provider without issuer), at their own locations.
    let anyIssuer: [JWTProvider]
    /// Some rule has `presence: REQUIRED`: a request with no token at all is rejected (`JWTError.missing`).
    let requiredBy: JWTProvider?
    /// One provider per rule, in rule order (Envoy's providers, which istiod makes one per rule).
    let rules: [JWTProvider]
    /// Every header any applicable rule outputs, to strip client-supplied copies.
    let outputHeaders: [String]
    /// The provider for a token of `issuer` found at `location`: the rule naming that issuer if the
    /// location is one of the locations declared for it, else the first rule without issuer that reads
    /// this location (Envoy's `JwtIssuerChecker` allows every issuer at a location such a rule names).
    func provider(for issuer: String, at location: TokenLocation) -> JWTProvider? {
        if let p = providers[ExactKey(issuer)], extractor.accepts(issuer, at: location) { return p }
        return anyIssuer.first { $0.rule.tokenLocations.contains(location) || (location == .dpopAuthorization && $0.rule.tokenLocations.contains(.bearerAuthorization)) }
    }

    /// Unique for the process's life (answer keys name the compiled scope by it).
    let serial = Serials.next()

    init(effective: EffectivePolicy, options: AuthzOptions, slots: (JWTRule) -> KeySlot) {
        self.effective = effective
        let all = effective.jwtRules.map {
            JWTProvider(rule: $0, options: options, slot: slots($0), tokenRules: effective.tokenRulesByIssuer[ExactKey($0.issuer)] ?? [])
        }
        var providers: [ExactKey: JWTProvider] = [:]
        for p in all where !p.rule.issuer.isEmpty && providers[ExactKey(p.rule.issuer)] == nil { providers[ExactKey(p.rule.issuer)] = p }
        self.providers = providers
        anyIssuer = all.filter { $0.rule.issuer.isEmpty }
        requiredBy = all.first { $0.rule.presence == .required }
        rules = all
        extractor = TokenExtractor(rules: all.map { (issuer: $0.rule.issuer, locations: $0.locations) })
        var seen = Set<String>()
        outputHeaders = all.flatMap(\.outputHeaders).filter { seen.insert($0).inserted }
    }
}

/// Process-wide serial numbers: never reused, unlike object addresses.
enum Serials {
    private static let counter = Atomic<UInt64>(0)
    static func next() -> UInt64 { counter.wrappingAdd(1, ordering: .relaxed).newValue }
}
