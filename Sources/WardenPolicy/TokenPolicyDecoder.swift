/// Decodes `TokenPolicy` documents (`security.warden.io/v1alpha1`) with the same strictness as Istio's
/// kinds: unknown fields are errors, with file, line and field path.
extension PolicyDecoder {
    static let wardenAPIVersions: Set<String> = [TokenPolicy.apiVersion]

    static func decodeTokenPolicy(_ spec: YAMLCursor, ref: PolicyRef, origin: ResourceOrigin, dryRun: Bool = false) throws(PolicyLoadError) -> TokenPolicy {
        let f = try spec.fields(allowed: ["selector", "targetRef", "targetRefs", "jwtRules", "tokenExchange"])
        let (selector, refs) = try decodeScope(f, spec: spec)
        var rules: [TokenRule] = []
        for item in try f["jwtRules"]?.list() ?? [] { rules.append(try decodeTokenRule(item)) }
        if rules.count > 4096 { throw f["jwtRules"]!.error("at most 4096 rules are allowed") }
        var policy = TokenPolicy(ref: ref, origin: origin, selector: selector, targetRefs: refs, rules: rules, dryRun: dryRun)
        for item in try f["tokenExchange"]?.list() ?? [] { policy.exchanges.append(try decodeExchange(item)) }
        if policy.exchanges.count > 256 { throw f["tokenExchange"]!.error("at most 256 exchange rules are allowed") }
        return policy
    }

    static func decodeExchange(_ c: YAMLCursor) throws(PolicyLoadError) -> ExchangeRule {
        let f = try c.fields(allowed: ["issuer", "to", "endpoint", "clientId", "clientSecretFile", "clientAuthMethod", "signingAlgorithm",
                                       "audiences", "resources", "scope", "requestedTokenType", "actorTokenFile", "actorTokenType",
                                       "header", "timeout", "expiryMargin"])
        func required(_ name: String) throws(PolicyLoadError) -> String {
            guard let v = f[name] else { throw c.error("tokenExchange.\(name) is required") }
            let s = try v.string()
            if s.isEmpty { throw v.error("must not be empty") }
            return s
        }
        let endpoint = try required("endpoint")
        if let why = IntrospectionEndpointRule.problem(endpoint) {
            throw f["endpoint"]!.error(why.replacingOccurrences(of: "introspection endpoint", with: "token endpoint"))
        }
        var rule = ExchangeRule(issuer: try required("issuer"), endpoint: endpoint, clientID: try required("clientId"),
                                clientSecretFile: try required("clientSecretFile"))
        for item in try f["to"]?.list() ?? [] {
            let tf = try item.fields(allowed: ["operation"])
            guard let op = tf["operation"], !op.isNull else { throw item.error("`to.operation` must not be nil") }
            rule.to.append(try decodeOperation(op))
        }
        if let m = f["clientAuthMethod"] {
            let text = try m.string()
            guard let method = IntrospectionConfig.ClientAuthMethod(rawValue: text) else {
                throw m.error("clientAuthMethod \"\(text)\" is not supported (expected one of: "
                              + IntrospectionConfig.ClientAuthMethod.allCases.map(\.rawValue).joined(separator: ", ") + ")")
            }
            rule.clientAuthMethod = method
        }
        rule.signingAlgorithm = try f["signingAlgorithm"]?.string()
        rule.audiences = try f["audiences"]?.stringList() ?? []
        rule.resources = try f["resources"]?.stringList() ?? []
        if rule.audiences.isEmpty && rule.resources.isEmpty {
            throw c.error("tokenExchange needs audiences or resources: a token for every service is what exchange avoids (RFC 8693 §2.1)")
        }
        for (i, r) in rule.resources.enumerated() where !(r.hasPrefix("https://") || r.hasPrefix("http://")) || r.contains("#") {
            throw f["resources"]!.error("resources[\(i)] must be an absolute URI without fragment (RFC 8707 §2)")
        }
        rule.scope = try f["scope"]?.string()
        rule.requestedTokenType = try f["requestedTokenType"]?.string()
        rule.actorTokenFile = try f["actorTokenFile"]?.string()
        if let t = try f["actorTokenType"]?.string() { rule.actorTokenType = t }
        if let h = f["header"] {
            let name = try h.string().lowercased()
            guard !name.isEmpty, name.utf8.allSatisfy({ httpTokenChars.contains($0) }) else {
                throw h.error("header must be an HTTP field name")
            }
            rule.header = name
        }
        func duration(_ name: String, max: Duration) throws(PolicyLoadError) -> Duration? {
            guard let v = f[name], !v.isNull else { return nil }
            let text = try v.string()
            guard let d = parseGoDuration(text), d > .zero, d <= max else {
                throw v.error("invalid duration \"\(text)\" (more than 0, at most \(max))")
            }
            return d
        }
        if let d = try duration("timeout", max: .seconds(30)) { rule.timeout = d }
        if let d = try duration("expiryMargin", max: .seconds(3600)) { rule.expiryMargin = d }
        return rule
    }

    static func decodeTokenRule(_ c: YAMLCursor) throws(PolicyLoadError) -> TokenRule {
        let f = try c.fields(allowed: ["issuer", "typ", "maxLifetime", "requiredClaims", "subjects", "senderConstrained", "introspection"])
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
        if let i = f["introspection"], !i.isNull { rule.introspection = try decodeIntrospection(i) }
        return rule
    }

    static func decodeIntrospection(_ c: YAMLCursor) throws(PolicyLoadError) -> IntrospectionConfig {
        let f = try c.fields(allowed: ["endpoint", "clientId", "clientSecretFile", "clientAuthMethod", "cacheDuration",
                                       "negativeCacheDuration", "timeout", "introspectJWTs",
                                       "signingAlgorithm"])
        func required(_ name: String) throws(PolicyLoadError) -> String {
            guard let v = f[name] else { throw c.error("introspection.\(name) is required") }
            let s = try v.string()
            if s.isEmpty { throw v.error("must not be empty") }
            return s
        }
        let endpoint = try required("endpoint")
        if let why = IntrospectionEndpointRule.problem(endpoint) { throw f["endpoint"]!.error(why) }
        var config = IntrospectionConfig(endpoint: endpoint, clientID: try required("clientId"), clientSecretFile: try required("clientSecretFile"))
        if let m = f["clientAuthMethod"] {
            let text = try m.string()
            guard let method = IntrospectionConfig.ClientAuthMethod(rawValue: text) else {
                throw m.error("clientAuthMethod \"\(text)\" is not supported (expected one of: "
                              + IntrospectionConfig.ClientAuthMethod.allCases.map(\.rawValue).joined(separator: ", ") + ")")
            }
            config.clientAuthMethod = method
        }
        func duration(_ name: String, max: Duration) throws(PolicyLoadError) -> Duration? {
            guard let v = f[name], !v.isNull else { return nil }
            let text = try v.string()
            guard let d = parseGoDuration(text), d > .zero, d <= max else {
                throw v.error("invalid duration \"\(text)\" (expected e.g. \"10s\", \"5m\"; more than 0, at most \(max))")
            }
            return d
        }
        if let d = try duration("cacheDuration", max: .seconds(86_400)) { config.cacheDuration = d }
        if let d = try duration("negativeCacheDuration", max: .seconds(3600)) { config.negativeCacheDuration = d }
        if let d = try duration("timeout", max: .seconds(30)) { config.timeout = d }
        config.introspectJWTs = try f["introspectJWTs"]?.bool() ?? false
        if let a = f["signingAlgorithm"], !a.isNull {
            let alg = try a.string()
            let allowed = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
            guard allowed.contains(alg) else { throw a.error("signingAlgorithm \"\(alg)\" is not one of \(allowed.joined(separator: ", "))") }
            guard config.clientAuthMethod == .privateKeyJWT else { throw a.error("signingAlgorithm applies to clientAuthMethod private_key_jwt only") }
            config.signingAlgorithm = alg
        }
        return config
    }
}

/// Which introspection endpoints a policy may name: `https`, or `http` to a loopback address (a sidecar IdP
/// or a test); never with userinfo, query or fragment (the token goes in the POST body only).
enum IntrospectionEndpointRule {
    static func problem(_ url: String) -> String? {
        let lower = url.lowercased()
        let rest: Substring
        if lower.hasPrefix("https://") {
            rest = Substring(url.dropFirst(8))
        } else if lower.hasPrefix("http://") {
            rest = Substring(url.dropFirst(7))
            let host = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
            let name = host.hasPrefix("[") ? String(host.prefix { $0 != "]" }.dropFirst()) : String(host.prefix { $0 != ":" })
            guard name == "localhost" || name.hasPrefix("127.") || name == "::1" else {
                return "the introspection endpoint must be https (http only to a loopback address): the client secret and tokens go to it"
            }
        } else {
            return "the introspection endpoint must be an https URL"
        }
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if authority.isEmpty { return "the introspection endpoint has no host" }
        if authority.contains("@") { return "the introspection endpoint must not carry credentials (use clientSecretFile)" }
        if rest.contains("#") { return "the introspection endpoint must not have a fragment" }
        if rest.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F }) { return "the introspection endpoint must not contain spaces or control characters" }
        return nil
    }
}

/// RFC 9110 §5.6.2 `tchar`: the bytes of a header field name.
let httpTokenChars: Set<UInt8> = Set(Array("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8))
