import WardenJSON
import WardenYAML

/// What one YAML document decoded to.
enum DecodedResource {
    case requestAuthentication(RequestAuthentication)
    case authorizationPolicy(AuthorizationPolicy)
    case tokenPolicy(TokenPolicy)
    case jwtAuthn(JwtAuthnFilter)
    case skipped(PolicyNote)
}

/// Turns YAML documents into validated resources, enforcing Istio's validation rules.
enum PolicyDecoder {
    static let supportedAPIVersions: Set<String> = ["security.istio.io/v1", "security.istio.io/v1beta1"]
    static let dryRunAnnotation = "istio.io/dry-run"

    /// Decodes one document root. `List` kinds (kubectl output) are expanded.
    static func decode(_ root: YAMLNode, file: String) throws(PolicyLoadError) -> [DecodedResource] {
        let doc = YAMLCursor(node: root, path: "", file: file)
        let top = try doc.fields()
        let kind = try top["kind"]?.string() ?? ""
        let apiVersion = try top["apiVersion"]?.string() ?? ""
        let location = "\(file):\(root.mark.line)"
        if kind == "List" || (kind.hasSuffix("List") && top["items"] != nil) {
            var out: [DecodedResource] = []
            for item in try top["items"]?.list() ?? [] {
                for r in try decode(item.node, file: file) { out.append(r) }
            }
            return out
        }
        if kind.isEmpty && JwtAuthnDecoder.recognizes(top) {
            return try JwtAuthnDecoder.decode(doc, top: top, file: file, line: root.mark.line)
        }
        let wardenKind = kind == TokenPolicy.kind && wardenAPIVersions.contains(apiVersion)
        let gatewayKind = kind == "SecurityPolicy" && apiVersion == SecurityPolicyDecoder.apiVersion
        guard kind == "RequestAuthentication" || kind == "AuthorizationPolicy" || wardenKind || gatewayKind else {
            if let refusal = DocumentKind.refusal(kind: kind, apiVersion: apiVersion, keys: Array(top.keys)) { throw doc.error(refusal) }
            let what = kind.isEmpty ? "a document without kind" : "kind \(kind)"
            return [.skipped(PolicyNote(level: .warning, location: location, message: "skipped \(what) (\(apiVersion.isEmpty ? "no apiVersion" : apiVersion))"))]
        }
        guard wardenKind || gatewayKind || supportedAPIVersions.contains(apiVersion) else {
            // An apiVersion we do not read (none, another group, an unknown version) is a policy we would silently
            // drop (fail open), so it is refused — by kind name, whatever the group.
            guard DocumentKind.group(of: apiVersion) == "security.istio.io" else {
                throw doc.error(DocumentKind.securityKindRefusal(kind: kind, apiVersion: apiVersion) ?? "unsupported apiVersion \(apiVersion)")
            }
            throw doc.error("\(kind) with apiVersion \"\(apiVersion)\" is not supported (expected security.istio.io/v1 or v1beta1); "
                            + "refusing to load rather than serve without it")
        }
        _ = try doc.fields(allowed: ["apiVersion", "kind", "metadata", "spec", "status"])
        guard let metadata = top["metadata"] else { throw doc.error("\(kind) has no metadata") }
        let meta = try metadata.fields()
        guard let nameField = meta["name"] else { throw metadata.error("metadata.name is required") }
        let name = try nameField.string()
        if name.isEmpty { throw nameField.error("must not be empty") }
        let namespace = try meta["namespace"]?.string() ?? "default"
        let annotations = try meta["annotations"]?.stringMap() ?? [:]
        let ref = PolicyRef(namespace: namespace.isEmpty ? "default" : namespace, name: name)
        let annotationsAt = meta["annotations"] ?? metadata
        for (annotation, message) in IstioValidation.forbiddenAnnotations where annotations[annotation] != nil {
            throw annotationsAt.error(message)
        }
        let origin = ResourceOrigin(file: file, line: root.mark.line)
        let spec = top["spec"] ?? YAMLCursor(node: YAMLNode(.scalar(YAMLScalar(value: "")), mark: root.mark), path: "spec", file: file)

        // The value as Go's strconv.ParseBool reads it (validation.go L209–L218).
        var dryRun = false
        if let value = annotations[dryRunAnnotation] {
            guard let parsed = IstioValidation.parseBool(value) else {
                throw annotationsAt.error("\(ref) has annotation \(dryRunAnnotation) with invalid value (\(value)): strconv.ParseBool: parsing \"\(value)\": invalid syntax")
            }
            dryRun = parsed
        }
        if gatewayKind {
            if dryRun { throw (meta["annotations"] ?? metadata).error("annotation \(dryRunAnnotation) is not supported on a SecurityPolicy") }
            return try SecurityPolicyDecoder.decode(spec, ref: ref, origin: origin)
        }
        if kind == "RequestAuthentication" {
            // Deliberately beyond Istio, whose validation refuses `istio.io/dry-run` on a RequestAuthentication
            // (validation.go L184–L187): Warden accepts it there (and on its TokenPolicy) to roll out an issuer,
            // audience or stricter token rule without enforcing it (issue 19; README "Deliberately differs";
            // `warden validate` warns that istiod refuses the file: ra-dry-run-not-istio).
            return [.requestAuthentication(try decodeRequestAuthentication(spec, ref: ref, origin: origin, dryRun: dryRun))]
        }
        if wardenKind {
            return [.tokenPolicy(try decodeTokenPolicy(spec, ref: ref, origin: origin, dryRun: dryRun))]
        }
        let policy = try decodeAuthorizationPolicy(spec, ref: ref, origin: origin, dryRun: dryRun)
        // validation.go L209–L218: on an AuthorizationPolicy, ALLOW and DENY only.
        if annotations[dryRunAnnotation] != nil, policy.action != .allow && policy.action != .deny {
            throw annotationsAt.error("the annotation \(dryRunAnnotation) currently only supports action ALLOW/DENY, found action \(policy.action.rawValue) in \(ref)")
        }
        return [.authorizationPolicy(policy)]
    }

    // MARK: - Scope fields

    static func decodeScope(_ f: [String: YAMLCursor], spec: YAMLCursor) throws(PolicyLoadError) -> (WorkloadSelector?, [TargetRef]) {
        var selector: WorkloadSelector?
        if let s = f["selector"], !s.isNull {
            let sf = try s.fields(allowed: ["matchLabels"])
            let labels = try sf["matchLabels"]?.stringMap() ?? [:]
            if labels.count > 4096, let m = sf["matchLabels"] { throw m.error("at most 4096 labels are allowed (the CRD's maxProperties)") }
            for (key, field) in try sf["matchLabels"]?.fields() ?? [:] {
                if let problem = IstioValidation.selectorLabelProblem(key: key, value: labels[key] ?? "") { throw field.error(problem) }
            }
            selector = WorkloadSelector(matchLabels: labels)
        }
        var refs: [TargetRef] = []
        let single = f["targetRef"].flatMap { $0.isNull ? nil : $0 }
        if let single { refs.append(try decodeTargetRef(single)) }
        let list = try f["targetRefs"]?.list() ?? []
        if list.count > 16, let l = f["targetRefs"] { throw l.error("at most 16 targetRefs are allowed (the CRD's maxItems)") }
        for item in list { refs.append(try decodeTargetRef(item)) }
        // validateOneOfSelectorType (validation.go L1381–L1400): selector, targetRef, non-empty targetRefs.
        if [selector != nil, single != nil, !list.isEmpty].filter({ $0 }).count > 1 {
            throw (f["targetRefs"] ?? f["targetRef"] ?? spec).error("only one of targetRefs or workloadSelector can be set")
        }
        return (selector, refs)
    }

    static func decodeTargetRef(_ c: YAMLCursor) throws(PolicyLoadError) -> TargetRef {
        let f = try c.fields(allowed: ["group", "kind", "name", "namespace"])
        guard let kind = try f["kind"]?.string(), !kind.isEmpty else { throw c.error("kind is required") }
        let name = try f["name"]?.string() ?? ""
        let ns = try f["namespace"]?.string() ?? ""
        let group = try f["group"]?.string() ?? ""
        if let problem = IstioValidation.targetRefProblem(group: group, kind: kind, name: name, namespace: ns) {
            let at = problem.hasPrefix("targetRef namespace") ? f["namespace"] : problem.hasPrefix("targetRef group") ? f["group"] : f["kind"]
            throw (at ?? c).error(problem)
        }
        return TargetRef(group: group, kind: kind, name: name)
    }

    // MARK: - RequestAuthentication

    static func decodeRequestAuthentication(_ spec: YAMLCursor, ref: PolicyRef, origin: ResourceOrigin, dryRun: Bool = false) throws(PolicyLoadError) -> RequestAuthentication {
        let f = try spec.fields(allowed: ["selector", "targetRef", "targetRefs", "jwtRules"])
        let (selector, refs) = try decodeScope(f, spec: spec)
        var rules: [JWTRule] = []
        for item in try f["jwtRules"]?.list() ?? [] { rules.append(try decodeJWTRule(item, source: ref)) }
        if rules.count > 4096 { throw f["jwtRules"]!.error("at most 4096 rules are allowed") }
        return RequestAuthentication(ref: ref, origin: origin, selector: selector, targetRefs: refs, jwtRules: rules, dryRun: dryRun)
    }

    static func decodeJWTRule(_ c: YAMLCursor, source: PolicyRef) throws(PolicyLoadError) -> JWTRule {
        let f = try c.fields(allowed: ["issuer", "audiences", "jwksUri", "jwks", "fromHeaders", "fromParams", "fromCookies",
                                       "outputPayloadToHeader", "forwardOriginalToken", "outputClaimToHeaders", "timeout",
                                       "spaceDelimitedClaims", "presence"])
        if c.isNull { throw c.error("a jwtRule must be an object") }
        let issuer = try optionalString(f["issuer"])
        let jwksURI = try optionalString(f["jwksUri"])
        // validateJwtRule (validation.go L1649–L1651): an issuer, or a jwksUri whose keys then accept any issuer.
        if issuer.isEmpty && jwksURI.isEmpty { throw (f["issuer"] ?? c).error("issuer or jwksUri must be non-empty string") }
        var rule = JWTRule(issuer: issuer, source: source)
        rule.audiences = try nonEmptyList(f["audiences"], "audience must be non-empty string")
        if let u = f["jwksUri"], !u.isNull {
            if let problem = IstioValidation.jwksURIProblem(jwksURI) { throw u.error(problem) }
            rule.jwksUri = jwksURI
        }
        if let j = f["jwks"], !j.isNull {
            let jwks = try j.string()
            if !jwks.isEmpty {
                // The CRD's CEL rule (crd L18345–L18348), then jwk.Parse (validation.go L1658–L1664).
                if rule.jwksUri != nil { throw j.error("only one of jwks or jwksUri can be set") }
                if let problem = IstioValidation.jwksProblem(jwks) { throw j.error(problem) }
                rule.jwks = jwks
            }
        }
        for h in try f["fromHeaders"]?.list() ?? [] {
            let hf = try h.fields(allowed: ["name", "prefix"])
            guard let name = try hf["name"]?.string(), !name.isEmpty else { throw (hf["name"] ?? h).error("location header name must be non-empty string") }
            try validateHeaderName(name, hf["name"]!)
            rule.fromHeaders.append(JWTHeader(name: name, prefix: try hf["prefix"]?.string() ?? ""))
        }
        rule.fromParams = try nonEmptyList(f["fromParams"], "location query must be non-empty string")
        rule.fromCookies = try nonEmptyList(f["fromCookies"], "cookie name must be non-empty string")
        if let p = f["outputPayloadToHeader"], !p.isNull {
            let header = try p.string()
            if !header.isEmpty {
                try validateHeaderName(header, p)
                rule.outputPayloadToHeader = header
            }
        }
        if let fw = f["forwardOriginalToken"], !fw.isNull { rule.forwardOriginalToken = try fw.bool() }
        for item in try f["outputClaimToHeaders"]?.list() ?? [] {
            if item.isNull { throw item.error("outputClaimToHeaders must not be null") }
            let hf = try item.fields(allowed: ["header", "claim"])
            let header = try hf["header"]?.string() ?? "", claim = try hf["claim"]?.string() ?? ""
            // validation.go L1688–L1699: both set; the header name matches ^[-_A-Za-z0-9]+$.
            if header.isEmpty || claim.isEmpty { throw item.error("outputClaimToHeaders header and claim value must be non-empty string") }
            if let problem = IstioValidation.strictHeaderNameProblem(header) { throw hf["header"]!.error(problem) }
            rule.outputClaimToHeaders.append(ClaimToHeader(header: header, claim: claim))
        }
        if let t = f["timeout"], !t.isNull {
            let text = try t.string()
            guard let d = parseGoDuration(text) else { throw t.error("invalid duration \"\(text)\": must be a valid duration greater than 1ms (e.g. \"5s\", \"500ms\", \"1m\")") }
            if let problem = IstioValidation.timeoutProblem(d) { throw t.error(problem) }
            rule.timeout = d
        }
        rule.spaceDelimitedClaims = try f["spaceDelimitedClaims"]?.stringList() ?? []
        if rule.spaceDelimitedClaims.count > 64 { throw f["spaceDelimitedClaims"]!.error("at most 64 claims are allowed (the CRD's maxItems)") }
        if let p = f["presence"], !p.isNull {
            // The CRD's enum (crd L18304–L18311); the API's JWTRule.presence (v1.31).
            let text = try p.string()
            guard let presence = JWTPresence(rawValue: text) else {
                throw p.error("Unsupported value: \"\(text)\": supported values: \"OPTIONAL\", \"REQUIRED\"")
            }
            rule.presence = presence
        }
        return rule
    }

    /// A string field's value; "" when absent or null.
    static func optionalString(_ c: YAMLCursor?) throws(PolicyLoadError) -> String {
        guard let c, !c.isNull else { return "" }
        return try c.string()
    }

    /// A list of strings where an empty one is refused with Istio's message for that field.
    static func nonEmptyList(_ c: YAMLCursor?, _ message: String) throws(PolicyLoadError) -> [String] {
        guard let c else { return [] }
        let values = try c.stringList(allowEmpty: true)
        if let i = values.firstIndex(where: \.isEmpty) {
            throw (c.node.sequence.map { YAMLCursor(node: $0[i], path: "\(c.path)[\(i)]", file: c.file) } ?? c).error(message)
        }
        return values
    }

    static func validateHeaderName(_ name: String, _ c: YAMLCursor) throws(PolicyLoadError) {
        let token = "!#$%&'*+-.^_`|~"
        let ok = !name.isEmpty && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || token.unicodeScalars.contains($0)) }
        if !ok { throw c.error("invalid header name \"\(name)\"") }
    }

    /// Go's `time.ParseDuration` subset: `[0-9.]+(ns|us|µs|ms|s|m|h)` repeated, e.g. `1m30s`.
    static func parseGoDuration(_ text: String) -> Duration? {
        var s = Substring(text)
        guard !s.isEmpty else { return nil }
        if s == "0" { return .zero }
        var total = Duration.zero
        while !s.isEmpty {
            let num = s.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !num.isEmpty, let value = Double(num) else { return nil }
            s = s.dropFirst(num.count)
            let unit = s.prefix { !($0.isASCII && ($0.isNumber || $0 == ".")) }
            s = s.dropFirst(unit.count)
            let nanos: Double
            switch unit {
            case "ns": nanos = 1
            case "us", "µs": nanos = 1e3
            case "ms": nanos = 1e6
            case "s": nanos = 1e9
            case "m": nanos = 60e9
            case "h": nanos = 3600e9
            default: return nil
            }
            let n = value * nanos
            guard n.isFinite, n < 1e18 else { return nil }
            total += .nanoseconds(Int64(n))
        }
        return total
    }

    // MARK: - AuthorizationPolicy

    static func decodeAuthorizationPolicy(_ spec: YAMLCursor, ref: PolicyRef, origin: ResourceOrigin, dryRun: Bool) throws(PolicyLoadError) -> AuthorizationPolicy {
        let f = try spec.fields(allowed: ["selector", "targetRef", "targetRefs", "rules", "action", "provider"])
        let (selector, refs) = try decodeScope(f, spec: spec)
        var action = PolicyAction.allow
        if let a = f["action"], !a.isNull {
            let text = try a.string()
            guard let parsed = PolicyAction(rawValue: text) else { throw a.error("unknown action \"\(text)\" (expected ALLOW, DENY, AUDIT or CUSTOM)") }
            action = parsed
        }
        var provider: String?
        if let p = f["provider"], !p.isNull {
            let pf = try p.fields(allowed: ["name"])
            provider = try pf["name"]?.string()
            if action != .custom { throw p.error("provider must only be set with action CUSTOM") }
        }
        if action == .custom && (provider ?? "").isEmpty {
            throw (f["action"] ?? spec).error("action CUSTOM requires provider.name")
        }
        var rules: [AuthorizationRule] = []
        let rulesField = f["rules"]
        if let r = rulesField, try r.list().count > 512 { throw r.error("at most 512 rules are allowed (the CRD's maxItems)") }
        for item in try rulesField?.list() ?? [] {
            rules.append(try decodeRule(item, policyNamespace: ref.namespace, custom: action == .custom))
        }
        if action == .deny && rules.isEmpty {
            throw (rulesField ?? f["action"] ?? spec).error("a DENY policy must have at least one rule (use rules: [{}] to deny everything)")
        }
        if action == .custom && rules.isEmpty {
            throw (rulesField ?? f["action"] ?? spec).error("a CUSTOM policy must have at least one rule (use rules: [{}] to send every request)")
        }
        return AuthorizationPolicy(ref: ref, origin: origin, selector: selector, targetRefs: refs, action: action,
                                   provider: provider, rules: rules, dryRun: dryRun)
    }

    /// Source fields and `when` keys Istio rejects in a CUSTOM policy: its ext_authz filter runs before
    /// authentication and sees no peer or request identity (`ValidateAuthorizationPolicy`).
    static let customUnsupportedSourceFields = ["namespaces", "notNamespaces", "serviceAccounts", "notServiceAccounts",
                                                "trustDomains", "notTrustDomains",
                                                "principals", "notPrincipals", "requestPrincipals", "notRequestPrincipals"]

    static func customSupports(_ key: ConditionKey) -> Bool {
        switch key {
        case .sourceNamespace, .sourceServiceAccount, .sourceTrustDomain, .sourcePrincipal,
             .requestPrincipal, .requestAudiences, .requestPresenter, .requestClaim, .gatewayClaim, .gatewayScope, .gatewayProvider: return false
        default: return true
        }
    }

    static func decodeRule(_ c: YAMLCursor, policyNamespace: String, custom: Bool = false) throws(PolicyLoadError) -> AuthorizationRule {
        let f = try c.fields(allowed: ["from", "to", "when"])
        var rule = AuthorizationRule()
        if let from = f["from"], try from.list().count > 512 { throw from.error("at most 512 sources are allowed (the CRD's maxItems)") }
        // validation.go L1478–L1480, L1531–L1533: an explicit empty list is refused (nil is not).
        for key in ["from", "to"] where f[key]?.node.sequence?.isEmpty == true {
            throw f[key]!.error("`\(key)` must not be empty")
        }
        for item in try f["from"]?.list() ?? [] {
            let ff = try item.fields(allowed: ["source"])
            guard let src = ff["source"], !src.isNull else { throw item.error("`from.source` must not be nil") }
            if custom, let sf = try? src.fields() {
                for name in customUnsupportedSourceFields {
                    if let field = sf[name] { throw field.error("\(name) is not supported with action CUSTOM") }
                }
            }
            rule.from.append(try decodeSource(src, policyNamespace: policyNamespace))
        }
        for item in try f["to"]?.list() ?? [] {
            let tf = try item.fields(allowed: ["operation"])
            guard let op = tf["operation"], !op.isNull else { throw item.error("`to.operation` must not be nil") }
            rule.to.append(try decodeOperation(op))
        }
        for item in try f["when"]?.list() ?? [] { rule.when.append(try decodeCondition(item, custom: custom, policyNamespace: policyNamespace)) }
        return rule
    }

    static func patterns(_ c: YAMLCursor?) throws(PolicyLoadError) -> [StringPattern] {
        try (c?.stringList() ?? []).map(StringPattern.init)
    }

    static func ipBlocks(_ c: YAMLCursor?) throws(PolicyLoadError) -> [IPBlock] {
        guard let c else { return [] }
        var out: [IPBlock] = []
        for (i, text) in try c.stringList().enumerated() {
            guard let block = IPBlock(text) else {
                let item = c.node.sequence.map { YAMLCursor(node: $0[i], path: "\(c.path)[\(i)]", file: c.file) } ?? c
                throw item.error(text.contains("/") ? "bad CIDR range (\(text))" : "bad IP address (\(text))")
            }
            out.append(block)
        }
        return out
    }

    static func ports(_ c: YAMLCursor?) throws(PolicyLoadError) -> [UInt32] {
        guard let c else { return [] }
        var out: [UInt32] = []
        for (i, text) in try c.stringList().enumerated() {
            guard text.allSatisfy({ $0.isASCII && $0.isNumber }), let p = UInt32(text), p <= 65535 else {
                let item = c.node.sequence.map { YAMLCursor(node: $0[i], path: "\(c.path)[\(i)]", file: c.file) } ?? c
                throw item.error("bad port (\(text)): must be a number in [0, 65535]")
            }
            out.append(p)
        }
        return out
    }

    static func decodeSource(_ c: YAMLCursor, policyNamespace: String) throws(PolicyLoadError) -> Source {
        let f = try c.fields(allowed: ["principals", "notPrincipals", "requestPrincipals", "notRequestPrincipals", "namespaces",
                                       "notNamespaces", "ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks",
                                       "serviceAccounts", "notServiceAccounts", "trustDomains", "notTrustDomains"])
        var s = Source()
        s.principals = try patterns(f["principals"]).map(stripSpiffe)
        s.notPrincipals = try patterns(f["notPrincipals"]).map(stripSpiffe)
        s.requestPrincipals = try (f["requestPrincipals"]?.stringList() ?? []).map(RequestPrincipalPattern.init)
        s.notRequestPrincipals = try (f["notRequestPrincipals"]?.stringList() ?? []).map(RequestPrincipalPattern.init)
        s.namespaces = try patterns(f["namespaces"])
        s.notNamespaces = try patterns(f["notNamespaces"])
        s.ipBlocks = try ipBlocks(f["ipBlocks"])
        s.notIpBlocks = try ipBlocks(f["notIpBlocks"])
        s.remoteIpBlocks = try ipBlocks(f["remoteIpBlocks"])
        s.notRemoteIpBlocks = try ipBlocks(f["notRemoteIpBlocks"])
        for (key, label) in [("trustDomains", "TrustDomains"), ("notTrustDomains", "NotTrustDomains")] {
            guard let field = f[key] else { continue }
            let values = try field.stringList()
            if let problem = IstioValidation.trustDomainProblem(label, values) { throw field.error(problem) }
            if key == "trustDomains" { s.trustDomains = values.map(StringPattern.init) } else { s.notTrustDomains = values.map(StringPattern.init) }
        }
        for (key, label) in [("serviceAccounts", "ServiceAccounts"), ("notServiceAccounts", "NotServiceAccounts")] {
            guard let field = f[key] else { continue }
            let values = try field.stringList(allowEmpty: true)
            if let problem = IstioValidation.serviceAccountProblem(label, values) { throw field.error(problem) }
            let expanded = values.map { IstioValidation.qualifiedServiceAccount($0, policyNamespace: policyNamespace) }
            if key == "serviceAccounts" { s.serviceAccounts = expanded } else { s.notServiceAccounts = expanded }
        }
        let hasSA = !s.serviceAccounts.isEmpty || !s.notServiceAccounts.isEmpty
        let hasPN = !s.principals.isEmpty || !s.notPrincipals.isEmpty || !s.namespaces.isEmpty || !s.notNamespaces.isEmpty
        if hasSA && hasPN {
            throw (f["serviceAccounts"] ?? f["notServiceAccounts"] ?? c).error("cannot set serviceAccounts with namespaces or principals")
        }
        if s == Source() { throw c.error("`from.source` must not be empty") }
        return s
    }

    /// Istio writes principals without `spiffe://`; accept the prefix too (it adds nothing).
    static func stripSpiffe(_ p: StringPattern) -> StringPattern {
        switch p {
        case .exact(let s) where s.bytesHavePrefix("spiffe://"): return .exact(String(decoding: s.utf8.dropFirst(9), as: UTF8.self))
        case .prefix(let s) where s.bytesHavePrefix("spiffe://"): return .prefix(String(decoding: s.utf8.dropFirst(9), as: UTF8.self))
        default: return p
        }
    }

    static func decodeOperation(_ c: YAMLCursor) throws(PolicyLoadError) -> Operation {
        let f = try c.fields(allowed: ["hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths"])
        var o = Operation()
        o.hosts = try patterns(f["hosts"])
        o.notHosts = try patterns(f["notHosts"])
        o.ports = try ports(f["ports"])
        o.notPorts = try ports(f["notPorts"])
        o.methods = try patterns(f["methods"])
        o.notMethods = try patterns(f["notMethods"])
        o.paths = try paths(f["paths"])
        o.notPaths = try paths(f["notPaths"])
        if o == Operation() { throw c.error("`to.operation` must not be empty") }
        return o
    }

    static func paths(_ c: YAMLCursor?) throws(PolicyLoadError) -> [PathPattern] {
        guard let c else { return [] }
        var out: [PathPattern] = []
        for (i, text) in try c.stringList().enumerated() {
            if let problem = PathPattern.templateProblem(text) {
                let item = c.node.sequence.map { YAMLCursor(node: $0[i], path: "\(c.path)[\(i)]", file: c.file) } ?? c
                throw item.error("invalid or unsupported path template \"\(text)\" (\(problem))")
            }
            out.append(PathPattern(text))
        }
        return out
    }

    /// - Parameter custom: the condition is in a CUSTOM policy, which rejects identity keys.
    static func decodeCondition(_ c: YAMLCursor, custom: Bool = false, policyNamespace: String = "default") throws(PolicyLoadError) -> Condition {
        let f = try c.fields(allowed: ["key", "values", "notValues"])
        guard let keyField = f["key"] else { throw c.error("key must not be empty") }
        let keyText = try keyField.string()
        let key: ConditionKey
        do { key = try parseConditionKey(keyText) } catch { throw keyField.error(error.message) }
        if custom && !customSupports(key) { throw keyField.error("\(key) is not supported with action CUSTOM") }
        let values = try f["values"]?.stringList() ?? []
        let notValues = try f["notValues"]?.stringList() ?? []
        if values.isEmpty && notValues.isEmpty { throw c.error("at least one of values or notValues must be set for key \(keyText)") }
        // ValidateAttribute (security.go L243–L247): service accounts as CheckServiceAccount, trust domains
        // as CheckWildcardValues.
        for (list, field, name) in [(values, f["values"], "value"), (notValues, f["notValues"], "notValue")] {
            let problem: String?
            switch key {
            case .sourceServiceAccount: problem = IstioValidation.serviceAccountProblem(keyText, list)
            case .sourceTrustDomain: problem = IstioValidation.wildcardProblem(keyText, list)
            default: problem = nil
            }
            if let problem { throw (field ?? c).error("invalid `\(name)` for `key` \(keyText): \(problem)") }
        }
        func compile(_ list: [String], _ field: YAMLCursor?) throws(PolicyLoadError) -> [ConditionValue] {
            var out: [ConditionValue] = []
            for (i, v) in list.enumerated() {
                let item = field?.node.sequence.map { YAMLCursor(node: $0[i], path: "\(field!.path)[\(i)]", file: c.file) } ?? c
                switch key {
                case .sourceIP, .remoteIP, .destinationIP:
                    guard let b = IPBlock(v) else { throw item.error(v.contains("/") ? "bad CIDR range (\(v))" : "bad IP address (\(v))") }
                    out.append(.ip(b))
                case .destinationPort:
                    guard v.allSatisfy({ $0.isASCII && $0.isNumber }), let p = UInt32(v), p <= 65535 else { throw item.error("bad port (\(v)): must be a number in [0, 65535]") }
                    out.append(.port(p))
                case .sourcePrincipal:
                    out.append(.string(stripSpiffe(StringPattern(v))))
                case .sourceServiceAccount:
                    out.append(.string(.exact(IstioValidation.qualifiedServiceAccount(v, policyNamespace: policyNamespace))))
                case .requestPrincipal:
                    out.append(.requestPrincipal(RequestPrincipalPattern(v)))
                case .envoyFilterMetadata:
                    out.append(.metadata(MetadataValuePattern(v)))
                default:
                    out.append(.string(StringPattern(v)))
                }
            }
            return out
        }
        return Condition(key: key, values: try compile(values, f["values"]), notValues: try compile(notValues, f["notValues"]))
    }

    struct KeyError: Error { let message: String }

    /// Istio's attribute list (`pkg/config/security/security.go`).
    static func parseConditionKey(_ key: String) throws(KeyError) -> ConditionKey {
        switch key {
        case "source.ip": return .sourceIP
        case "remote.ip": return .remoteIP
        case "destination.ip": return .destinationIP
        case "source.namespace": return .sourceNamespace
        case "source.principal": return .sourcePrincipal
        case "source.serviceAccount": return .sourceServiceAccount
        case "source.trustDomain": return .sourceTrustDomain
        case "request.auth.principal": return .requestPrincipal
        case "request.auth.audiences": return .requestAudiences
        case "request.auth.presenter": return .requestPresenter
        case "destination.port": return .destinationPort
        case "connection.sni": return .connectionSNI
        case "destination.namespace": throw KeyError(message: "attribute \(key) is replaced by the metadata.namespace")
        case "destination.name", "destination.user": throw KeyError(message: "deprecated attribute \(key): only supported in v1alpha1")
        default: break
        }
        if key.hasPrefix("destination.labels") { throw KeyError(message: "attribute \(key) is replaced by the workload selector") }
        if key.hasPrefix("request.experimental.inline.headers") {
            guard let names = bracketed(key, after: "request.experimental.inline.headers"), names.count == 1 else {
                throw KeyError(message: "bad key (\(key)): should have format a[b]")
            }
            return .requestInlineHeader(names[0].lowercased())
        }
        if key.hasPrefix("request.headers") {
            guard let names = bracketed(key, after: "request.headers"), names.count == 1 else {
                throw KeyError(message: "bad key (\(key)): should have format a[b]")
            }
            return .requestHeader(names[0].lowercased())
        }
        if key.hasPrefix("request.auth.claims") {
            guard let names = bracketed(key, after: "request.auth.claims") else {
                throw KeyError(message: "bad key (\(key)): should have format request.auth.claims[name] or request.auth.claims[a][b]")
            }
            return .requestClaim(names)
        }
        if key.utf8.starts(with: FilterMetadataKey.prefix.utf8) {
            guard let parsed = FilterMetadataKey(key: key) else { throw KeyError(message: "bad key (\(key)): should have format a[b]") }
            return .envoyFilterMetadata(parsed)
        }
        throw KeyError(message: "unknown attribute: \(key)")
    }

    /// `prefix[a][b]` → `["a", "b"]`; nil when malformed or a name is empty.
    static func bracketed(_ key: String, after prefix: String) -> [String]? {
        var rest = Substring(key.dropFirst(prefix.count))
        var names: [String] = []
        while !rest.isEmpty {
            guard rest.first == "[", let close = rest.firstIndex(of: "]") else { return nil }
            let name = rest[rest.index(after: rest.startIndex)..<close]
            if name.isEmpty || name.contains("[") { return nil }
            names.append(String(name))
            rest = rest[rest.index(after: close)...]
        }
        return names.isEmpty ? nil : names
    }
}

