/// Decodes `TokenPolicy` documents (`security.warden.io/v1alpha1`) with the same strictness as Istio's
/// kinds: unknown fields are errors, with file, line and field path.
extension PolicyDecoder {
    static let wardenAPIVersions: Set<String> = [TokenPolicy.apiVersion]

    static func decodeTokenPolicy(_ spec: YAMLCursor, ref: PolicyRef, origin: ResourceOrigin, dryRun: Bool = false) throws(PolicyLoadError) -> TokenPolicy {
        let f = try spec.fields(allowed: ["selector", "targetRef", "targetRefs", "jwtRules"])
        let (selector, refs) = try decodeScope(f, spec: spec)
        var rules: [TokenRule] = []
        for item in try f["jwtRules"]?.list() ?? [] { rules.append(try decodeTokenRule(item)) }
        if rules.count > 4096 { throw f["jwtRules"]!.error("at most 4096 rules are allowed") }
        return TokenPolicy(ref: ref, origin: origin, selector: selector, targetRefs: refs, rules: rules, dryRun: dryRun)
    }

    static func decodeTokenRule(_ c: YAMLCursor) throws(PolicyLoadError) -> TokenRule {
        let f = try c.fields(allowed: ["issuer", "typ", "maxLifetime", "requiredClaims", "subjects", "senderConstrained"])
        guard let issuer = try f["issuer"]?.string(), !issuer.isEmpty else { throw c.error("issuer must be set") }
        var rule = TokenRule(issuer: issuer)
        if let typ = f["typ"], !typ.isNull {
            rule.typ = try typ.stringList()
            for (i, t) in rule.typ.enumerated() where t.isEmpty || t.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F }) {
                throw typ.error("typ[\(i)] must be a media type such as \"at+jwt\"")
            }
        }
        if let m = f["maxLifetime"], !m.isNull {
            let text = try m.string()
            guard let d = parseGoDuration(text), d > .zero else { throw m.error("invalid duration \"\(text)\" (expected e.g. \"10m\", \"1h\")") }
            rule.maxLifetime = d
        }
        for item in try f["requiredClaims"]?.list() ?? [] {
            let cf = try item.fields(allowed: ["name", "values"])
            guard let name = try cf["name"]?.string(), !name.isEmpty else { throw item.error("requiredClaims name must be set") }
            rule.requiredClaims.append(RequiredClaim(name: name, values: try cf["values"]?.stringList() ?? []))
        }
        if let s = f["subjects"], !s.isNull {
            let sf = try s.fields(allowed: ["exact", "prefix", "suffix", "contains"])
            var given: [(String, String)] = []
            for key in ["exact", "prefix", "suffix", "contains"] {
                if let v = sf[key] { given.append((key, try v.string())) }
            }
            guard given.count == 1, let (kind, value) = given.first else {
                throw s.error("subjects takes exactly one of exact, prefix, suffix, contains (Envoy's StringMatcher; no regex)")
            }
            switch kind {
            case "exact": rule.subjects = .exact(value)
            case "prefix": rule.subjects = .prefix(value)
            case "suffix": rule.subjects = .suffix(value)
            default: rule.subjects = .contains(value)
            }
        }
        rule.senderConstrained = try f["senderConstrained"]?.bool() ?? false
        return rule
    }
}
