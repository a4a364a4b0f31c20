import WardenPolicy

/// Risky-but-valid configurations `warden validate` warns about. Scoping is approximated by namespace:
/// a RequestAuthentication and an AuthorizationPolicy meet when they share a namespace or either is in
/// the root namespace (selectors are not compared).
struct PolicyLinter {
    let policies: PolicySet
    let rootNamespace: String

    struct Warning: CustomStringConvertible {
        var origin: ResourceOrigin
        var field: String = ""
        var message: String
        var description: String { "warning: \(origin)\(field.isEmpty ? "" : ": " + field): \(message)" }
    }

    /// What the deployment around Warden must provide for a policy to work as written: printed, not a
    /// warning (`--strict` ignores it).
    struct Hint: CustomStringConvertible {
        var origin: ResourceOrigin
        var field: String
        var message: String
        var description: String { "hint: \(origin): \(field): \(message)" }
    }

    /// One hint per `experimental.envoy.filters.*` condition: Envoy sends a filter's metadata to Warden only
    /// for the namespaces its ext_authz filter lists, and without it the condition cannot be decided.
    func hints() -> [Hint] {
        var out: [Hint] = []
        // CUSTOM policies are not evaluated by Warden (it is the provider), so their conditions need nothing.
        for ap in policies.authorizationPolicies where ap.action != .custom {
            for (r, rule) in ap.rules.enumerated() {
                for (w, c) in rule.when.enumerated() {
                    guard case .envoyFilterMetadata(let key) = c.key else { continue }
                    let effect: String
                    switch ap.action {
                    case .allow: effect = "this ALLOW rule never matches (fail closed)"
                    case .deny: effect = "this DENY rule matches as if the condition held (fail closed, reason_code policy_denied_metadata_not_sent)"
                    default: effect = "this \(ap.action.rawValue) rule matches as if the condition held"
                    }
                    var message = "\(key) reads the dynamic metadata of \(key.namespace): configure Envoy's ext_authz filter with "
                        + "metadata_context_namespaces: [\(key.namespace)] (and a filter before it that writes that namespace). "
                        + "Without it Envoy does not send that metadata and \(effect)"
                    if key.field.contains("][") {
                        message += "; note: as in istiod, \"[\(key.field)]\" is the one field \"\(key.field)\", not a nested path"
                    }
                    out.append(Hint(origin: ap.origin, field: "spec.rules[\(r)].when[\(w)].key", message: message))
                }
            }
        }
        return out
    }

    func warnings() -> [Warning] {
        var out: [Warning] = []
        for ra in policies.requestAuthentications {
            if !policies.authorizationPolicies.contains(where: { meet(ra.ref.namespace, $0) && Self.requiresPrincipal($0) }) {
                out.append(Warning(origin: ra.origin, message:
                    "RequestAuthentication \(ra.ref) blocks nothing: no AuthorizationPolicy in its namespace or the root namespace requires a "
                    + "request principal, so requests without a token are allowed (only invalid tokens are rejected). Add an ALLOW rule with "
                    + "from.source.requestPrincipals: [\"*\"] (or a DENY rule with notRequestPrincipals: [\"*\"])"))
            }
            for (i, rule) in ra.jwtRules.enumerated() {
                let field = "spec.jwtRules[\(i)]"
                let hasKeys = (rule.jwks.map { !$0.isEmpty } ?? false) || (rule.jwksUri.map { !$0.isEmpty } ?? false)
                if rule.issuer.lowercased().hasPrefix("http://") {
                    out.append(Warning(origin: ra.origin, field: "\(field).issuer", message:
                        "issuer \"\(rule.issuer)\" is not https" + (hasKeys ? "" : ": its keys would be discovered over plain HTTP, which anyone on the path can replace")))
                } else if !hasKeys && !rule.issuer.lowercased().hasPrefix("https://") {
                    out.append(Warning(origin: ra.origin, field: "\(field).issuer", message:
                        "issuer \"\(rule.issuer)\" is not a URL and the rule has neither jwksUri nor jwks: OIDC discovery cannot find its keys"))
                }
                if let uri = rule.jwksUri, uri.lowercased().hasPrefix("http://") {
                    out.append(Warning(origin: ra.origin, field: "\(field).jwksUri", message:
                        "jwksUri \"\(uri)\" is not https: anyone on the path can replace the keys and mint accepted tokens"))
                }
            }
        }
        for ap in policies.authorizationPolicies where ap.action == .allow && Self.usesRequestAuth(ap) {
            let checksAudience = ap.rules.contains { $0.when.contains { $0.key == .requestAudiences } }
            guard !checksAudience else { continue }
            for ra in policies.requestAuthentications where meet(ra.ref.namespace, ap) {
                for rule in ra.jwtRules where rule.audiences.isEmpty {
                    out.append(Warning(origin: ap.origin, message:
                        "ALLOW policy \(ap.ref) trusts request.auth, but RequestAuthentication \(ra.ref) (\(ra.origin)) accepts issuer \"\(rule.issuer)\" "
                        + "without audiences: a token that issuer minted for any other service is accepted here. Set audiences on the jwtRule "
                        + "or a when: request.auth.audiences condition"))
                }
            }
        }
        for ap in policies.authorizationPolicies where ap.action == .allow && ap.rules.isEmpty && !ap.dryRun {
            out.append(Warning(origin: ap.origin, message: "ALLOW policy \(ap.ref) has no rules: it matches nothing and so denies every request it applies to"))
        }
        // In file order, as an editor would walk them.
        return out.enumerated().sorted { a, b in
            (a.element.origin.file, a.element.origin.line, a.offset) < (b.element.origin.file, b.element.origin.line, b.offset)
        }.map(\.element)
    }

    private func meet(_ raNamespace: String, _ ap: AuthorizationPolicy) -> Bool {
        raNamespace == ap.ref.namespace || raNamespace == rootNamespace || ap.ref.namespace == rootNamespace
    }

    /// An ALLOW policy whose rules look at the JWT identity.
    static func usesRequestAuth(_ p: AuthorizationPolicy) -> Bool {
        p.rules.contains { r in
            r.from.contains { !$0.requestPrincipals.isEmpty || !$0.notRequestPrincipals.isEmpty } || r.when.contains { isRequestAuth($0.key) }
        }
    }

    /// A policy that turns away requests without a token: ALLOW on request principals / claims, or
    /// DENY on notRequestPrincipals.
    static func requiresPrincipal(_ p: AuthorizationPolicy) -> Bool {
        switch p.action {
        case .allow: return !p.dryRun && usesRequestAuth(p)
        case .deny:
            return !p.dryRun && p.rules.contains { r in
                r.from.contains { !$0.notRequestPrincipals.isEmpty } || r.when.contains { isRequestAuth($0.key) && !$0.notValues.isEmpty }
            }
        default: return false
        }
    }

    static func isRequestAuth(_ key: ConditionKey) -> Bool {
        switch key {
        case .requestPrincipal, .requestAudiences, .requestPresenter, .requestClaim: return true
        default: return false
        }
    }
}
