import WardenJSON

/// `warden convert --to istio` for Envoy `jwt_authn` documents: the providers become one RequestAuthentication,
/// and every rule whose requirement Istio can say becomes a DENY rule of one AuthorizationPolicy — the requests
/// that rule matches (and no earlier rule did: first match) without a principal of the required issuers. What
/// Istio cannot say is listed as a gap, never dropped silently.
extension IstioConversion {
    mutating func convert(_ f: JwtAuthnFilter) {
        let stem = f.origin.file.split(separator: "/").last.map { String($0.split(separator: ".").first ?? $0) } ?? "jwt-authn"
        let name = stem.lowercased().map { $0.isLetter || $0.isNumber ? String($0) : "-" }.joined()
        let ref = PolicyRef(namespace: "default", name: name)
        let label = "\(f.origin.file):\(f.origin.line)"
        var seenIssuers: [String: String] = [:]
        var rules: [JSONValue] = []
        for p in f.providers {
            if let other = seenIssuers[p.rule.issuer] {
                gaps.append("\(label) providers \(other) and \(p.name) share issuer \(p.rule.issuer): one Istio jwtRule per issuer "
                    + "applies; the printed RequestAuthentication keeps both, which istiod refuses — merge them by hand")
            }
            seenIssuers[p.rule.issuer] = p.name
            rules.append(Self.jwtRule(p.rule))
            var own: [String] = []
            if p.clockSkewSeconds != 60 { own.append("clock_skew_seconds \(Int(p.clockSkewSeconds))") }
            if p.requireExpiration { own.append("require_expiration") }
            if let m = p.maxLifetime { own.append("max_lifetime \(m.components.seconds)s") }
            if let s = p.subjects { own.append("subjects \(s)") }
            if !own.isEmpty {
                gaps.append("\(label) provider \(p.name): \(own.joined(separator: ", ")) has no Istio field (Warden's TokenPolicy "
                    + "kind says maxLifetime and subjects; clock skew is istiod's 60 s)")
            }
            if let key = p.payloadInMetadata, key != p.rule.issuer {
                gaps.append("\(label) provider \(p.name): payload_in_metadata \(key): Istio writes the payload under the issuer")
            }
        }
        emit("RequestAuthentication", PolicyRef(namespace: "default", name: name), f.origin,
                                       ["jwtRules": .array(rules)])
        gaps.append("\(label): Istio verifies every token present on every path (an invalid token is 401 even where no jwt_authn "
            + "rule requires one) and answers a missing required token 403 RBAC: access denied where jwt_authn answers 401 Jwt is missing")
        var denyRules: [JSONValue] = []
        var earlier: [String] = []
        var earlierExact = true
        for (i, rule) in f.rules.enumerated() {
            let at = "\(label) rules[\(i)]"
            guard let paths = Self.istioPaths(rule.match) else {
                gaps.append("\(at): the match (\(Self.describe(rule.match))) has no Istio operation equivalent; not converted, "
                    + "and later rules no longer exclude the requests it matched")
                earlierExact = false
                continue
            }
            defer { earlier += paths }
            guard let requirement = rule.requires else { continue }
            guard let principalSets = Self.principalSets(requirement, f) else {
                gaps.append("\(at): requirement \(requirement) has no Istio equivalent (Istio says: a token, if present, must be valid; "
                    + "required issuers per path); not converted")
                continue
            }
            if !earlierExact { gaps.append("\(at): an earlier rule was not converted, so this rule's DENY may also cover its requests") }
            for principals in principalSets {
                var op: [String: JSONValue] = ["paths": Self.strings(paths)]
                if !earlier.isEmpty { op["notPaths"] = Self.strings(earlier) }
                denyRules.append(.object([
                    "to": .array([.object(["operation": .object(op)])]),
                    "from": .array([.object(["source": .object(["notRequestPrincipals": Self.strings(principals)])])]),
                ]))
            }
        }
        if !denyRules.isEmpty {
            emit("AuthorizationPolicy", PolicyRef(namespace: ref.namespace, name: name + ".required"), f.origin,
                                           ["action": .string("DENY"), "rules": .array(denyRules)])
        }
        if !f.requirementMap.isEmpty {
            gaps.append("\(label): requirement_map (chosen per route with context_extensions) has no Istio equivalent; not converted")
        }
    }

    /// Istio `paths` for a jwt_authn match, or nil when Istio cannot say it (regex, case-insensitive, headers,
    /// query parameters).
    static func istioPaths(_ m: JwtRouteMatch) -> [String]? {
        guard m.caseSensitive || Self.caseFree(m), m.headers.isEmpty, m.queryParameters.isEmpty else { return nil }
        switch m.path {
        case .exact(let p): return [p]
        case .prefix(let p): return p.isEmpty ? ["*"] : [p + "*"]
        case .separatedPrefix(let p): return [p, p + "/*"]
        case .regex: return nil
        }
    }

    static func caseFree(_ m: JwtRouteMatch) -> Bool {
        let text: String
        switch m.path {
        case .exact(let p), .prefix(let p), .separatedPrefix(let p): text = p
        case .regex: return false
        }
        return !text.unicodeScalars.contains { $0.properties.isAlphabetic }
    }

    /// Each inner list is one DENY rule's `notRequestPrincipals`: a request is denied when it has none of them.
    /// `provider` → [[iss/*]]; `requires_any` of providers → [[a/*, b/*]].
    /// `requires_all` (2 or more, Envoy's `min_items`) has no Istio equivalent: a request has one `request.auth.principal` in Istio (one
    /// verified token decides), so "no principal of A" and "no principal of B" as two DENY rules deny every request
    /// — it is a gap, never printed.
    static func principalSets(_ r: JwtRequirement, _ f: JwtAuthnFilter) -> [[String]]? {
        func principal(_ name: String) -> String? {
            guard let p = f.provider(named: name) else { return nil }
            return p.rule.issuer.isEmpty ? "*" : p.rule.issuer + "/*"
        }
        switch r {
        case .none, .allowMissing: return []
        case .allowMissingOrFailed, .any([]), .all([]): return nil
        case .provider(let name, let audiences):
            guard audiences == nil, let p = principal(name) else { return nil }
            return [[p]]
        case .any(let children):
            if children.contains(.allowMissingOrFailed) { return nil }
            // any{P…, allow_missing}: a token, if present, must be valid — what a RequestAuthentication alone says.
            if children.contains(.allowMissing) {
                return children.allSatisfy({ if case .provider(_, nil) = $0 { return true }; return $0 == .allowMissing }) ? [] : nil
            }
            var out: [String] = []
            for c in children {
                guard case .provider(let name, nil) = c, let p = principal(name) else { return nil }
                out.append(p)
            }
            return [out]
        case .all:
            return nil
        }
    }

    public static func describe(_ m: JwtRouteMatch) -> String {
        var parts: [String] = []
        switch m.path {
        case .exact(let p): parts.append("path \(p)")
        case .prefix(let p): parts.append("prefix \(p)")
        case .separatedPrefix(let p): parts.append("path_separated_prefix \(p)")
        case .regex(let r): parts.append("safe_regex \(r.pattern)")
        }
        if !m.caseSensitive { parts.append("case_sensitive: false") }
        if !m.headers.isEmpty { parts.append("headers") }
        if !m.queryParameters.isEmpty { parts.append("query_parameters") }
        return parts.joined(separator: ", ")
    }
}
