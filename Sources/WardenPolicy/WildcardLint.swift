/// Finds `*` where Istio's matching does not give it the meaning its author likely wanted.
///
/// Istio matches strings exactly, by prefix (`abc*`), by suffix (`*abc`) or by presence (`*`); a leading `*`
/// wins (pilot/pkg/security/authz/matcher/string.go). So `*orders:write*` is a *suffix* match for the literal
/// text `orders:write*` — never a contains-match — and a `*` inside a value is a literal character. Namespaces
/// (`namespaces`, `source.namespace`) are exempt: istiod turns every `*` in them into a wildcard, and URI
/// templates (`{*}`, `{**}`) are their own syntax.
enum WildcardLint {
    struct Finding {
        var code: PolicyWarning.Code
        var field: String
        var message: String
    }

    static func findings(in rule: AuthorizationRule, at base: String) -> [Finding] {
        var out: [Finding] = []
        func strings(_ patterns: [StringPattern], _ field: String, spaceSplit: Bool = false) {
            for (i, p) in patterns.enumerated() {
                if let f = finding(p, field: "\(field)[\(i)]", spaceSplit: spaceSplit) { out.append(f) }
            }
        }
        func principals(_ patterns: [RequestPrincipalPattern], _ field: String) {
            for (i, p) in patterns.enumerated() {
                // istiod splits at the last "/" and matches issuer and subject separately: `*/*` is fine.
                for part in [p.issuer, p.subject] {
                    if let f = finding(part, field: "\(field)[\(i)]", written: p.description) {
                        out.append(f)
                        break
                    }
                }
            }
        }
        for (i, from) in rule.from.enumerated() {
            let s = from, at = "\(base).from[\(i)].source"
            strings(s.principals, "\(at).principals")
            strings(s.notPrincipals, "\(at).notPrincipals")
            principals(s.requestPrincipals, "\(at).requestPrincipals")
            principals(s.notRequestPrincipals, "\(at).notRequestPrincipals")
            strings(s.trustDomains, "\(at).trustDomains")
            strings(s.notTrustDomains, "\(at).notTrustDomains")
        }
        for (i, to) in rule.to.enumerated() {
            let o = to, at = "\(base).to[\(i)].operation"
            strings(o.hosts, "\(at).hosts")
            strings(o.notHosts, "\(at).notHosts")
            strings(o.methods, "\(at).methods")
            strings(o.notMethods, "\(at).notMethods")
            for (name, paths) in [("paths", o.paths), ("notPaths", o.notPaths)] {
                for (j, path) in paths.enumerated() {
                    guard case .string(let p) = path else { continue }  // URI templates are their own syntax
                    if let f = finding(p, field: "\(at).\(name)[\(j)]") { out.append(f) }
                }
            }
        }
        for (i, condition) in rule.when.enumerated() {
            if condition.key == .sourceNamespace { continue }
            let spaceSplit: Bool
            if case .requestClaim(let path) = condition.key, path.count == 1,
               EffectivePolicy.defaultSpaceDelimited.contains(ExactKey(path[0])) {
                spaceSplit = true
            } else {
                spaceSplit = false
            }
            for (name, values) in [("values", condition.values), ("notValues", condition.notValues)] {
                for (j, value) in values.enumerated() {
                    let field = "\(base).when[\(i)].\(name)[\(j)]"
                    switch value {
                    case .string(let p):
                        if let f = finding(p, field: field, spaceSplit: spaceSplit, key: condition.key.description) { out.append(f) }
                    case .requestPrincipal(let p):
                        for part in [p.issuer, p.subject] {
                            if let f = finding(part, field: field, written: p.description) {
                                out.append(f)
                                break
                            }
                        }
                    case .ip, .port, .metadata:
                        continue
                    }
                }
            }
        }
        return out
    }

    /// The finding for one pattern, if its `*` is not a prefix/suffix/presence wildcard.
    /// - Parameters:
    ///   - written: the value as written, when `pattern` is part of it (a request principal).
    ///   - spaceSplit: the attribute is a claim Warden splits on spaces (`scope`, `scp`, `permission`).
    static func finding(_ pattern: StringPattern, field: String, written: String? = nil, spaceSplit: Bool = false,
                        key: String? = nil) -> Finding? {
        let text = written ?? pattern.description
        switch pattern {
        case .suffix(let s) where s.hasSuffix("*") && s.count > 1:
            let core = String(s.dropLast()).replacingOccurrences(of: "*", with: "")
            var advice = "write the exact value, a prefix (\"\(core)*\") or a suffix (\"*\(core)\")"
            if spaceSplit, let key {
                advice = "\(key) is split on spaces, so each scope is matched on its own: write \"\(core)\""
            }
            return Finding(code: .wildcardBothEnds, field: field, message:
                "\"\(text)\" is not a contains-match (Istio has none): the leading * makes it a suffix match for the literal "
                + "text \"\(s)\", which only a value ending in \"*\" can match; \(advice)")
        case .exact(let s), .prefix(let s), .suffix(let s):
            guard s.contains("*") else { return nil }
            return Finding(code: .wildcardInside, field: field, message:
                "\"\(text)\": a * inside a value is literal text; Istio matches only exact values, prefixes (\"abc*\"), "
                + "suffixes (\"*abc\") and presence (\"*\")")
        case .presence:
            return nil
        }
    }
}
