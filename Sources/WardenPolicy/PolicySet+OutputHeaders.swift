/// The header names the loaded policies write toward the upstream, for the operator's proxy config.
extension PolicySet {
    /// Every output header a rule sets (Istio `outputClaimToHeaders` / `outputPayloadToHeader`, jwt_authn
    /// `claim_to_headers` / `forward_payload_header`, SecurityPolicy `claimToHeaders`), lower-case, sorted,
    /// once each. A forward-auth proxy (nginx, Caddy, Traefik, …) or Envoy `http_service` passes a client's own
    /// copy of any header its config does not list, so each must be listed there.
    public var outputHeaderNames: [String] {
        let rules = requestAuthentications.flatMap(\.jwtRules) + jwtAuthnFilters.flatMap { $0.providers.map(\.rule) }
        var names = Set<String>()
        for rule in rules {
            for c in rule.outputClaimToHeaders { names.insert(c.header.lowercased()) }
            if let h = rule.outputPayloadToHeader { names.insert(h.lowercased()) }
        }
        return names.sorted()
    }
}
