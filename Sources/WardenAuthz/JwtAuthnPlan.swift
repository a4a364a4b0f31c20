import WardenJWKS
import WardenPolicy

/// One Envoy `jwt_authn` document compiled for checks: each requirement leaf holds a one-provider scope
/// (that provider's token locations, issuer and key slot — Envoy's per-provider extractor and
/// authenticator), and `allow_missing`/`allow_missing_or_failed` hold the all-providers scope (Envoy's
/// extractor over every provider, the provider chosen by the token's `iss`).
final class JwtAuthnPlan: Sendable {
    let filter: JwtAuthnFilter
    /// The document's rules, first match wins.
    let rules: [(match: JwtRouteMatch, requirement: CompiledJwtRequirement?)]
    let requirementMap: [String: CompiledJwtRequirement]
    /// Every header a provider writes (payload and claim headers): client copies are always removed.
    let outputHeaders: [String]
    /// Each provider's answer options (metadata keys, padding, normalized claims) by provider name.
    let outputs: [String: JwtAuthnProvider]

    init(filter: JwtAuthnFilter, options: AuthzOptions, metrics: CheckMetrics, slots: @escaping (JWTRule) -> KeySlot) {
        self.filter = filter
        var compiler = JwtRequirementCompiler(filter: filter, options: options, metrics: metrics, slots: slots)
        rules = filter.rules.map { ($0.match, $0.requires.map { compiler.compile($0) }) }
        requirementMap = filter.requirementMap.mapValues { compiler.compile($0) }
        var seen = Set<String>()
        outputHeaders = filter.providers.flatMap { p in
            p.rule.outputClaimToHeaders.map { $0.header.lowercased() } + (p.rule.outputPayloadToHeader.map { [$0.lowercased()] } ?? [])
        }.filter { seen.insert($0).inserted }
        var byName: [String: JwtAuthnProvider] = [:]
        for p in filter.providers where byName[p.name] == nil { byName[p.name] = p }
        outputs = byName
    }

    /// The requirement for a request: a route's named one (`context_extensions`), else the first matching
    /// rule's; `.skipped` when the route disables the filter, no rule matches or the rule requires nothing.
    /// A SecurityPolicy's requirement (`filter.onlyWith`) is not an Envoy jwt_authn filter of the route's: the
    /// route's `jwt_authn.*` keys never turn it off or replace it.
    func requirement(for request: RequestAttributes) -> (CompiledJwtRequirement, JwtAuthnStep.Selection) {
        if filter.onlyWith != nil { return firstMatchingRule(request) }
        if let off = request.contextExtensions[JwtAuthnFilter.disabledKey], off == "true" { return (.none, .disabled) }
        if let name = request.contextExtensions[JwtAuthnFilter.requirementNameKey] {
            // An unknown name fails closed with Envoy's 403 (its per-route lookup happens per request too).
            guard let r = requirementMap[name] else { return (.unknownName(name, requirementMap.keys.sorted()), .requirementName(name)) }
            return (r, .requirementName(name))
        }
        return firstMatchingRule(request)
    }

    private func firstMatchingRule(_ request: RequestAttributes) -> (CompiledJwtRequirement, JwtAuthnStep.Selection) {
        for (i, rule) in rules.enumerated() where rule.match.matches(path: request.path, headers: request.headers) {
            return (rule.requirement ?? .none, .rule(i))
        }
        return (.none, .noRule)
    }
}

/// Resolves requirements to scopes: one scope per (provider, audiences) leaf, shared by every rule that
/// names it, and one over every provider for `allow_missing`/`allow_missing_or_failed`.
/// A struct with a mutating method rather than a recursive local function: a recursive local closure's
/// context holds itself, and the filter, scopes and key slots it captured were never freed (LSan).
private struct JwtRequirementCompiler {
    let filter: JwtAuthnFilter
    let options: AuthzOptions
    let metrics: CheckMetrics
    let slots: (JWTRule) -> KeySlot
    let everyProvider: ScopePlan
    var leaves: [String: ScopePlan] = [:]

    init(filter: JwtAuthnFilter, options: AuthzOptions, metrics: CheckMetrics, slots: @escaping (JWTRule) -> KeySlot) {
        self.filter = filter
        self.options = options
        self.metrics = metrics
        self.slots = slots
        everyProvider = Self.scopePlan(filter.providers, filter: filter, options: options, metrics: metrics, slots: slots)
    }

    static func scopePlan(_ providers: [JwtAuthnProvider], filter: JwtAuthnFilter, options: AuthzOptions, metrics: CheckMetrics,
                          slots: @escaping (JWTRule) -> KeySlot) -> ScopePlan {
        let scope = WorkloadScope(namespace: "jwt_authn", labels: [:])
        // The document's place without its dialect: this scope's rules are the filter's own verifiers (a
        // SecurityPolicy's RequestAuthentication, by its dialect, holds no rules for Istio's jwt filter).
        let origin = ResourceOrigin(file: filter.origin.file, line: filter.origin.line)
        let ra = RequestAuthentication(ref: PolicyRef(namespace: "jwt_authn", name: "providers"), origin: origin, selector: nil,
                                       targetRefs: [], jwtRules: providers.map(\.rule))
        let tokenRules = providers.compactMap { p -> TokenPolicy? in
            guard p.maxLifetime != nil || p.subjects != nil else { return nil }
            var rule = TokenRule(issuer: p.rule.issuer, maxLifetime: p.maxLifetime)
            rule.subjects = p.subjects
            return TokenPolicy(ref: PolicyRef(namespace: "jwt_authn", name: p.name), origin: filter.origin, rules: [rule])
        }
        let effective = EffectivePolicy(scope: scope, requestAuthentications: [ra], authorizationPolicies: [], tokenPolicies: tokenRules)
        return ScopePlan(effective: effective, options: options, metrics: metrics, slots: slots)
    }

    mutating func compile(_ r: JwtRequirement) -> CompiledJwtRequirement {
        switch r {
        case .none: return .none
        case .allowMissing: return .allowMissing(everyProvider)
        case .allowMissingOrFailed: return .allowMissingOrFailed(everyProvider)
        case .all(let children):
            var compiled: [CompiledJwtRequirement] = []
            for c in children { compiled.append(compile(c)) }
            return .all(compiled)
        case .provider(let name, let audiences):
            let key = name + "\u{0}" + (audiences?.joined(separator: "\u{0}") ?? "*")
            if let hit = leaves[key] { return .provider(name, hit) }
            guard var p = filter.provider(named: name) else { return .provider(name, everyProvider) }  // the decoder refused this
            if let audiences { p.rule.audiences = audiences }
            let leaf = Self.scopePlan([p], filter: filter, options: options, metrics: metrics, slots: slots)
            leaves[key] = leaf
            return .provider(name, leaf)
        case .any(let children):
            // Envoy's AnyVerifierImpl: allow_missing / allow_missing_or_failed children are flags, not verifiers;
            // with nothing else, one such verifier over every provider stands in.
            let allowFailed = children.contains(.allowMissingOrFailed)
            let allowMissing = children.contains(.allowMissing)
            var regular: [CompiledJwtRequirement] = []
            for c in children where c != .allowMissing && c != .allowMissingOrFailed { regular.append(compile(c)) }
            if regular.isEmpty { regular = [allowFailed ? .allowMissingOrFailed(everyProvider) : .allowMissing(everyProvider)] }
            return .any(regular, allowMissing: allowMissing, allowFailed: allowFailed)
        }
    }
}

/// A requirement with its scopes resolved.
indirect enum CompiledJwtRequirement: Sendable {
    case provider(String, ScopePlan)
    case any([CompiledJwtRequirement], allowMissing: Bool, allowFailed: Bool)
    case all([CompiledJwtRequirement])
    case allowMissing(ScopePlan)
    case allowMissingOrFailed(ScopePlan)
    case none
    /// A `requirement_name` the document does not define (the names it does, sorted): fails closed.
    case unknownName(String, [String])
}
