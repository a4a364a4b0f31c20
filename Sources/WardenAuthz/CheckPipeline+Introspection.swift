import WardenJWKS
import WardenPolicy

// Read-only views of the pipeline's own derivations, for `warden explain`, `/config_dump` and log
// redaction: they call the same code the check path runs, so diagnostics cannot drift from it.

extension JWTRule {
    /// Where tokens for this rule are looked for (the Istio defaults when the rule names none).
    public var tokenLocations: [TokenLocation] {
        let own = JWTProvider(rule: self, options: AuthzOptions()).locations
        return own.isEmpty ? TokenLocation.defaults : own
    }

    /// Where this rule's keys come from: inline `jwks`, then `jwksUri`, else OIDC discovery.
    public var keySource: JWKSSource { JWTProvider.source(of: self) }
}

extension CheckPipeline {
    /// The token extractor the check path uses for `scope` (current policy generation).
    public func tokenExtractor(for scope: WorkloadScope) -> TokenExtractor {
        generation.compiled(for: scope).extractor
    }

    /// The tokens a check of `request` would verify, in order, with where each was found.
    public func extractTokens(from request: RequestAttributes) -> [ExtractedToken] {
        guard !request.isCORSPreflight else { return [] }
        let workload = request.contextExtensions.isEmpty ? scope : scope.applying(contextExtensions: request.contextExtensions)
        return generation.compiled(for: workload).extractor.extract(from: request)
    }
}
