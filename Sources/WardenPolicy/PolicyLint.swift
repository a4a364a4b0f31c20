import WardenJSON

/// Risky-but-valid configurations (`PolicyWarning`) and what Envoy must provide (`PolicyHint`), over a
/// loaded set. Scoping is approximated by namespace: a RequestAuthentication and an AuthorizationPolicy meet
/// when they share a namespace or either is in the root namespace (selectors are not compared).
public struct PolicyLint: Sendable {
    public let policies: PolicySet
    public let rootNamespace: String

    public init(policies: PolicySet, rootNamespace: String) {
        self.policies = policies
        self.rootNamespace = rootNamespace
    }

    /// Every warning, in file order (as an editor would walk them).
    public func warnings() -> [PolicyWarning] {
        var out: [PolicyWarning] = []
        for note in policies.notes where note.level == .warning {
            out.append(PolicyWarning(.resourceSkipped, ResourceOrigin(location: note.location), note.message))
        }
        for ra in policies.requestAuthentications {
            requestAuthentication(ra, into: &out)
        }
        for ap in policies.authorizationPolicies {
            authorizationPolicy(ap, into: &out)
        }
        for tp in policies.tokenPolicies {
            for (i, rule) in tp.rules.enumerated()
            where !policies.requestAuthentications.contains(where: { meet($0.ref.namespace, tp.ref.namespace) && $0.jwtRules.contains { $0.issuer.bytesEqual(rule.issuer) } }) {
                out.append(PolicyWarning(.tokenPolicyUnknownIssuer, tp.origin, field: "spec.jwtRules[\(i)].issuer",
                    "no RequestAuthentication in \(tp.ref.namespace) or the root namespace accepts issuer \"\(rule.issuer)\": this rule changes nothing"))
            }
        }
        return out.enumerated().sorted { a, b in
            (a.element.origin.file, a.element.origin.line, a.offset) < (b.element.origin.file, b.element.origin.line, b.offset)
        }.map(\.element)
    }

    // MARK: RequestAuthentication

    private func requestAuthentication(_ ra: RequestAuthentication, into out: inout [PolicyWarning]) {
        if !policies.authorizationPolicies.contains(where: { meet(ra.ref.namespace, $0) && Self.requiresPrincipal($0) }) {
            out.append(PolicyWarning(.requestAuthenticationBlocksNothing, ra.origin,
                "RequestAuthentication \(ra.ref) blocks nothing: no AuthorizationPolicy in its namespace or the root namespace requires a "
                + "request principal, so requests without a token are allowed (only invalid tokens are rejected). Add an ALLOW rule with "
                + "from.source.requestPrincipals: [\"*\"] (or a DENY rule with notRequestPrincipals: [\"*\"])"))
        }
        if ra.dryRun {
            out.append(PolicyWarning(.requestAuthenticationDryRunNotIstio, ra.origin, field: "metadata.annotations",
                "RequestAuthentication \(ra.ref) is dry-run: Warden evaluates and counts it without enforcing it, but istiod refuses "
                + "istio.io/dry-run on a RequestAuthentication (\"unsupported annotation\"): keep this file out of the mesh's "
                + "directory, or dry-run the change as a TokenPolicy"))
        }
        if let selector = ra.selector, selector.matchLabels.isEmpty {
            out.append(PolicyWarning(.selectorWithoutLabels, ra.origin, field: "spec.selector",
                "workload selector specified without labels: it applies to every workload in \(ra.ref.namespace) (Istio warns the same)"))
        }
        for (i, rule) in ra.jwtRules.enumerated() {
            let field = "spec.jwtRules[\(i)]"
            let hasKeys = (rule.jwks.map { !$0.isEmpty } ?? false) || (rule.jwksUri.map { !$0.isEmpty } ?? false)
            if rule.issuer.isEmpty {
                out.append(PolicyWarning(.jwtRuleWithoutIssuer, ra.origin, field: "\(field).issuer",
                    "no issuer: a token from any issuer that these keys verify is accepted; set the issuer the keys belong to"))
            } else if rule.issuer.lowercased().hasPrefix("http://") {
                out.append(PolicyWarning(.issuerNotHTTPS, ra.origin, field: "\(field).issuer",
                    "issuer \"\(rule.issuer)\" is not https" + (hasKeys ? "" : ": its keys would be discovered over plain HTTP, which anyone on the path can replace")))
            } else if !hasKeys && !rule.issuer.lowercased().hasPrefix("https://") {
                out.append(PolicyWarning(.issuerWithoutKeys, ra.origin, field: "\(field).issuer",
                    "issuer \"\(rule.issuer)\" is not a URL and the rule has neither jwksUri nor jwks: OIDC discovery cannot find its keys"))
            }
            if rule.audiences.isEmpty {
                let typChecked = policies.tokenPolicies.contains { tp in
                    meet(ra.ref.namespace, tp.ref.namespace) && tp.rules.contains { $0.issuer.bytesEqual(rule.issuer) && !$0.typ.isEmpty }
                }
                if typChecked {
                    out.append(PolicyWarning(.jwtRuleAnyAudience, ra.origin, field: "\(field).audiences",
                        "no audiences: a token issuer \"\(rule.issuer)\" minted for any other service is accepted here (RFC 9700 §2.3); "
                        + "list this service's audience"))
                } else {
                    out.append(PolicyWarning(.idTokenAccepted, ra.origin, field: "\(field).audiences",
                        "no audiences and no TokenPolicy typ for issuer \"\(rule.issuer)\": tokens minted for any other service, "
                        + "and ID tokens, are accepted as access tokens here (RFC 9700 §2.3). List this service's audience, and a "
                        + "TokenPolicy with typ: [at+jwt] if the issuer marks access tokens (RFC 9068)"))
                }
            }
            if let uri = rule.jwksUri, uri.lowercased().hasPrefix("http://") {
                out.append(PolicyWarning(.jwksURINotHTTPS, ra.origin, field: "\(field).jwksUri",
                    "jwksUri \"\(uri)\" is not https: anyone on the path can replace the keys and mint accepted tokens"))
            }
            if let jwks = rule.jwks {
                for index in Self.privateKeyIndexes(jwks) {
                    out.append(PolicyWarning(.jwksPrivateKey, ra.origin, field: "\(field).jwks",
                        "jwks key at index \(index) contains private key material; only public keys are used for verification. "
                        + "Publish only the public key: anyone who can read this policy can mint tokens with it"))
                }
            }
        }
    }

    /// Indexes of keys with private parts (`d`) or symmetric keys (`kty: oct`), as Istio's
    /// `warnPrivateJwksKeys` (pkg/config/validation/validation.go) flags them. A document that does not
    /// parse has none (it is the loader's to reject).
    static func privateKeyIndexes(_ jwks: String) -> [Int] {
        guard let set = try? JSONParser.parse(jwks), case .array(let keys)? = set["keys"] else { return [] }
        return keys.indices.filter { i in
            keys[i]["d"] != nil || keys[i]["kty"]?.stringValue == "oct"
        }
    }

    // MARK: AuthorizationPolicy

    private func authorizationPolicy(_ ap: AuthorizationPolicy, into out: inout [PolicyWarning]) {
        if let selector = ap.selector, selector.matchLabels.isEmpty {
            out.append(PolicyWarning(.selectorWithoutLabels, ap.origin, field: "spec.selector",
                "workload selector specified without labels: it applies to every workload in \(ap.ref.namespace) (Istio warns the same)"))
        }
        if ap.action == .allow && Self.usesRequestAuth(ap) && !ap.rules.contains(where: { $0.when.contains { $0.key == .requestAudiences } }) {
            for ra in policies.requestAuthentications where meet(ra.ref.namespace, ap) {
                for rule in ra.jwtRules where rule.audiences.isEmpty {
                    out.append(PolicyWarning(.allowAnyAudience, ap.origin,
                        "ALLOW policy \(ap.ref) trusts request.auth, but RequestAuthentication \(ra.ref) (\(ra.origin)) accepts issuer \"\(rule.issuer)\" "
                        + "without audiences: a token that issuer minted for any other service is accepted here. Set audiences on the jwtRule "
                        + "or a when: request.auth.audiences condition"))
                }
            }
        }
        if ap.action == .allow && ap.rules.isEmpty && !ap.dryRun {
            out.append(PolicyWarning(.allowWithoutRules, ap.origin,
                "ALLOW policy \(ap.ref) has no rules: it matches nothing and so denies every request it applies to"))
        }
        for (r, rule) in ap.rules.enumerated() {
            for finding in WildcardLint.findings(in: rule, at: "spec.rules[\(r)]") {
                out.append(PolicyWarning(finding.code, ap.origin, field: finding.field, finding.message))
            }
        }
    }

    // MARK: Hints

    /// One hint per `experimental.envoy.filters.*` condition: Envoy sends a filter's metadata to Warden only
    /// for the namespaces its ext_authz filter lists, and without it the condition cannot be decided.
    public func hints() -> [PolicyHint] {
        var out: [PolicyHint] = []
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
                    out.append(PolicyHint(origin: ap.origin, field: "spec.rules[\(r)].when[\(w)].key", message: message))
                }
            }
        }
        return out
    }

    // MARK: Helpers

    private func meet(_ raNamespace: String, _ ap: AuthorizationPolicy) -> Bool {
        meet(raNamespace, ap.ref.namespace)
    }

    private func meet(_ a: String, _ b: String) -> Bool {
        a == b || a == rootNamespace || b == rootNamespace
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
        case .requestPrincipal, .requestAudiences, .requestPresenter, .requestClaim, .gatewayClaim, .gatewayScope, .gatewayProvider: return true
        default: return false
        }
    }
}

extension ResourceOrigin {
    /// From a `file:line` location (a note's); the line is 0 when there is none.
    init(location: String) {
        if let colon = location.lastIndex(of: ":"), let line = Int(location[location.index(after: colon)...]) {
            self.init(file: String(location[..<colon]), line: line)
        } else {
            self.init(file: location, line: 0)
        }
    }
}
