import WardenYAML

/// Envoy Gateway `SecurityPolicy` (gateway.envoyproxy.io/v1alpha1, envoyproxy/gateway
/// `api/v1alpha1/securitypolicy_types.go`, `jwt_types.go`, `authorization_types.go`) compiled into the
/// Istio model Warden evaluates, only where the result decides exactly as Envoy Gateway does:
///
/// - `jwt` → a jwt_authn requirement of its own (`JwtAuthnFilter.onlyWith`), requires_any of the providers
///   (plus `allow_missing` with `optional: true`), scoped by a RequestAuthentication that carries the targets
///   and the providers for `warden convert` — the Istio resources never verify with them
///   (`EffectivePolicy.jwtRules`). A request without a token is 401 `Jwt is missing` unless optional; a present
///   token none of the providers verifies is 401 either way, as Envoy Gateway answers.
/// - `authorization` is first-match over `rules`, then `defaultAction` (default Deny). Trailing rules whose
///   action is the default change nothing and are dropped; each Deny rule becomes DENY rules "it matches and no
///   earlier Allow rule does" (the earlier Allow rules' negations), in a DENY policy `<name>.deny`, and the Allow
///   rules, when the default is Deny, an ALLOW policy `<name>` (no rules: deny everything) — Istio's
///   DENY-then-ALLOW deciding exactly as first match. These policies are evaluated as a stage of their own,
///   apart from Istio's (Envoy Gateway's RBAC filter is another filter: both must allow; `EffectivePolicy.stages`).
/// - `principal.jwt.provider` → a `.gatewayProvider` condition: the token must have been verified by that very
///   provider (`RequestIdentity.verifiedBy`), not merely carry its issuer.
/// - Every field Warden cannot honour is a load error; `recomputeRoute` and the JWKS `backendRefs`/
///   `backendSettings` (routing inside Envoy) are ignored with a note.
enum SecurityPolicyDecoder {
    static let apiVersion = "gateway.envoyproxy.io/v1alpha1"
    static let dialectPrefix = "Envoy Gateway SecurityPolicy"
    static let targetKinds: Set<String> = ["Gateway", "HTTPRoute", "GRPCRoute"]

    static func decode(_ spec: YAMLCursor, ref: PolicyRef, origin documentOrigin: ResourceOrigin) throws(PolicyLoadError) -> [DecodedResource] {
        var origin = documentOrigin
        origin.dialect = "\(dialectPrefix) \(ref)"
        let f = try spec.fields(allowed: ["targetRef", "targetRefs", "jwt", "authorization"])
        var targets: [TargetRef] = []
        if let single = f["targetRef"], !single.isNull { targets.append(try decodeTargetRef(single)) }
        for item in try f["targetRefs"]?.list() ?? [] { targets.append(try decodeTargetRef(item)) }
        if targets.isEmpty { throw spec.error("SecurityPolicy needs targetRefs (the Gateway or HTTPRoute it applies to)") }
        for (t, c) in zip(targets, try (f["targetRef"].map { [$0] } ?? []) + (f["targetRefs"]?.list() ?? [])) {
            if !targetKinds.contains(t.kind) { throw c.error("targetRefs kind \(t.kind) is not one Warden fronts (expected Gateway, HTTPRoute or GRPCRoute)") }
            if t.namespace != nil { throw c.error("a SecurityPolicy targets resources of its own namespace only (no namespace field)") }
        }
        var out: [DecodedResource] = []
        var providers: [String: JWTRule] = [:]
        if let jwt = f["jwt"], !jwt.isNull {
            let jf = try jwt.fields(allowed: ["providers", "optional"])
            var rules: [JWTRule] = []
            var metadataKeys: [String] = []
            let items = try jf["providers"]?.list() ?? []
            if items.isEmpty { throw jwt.error("jwt.providers must list at least one provider") }
            for item in items {
                let (name, rule, notes) = try decodeProvider(item, source: ref)
                if providers[name] != nil { throw item.error("duplicate provider name \(name)") }
                providers[name] = rule
                rules.append(rule)
                metadataKeys.append(name)
                out += notes.map { .skipped(PolicyNote(level: .info, location: origin.description, message: $0)) }
            }
            out.append(.requestAuthentication(RequestAuthentication(ref: ref, origin: origin, selector: nil, targetRefs: targets, jwtRules: rules)))
            // Envoy Gateway's jwt_authn requirement for the route (internal/xds/translator/jwt.go): any one of the
            // providers must verify a token — a request without one is 401 `Jwt is missing`. `optional: true` adds
            // `allow_missing` to that requires_any: no token passes, but a present token none of these providers
            // verifies is still 401. Either way it is this policy's own verification: its providers never verify
            // for the Istio resources, nor Istio's for it (the RequestAuthentication above carries the targets).
            let optional = try jf["optional"]?.bool() ?? false
            let names = metadataKeys
            let leaves: [JwtRequirement] = names.map { .provider($0, audiences: nil) }
            let requirement: JwtRequirement = optional ? .any(leaves + [.allowMissing]) : leaves.count == 1 ? leaves[0] : .any(leaves)
            // EG also sets `payload_in_metadata: <provider name>` with `scope` and `scp` split on spaces.
            let providerList = zip(names, rules).map { name, rule in
                var p = JwtAuthnProvider(name: name, rule: rule, payloadInMetadata: name)
                p.spaceDelimitedInMetadata = ["scope", "scp"]
                return p
            }
            var filter = JwtAuthnFilter(origin: origin, providers: providerList,
                                        rules: [JwtAuthnRule(match: JwtRouteMatch(path: .prefix("")), requires: requirement, line: jwt.node.mark.line)])
            filter.onlyWith = ref
            filter.targetRefs = targets
            out.append(.jwtAuthn(filter))
        }
        if let authz = f["authorization"], !authz.isNull {
            out += try decodeAuthorization(authz, ref: ref, origin: origin, targets: targets, providers: providers)
        }
        return out
    }

    /// A Gateway API `LocalPolicyTargetReferenceWithSectionName` (`group`, `kind`, `name`); `sectionName` is refused.
    static func decodeTargetRef(_ c: YAMLCursor) throws(PolicyLoadError) -> TargetRef {
        let f = try c.fields(allowed: ["group", "kind", "name", "namespace"])
        guard let kind = try f["kind"]?.string(), !kind.isEmpty else { throw c.error("kind is required") }
        guard let name = try f["name"]?.string(), !name.isEmpty else { throw c.error("name is required") }
        let group = try f["group"]?.string() ?? ""
        if group != "gateway.networking.k8s.io" { throw (f["group"] ?? c).error("group must be gateway.networking.k8s.io") }
        let ns = try f["namespace"]?.string()
        return TargetRef(group: group, kind: kind, name: name, namespace: ns?.isEmpty == true ? nil : ns)
    }

    // MARK: - jwt.providers[]

    static func decodeProvider(_ c: YAMLCursor, source: PolicyRef) throws(PolicyLoadError) -> (String, JWTRule, [String]) {
        let f = try c.fields(allowed: ["name", "issuer", "audiences", "remoteJWKS", "localJWKS", "claimToHeaders", "recomputeRoute", "extractFrom"])
        guard let name = try f["name"]?.string(), !name.isEmpty else { throw c.error("name is required") }
        guard let issuerField = f["issuer"], case let issuer = try issuerField.string(), !issuer.isEmpty else {
            throw (f["issuer"] ?? c).error("an issuer is required: Envoy Gateway then accepts any issuer, which Warden does not")
        }
        var notes: [String] = []
        var rule = JWTRule(issuer: issuer, source: source)
        // Envoy Gateway's provider (internal/xds/translator/jwt.go buildJWTProvider): `forward: true`, so the
        // upstream receives the token.
        rule.forwardOriginalToken = true
        rule.jwtAuthnProvider = name
        rule.gatewayProviderID = "\(source)/\(name)"
        rule.audiences = try f["audiences"]?.stringList() ?? []
        if let r = f["remoteJWKS"], !r.isNull {
            let rf = try r.fields(allowed: ["uri", "backendRef", "backendRefs", "backendSettings"])
            guard let u = rf["uri"] else { throw r.error("uri is required") }
            let uri = try u.string()
            if let problem = IstioValidation.jwksURIProblem(uri) { throw u.error(problem) }
            rule.jwksUri = uri
            for k in ["backendRef", "backendRefs", "backendSettings"] where rf[k] != nil {
                notes.append("provider \(name): remoteJWKS.\(k) ignored (Envoy cluster routing); Warden fetches \(uri) itself")
            }
        }
        if let l = f["localJWKS"], !l.isNull {
            let lf = try l.fields(allowed: ["type", "inline"])
            if let t = try lf["type"]?.string(), t != "Inline" { throw lf["type"]!.error("only type Inline is supported (a ConfigMap ValueRef cannot be read here)") }
            guard let inline = lf["inline"] else { throw l.error("inline is required") }
            rule.jwks = try inline.string()
        }
        if (rule.jwksUri == nil) == (rule.jwks == nil) { throw c.error("exactly one of remoteJWKS or localJWKS must be set") }
        for item in try f["claimToHeaders"]?.list() ?? [] {
            let hf = try item.fields(allowed: ["header", "claim"])
            guard let h = try hf["header"]?.string(), !h.isEmpty, let claim = try hf["claim"]?.string(), !claim.isEmpty else {
                throw item.error("header and claim are required")
            }
            try PolicyDecoder.validateHeaderName(h, hf["header"]!)
            rule.outputClaimToHeaders.append(ClaimToHeader(header: h, claim: claim))
        }
        if f["recomputeRoute"] != nil {
            _ = try f["recomputeRoute"]!.bool()
            notes.append("provider \(name): recomputeRoute ignored (route selection happens in Envoy, before ext_authz)")
        }
        if let e = f["extractFrom"], !e.isNull {
            let ef = try e.fields(allowed: ["headers", "cookies", "params"])
            for h in try ef["headers"]?.list() ?? [] {
                let hf = try h.fields(allowed: ["name", "valuePrefix"])
                guard let n = try hf["name"]?.string(), !n.isEmpty else { throw h.error("name is required") }
                try PolicyDecoder.validateHeaderName(n, hf["name"]!)
                rule.fromHeaders.append(JWTHeader(name: n, prefix: try hf["valuePrefix"]?.string() ?? ""))
            }
            rule.fromCookies = try ef["cookies"]?.stringList() ?? []
            rule.fromParams = try ef["params"]?.stringList() ?? []
        }
        return (name, rule, notes)
    }

    // MARK: - authorization

    static func decodeAuthorization(_ c: YAMLCursor, ref: PolicyRef, origin: ResourceOrigin, targets: [TargetRef],
                                    providers: [String: JWTRule]) throws(PolicyLoadError) -> [DecodedResource] {
        let f = try c.fields(allowed: ["rules", "defaultAction"])
        let defaultAllow = try action(f["defaultAction"]) ?? false
        var rules: [(allow: Bool, rule: AuthorizationRule, cursor: YAMLCursor)] = []
        for item in try f["rules"]?.list() ?? [] {
            let rf = try item.fields(allowed: ["name", "action", "principal", "operation"])
            guard let allow = try action(rf["action"]) else { throw item.error("action is required (Allow or Deny)") }
            guard let p = rf["principal"], !p.isNull else { throw item.error("principal is required") }
            var rule = try decodePrincipal(p, providers: providers)
            if let o = rf["operation"], !o.isNull {
                // authorization_types.go `Operation.Methods` (1–16 gateway-api HTTPMethods; nothing else yet).
                let of = try o.fields(allowed: ["methods"])
                let methods = try of["methods"]?.stringList() ?? []
                if methods.isEmpty || methods.count > 16 { throw (of["methods"] ?? o).error("operation.methods needs 1 to 16 methods") }
                for (i, m) in methods.enumerated() where !Self.httpMethods.contains(m) {
                    throw (of["methods"] ?? o).error("methods[\(i)]: \(m) is not one of \(Self.httpMethods.sorted().joined(separator: ", "))")
                }
                var op = Operation()
                op.methods = methods.map { .exact($0) }
                op.methodsIgnoreCase = true  // EG's buildMethodsPredicate: `:method` with ignore_case
                rule.to = [op]
            }
            rules.append((allow, rule, item))
        }
        // First match: a trailing rule with the default's action decides as the default does.
        while let last = rules.last, last.allow == defaultAllow { rules.removeLast() }
        // Istio's order is DENY then ALLOW, so a Deny rule is compiled as "it matches and no earlier Allow rule
        // did": ¬(c1 ∧ c2 …) of each earlier Allow rule is the alternatives ¬c1, ¬c2, … (notRemoteIpBlocks,
        // notRequestPrincipals, notValues: each exactly the negation of its positive form), so the DENY gets one
        // rule per combination. A request an earlier Allow rule matches is then allowed by the ALLOW policy.
        var denies: [AuthorizationRule] = []
        var earlierAllows: [AuthorizationRule] = []
        for r in rules {
            if r.allow { earlierAllows.append(r.rule); continue }
            var combos = [r.rule]
            for a in earlierAllows {
                combos = combos.flatMap { base in negations(a).map { merged(base, $0) } }
                if combos.count > 256 {
                    throw r.cursor.error("this Deny rule after \(earlierAllows.count) Allow rules compiles to more than 256 Istio rules; "
                                         + "reorder the rules (Deny rules first) or merge Allow rules")
                }
            }
            denies += combos
        }
        var out: [DecodedResource] = []
        if !denies.isEmpty {
            out.append(.authorizationPolicy(AuthorizationPolicy(ref: PolicyRef(namespace: ref.namespace, name: ref.name + ".deny"), origin: origin,
                                                                targetRefs: targets, action: .deny, rules: denies)))
        }
        if !defaultAllow {
            out.append(.authorizationPolicy(AuthorizationPolicy(ref: ref, origin: origin, targetRefs: targets, action: .allow,
                                                                rules: rules.filter(\.allow).map(\.rule))))
        }
        return out
    }

    /// gateway-api `HTTPMethod` (the CRD's enum).
    static let httpMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]

    /// ¬rule as alternatives (any one suffices): one negated principal kind, operation or condition each.
    static func negations(_ r: AuthorizationRule) -> [AuthorizationRule] {
        var out: [AuthorizationRule] = []
        for op in r.to where !op.methods.isEmpty {
            var not = Operation()
            not.notMethods = op.methods
            not.methodsIgnoreCase = op.methodsIgnoreCase
            out.append(AuthorizationRule(to: [not]))
        }
        for source in r.from {
            if !source.remoteIpBlocks.isEmpty {
                var s = Source()
                s.notRemoteIpBlocks = source.remoteIpBlocks
                out.append(AuthorizationRule(from: [s]))
            }
            if !source.requestPrincipals.isEmpty {
                var s = Source()
                s.notRequestPrincipals = source.requestPrincipals
                out.append(AuthorizationRule(from: [s]))
            }
        }
        for c in r.when {
            out.append(AuthorizationRule(from: [], when: [Condition(key: c.key, values: c.notValues, notValues: c.values)]))
        }
        return out
    }

    /// Both rules at once (a SecurityPolicy rule has at most one source; fields of one source are ANDed).
    static func merged(_ a: AuthorizationRule, _ b: AuthorizationRule) -> AuthorizationRule {
        var source: Source?
        for s in a.from + b.from {
            guard var m = source else { source = s; continue }
            m.remoteIpBlocks += s.remoteIpBlocks
            m.notRemoteIpBlocks += s.notRemoteIpBlocks
            m.requestPrincipals += s.requestPrincipals
            m.notRequestPrincipals += s.notRequestPrincipals
            source = m
        }
        var operation: Operation?
        for o in a.to + b.to {
            guard var m = operation else { operation = o; continue }
            m.methods += o.methods
            m.notMethods += o.notMethods
            operation = m
        }
        return AuthorizationRule(from: source.map { [$0] } ?? [], to: operation.map { [$0] } ?? [], when: a.when + b.when)
    }

    static func action(_ c: YAMLCursor?) throws(PolicyLoadError) -> Bool? {
        guard let c, !c.isNull else { return nil }
        switch try c.string() {
        case "Allow": return true
        case "Deny": return false
        case let other: throw c.error("action must be Allow or Deny, found \"\(other)\"")
        }
    }

    /// All principal kinds given must match (AND); within one, any value.
    static func decodePrincipal(_ c: YAMLCursor, providers: [String: JWTRule]) throws(PolicyLoadError) -> AuthorizationRule {
        let f = try c.fields(allowed: ["clientCIDRs", "jwt", "headers"])
        var source = Source()
        var when: [Condition] = []
        for cidr in try f["clientCIDRs"]?.list() ?? [] {
            let text = try cidr.string()
            guard let block = IPBlock(text) else { throw cidr.error("not a CIDR or address: \"\(text)\"") }
            source.remoteIpBlocks.append(block)
        }
        if let j = f["jwt"], !j.isNull {
            let jf = try j.fields(allowed: ["provider", "claims", "scopes"])
            guard let pf = jf["provider"], case let name = try pf.string(), let rule = providers[name] else {
                throw (jf["provider"] ?? j).error("provider must name one of this SecurityPolicy's jwt.providers")
            }
            // The claims are those of a token this provider verified (its payload_in_metadata key): bound to the
            // provider itself, not its issuer — another provider of the same issuer (other audiences or keys),
            // here or in an Istio RequestAuthentication, must not satisfy it.
            when.append(Condition(key: .gatewayProvider(issuer: rule.issuer), values: [.string(.exact(rule.gatewayProviderID ?? ""))], notValues: []))
            for claim in try jf["claims"]?.list() ?? [] {
                let cf = try claim.fields(allowed: ["name", "valueType", "values"])
                guard let n = try cf["name"]?.string(), !n.isEmpty else { throw claim.error("name is required") }
                let array: Bool
                switch try cf["valueType"]?.string() ?? "String" {
                case "String": array = false
                case "StringArray": array = true
                case let other: throw cf["valueType"]!.error("valueType must be String or StringArray, found \"\(other)\"")
                }
                let values = try cf["values"]?.stringList() ?? []
                if values.isEmpty { throw claim.error("values must not be empty") }
                let path = n.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
                if path.contains(where: \.isEmpty) { throw cf["name"]!.error("empty segment in claim name \"\(n)\"") }
                when.append(Condition(key: .gatewayClaim(path, array: array), values: values.map { .string(.exact($0)) }, notValues: []))
            }
            for scope in try jf["scopes"]?.stringList() ?? [] {
                when.append(Condition(key: .gatewayScope, values: [.string(.exact(scope))], notValues: []))
            }
            if jf["claims"] == nil && jf["scopes"] == nil { throw j.error("at least one of claims or scopes must be specified") }
        }
        for h in try f["headers"]?.list() ?? [] {
            let hf = try h.fields(allowed: ["name", "values"])
            guard let n = try hf["name"]?.string(), !n.isEmpty else { throw h.error("name is required") }
            try PolicyDecoder.validateHeaderName(n, hf["name"]!)
            let values = try hf["values"]?.stringList() ?? []
            if values.isEmpty { throw h.error("values must not be empty") }
            when.append(Condition(key: .requestHeader(n.lowercased()), values: values.map { .string(.exact($0)) }, notValues: []))
        }
        if f.isEmpty { throw c.error("at least one of clientCIDRs, jwt or headers must be specified") }
        let hasSource = !source.remoteIpBlocks.isEmpty || !source.requestPrincipals.isEmpty
        return AuthorizationRule(from: hasSource ? [source] : [], when: when)
    }
}
