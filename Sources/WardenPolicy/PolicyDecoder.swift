import WardenJSON
import WardenYAML

/// What one YAML document decoded to.
enum DecodedResource {
    case requestAuthentication(RequestAuthentication)
    case authorizationPolicy(AuthorizationPolicy)
    case tokenPolicy(TokenPolicy)
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
        let wardenKind = kind == TokenPolicy.kind && wardenAPIVersions.contains(apiVersion)
        let gatewayKind = kind == "SecurityPolicy" && apiVersion == SecurityPolicyDecoder.apiVersion
        guard kind == "RequestAuthentication" || kind == "AuthorizationPolicy" || wardenKind || gatewayKind else {
            if let refusal = DocumentKind.refusal(kind: kind, apiVersion: apiVersion, keys: Array(top.keys)) { throw doc.error(refusal) }
            let what = kind.isEmpty ? "a document without kind" : "kind \(kind)"
            return [.skipped(PolicyNote(level: .warning, location: location, message: "skipped \(what) (\(apiVersion.isEmpty ? "no apiVersion" : apiVersion))"))]
        }
        guard wardenKind || gatewayKind || supportedAPIVersions.contains(apiVersion) else {
            // Another group's kind of the same name is not ours to read; an Istio version we do not know is
            // a policy we would silently drop (fail open), so it is refused.
            guard DocumentKind.group(of: apiVersion) == "security.istio.io" else {
                return [.skipped(PolicyNote(level: .warning, location: location,
                                            message: "skipped kind \(kind) (\(apiVersion.isEmpty ? "no apiVersion" : apiVersion))"))]
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
        let origin = ResourceOrigin(file: file, line: root.mark.line)
        let spec = top["spec"] ?? YAMLCursor(node: YAMLNode(.scalar(YAMLScalar(value: "")), mark: root.mark), path: "spec", file: file)

        var dryRun = false
        if let value = annotations[dryRunAnnotation] {
            switch value.lowercased() {
            case "true", "1", "t": dryRun = true
            case "false", "0", "f": dryRun = false
            default:
                throw (meta["annotations"] ?? metadata).error("annotation \(dryRunAnnotation) must be \"true\" or \"false\", found \"\(value)\"")
            }
        }
        if gatewayKind {
            if dryRun { throw (meta["annotations"] ?? metadata).error("annotation \(dryRunAnnotation) is not supported on a SecurityPolicy") }
            return try SecurityPolicyDecoder.decode(spec, ref: ref, origin: origin)
        }
        if kind == "RequestAuthentication" {
            // Deliberately beyond Istio, whose validation refuses `istio.io/dry-run` on a RequestAuthentication:
            // Warden accepts it there (and on its TokenPolicy) to roll out an issuer, audience or stricter
            // token rule without enforcing it (README "Deliberately differs"; PolicyLoadingTests pin it).
            return [.requestAuthentication(try decodeRequestAuthentication(spec, ref: ref, origin: origin, dryRun: dryRun))]
        }
        if wardenKind {
            return [.tokenPolicy(try decodeTokenPolicy(spec, ref: ref, origin: origin, dryRun: dryRun))]
        }
        return [.authorizationPolicy(try decodeAuthorizationPolicy(spec, ref: ref, origin: origin, dryRun: dryRun))]
    }

    // MARK: - Scope fields

    static func decodeScope(_ f: [String: YAMLCursor], spec: YAMLCursor) throws(PolicyLoadError) -> (WorkloadSelector?, [TargetRef]) {
        var selector: WorkloadSelector?
        if let s = f["selector"], !s.isNull {
            let sf = try s.fields(allowed: ["matchLabels"])
            selector = WorkloadSelector(matchLabels: try sf["matchLabels"]?.stringMap() ?? [:])
        }
        var refs: [TargetRef] = []
        if let single = f["targetRef"], !single.isNull { refs.append(try decodeTargetRef(single)) }
        for item in try f["targetRefs"]?.list() ?? [] { refs.append(try decodeTargetRef(item)) }
        if selector != nil && !refs.isEmpty {
            throw (f["targetRefs"] ?? f["targetRef"] ?? spec).error("only one of selector or targetRefs can be set")
        }
        return (selector, refs)
    }

    static func decodeTargetRef(_ c: YAMLCursor) throws(PolicyLoadError) -> TargetRef {
        let f = try c.fields(allowed: ["group", "kind", "name", "namespace"])
        guard let kind = try f["kind"]?.string(), !kind.isEmpty else { throw c.error("kind is required") }
        guard let name = try f["name"]?.string(), !name.isEmpty else { throw c.error("name is required") }
        let ns = try f["namespace"]?.string()
        return TargetRef(group: try f["group"]?.string() ?? "", kind: kind, name: name, namespace: ns?.isEmpty == true ? nil : ns)
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
                                       "spaceDelimitedClaims"])
        guard let issuerField = f["issuer"] else { throw c.error("issuer must be set") }
        let issuer = try issuerField.string()
        if issuer.isEmpty { throw issuerField.error("issuer must be set") }
        var rule = JWTRule(issuer: issuer, source: source)
        rule.audiences = try f["audiences"]?.stringList() ?? []
        if let u = f["jwksUri"], !u.isNull {
            let uri = try u.string()
            try validateJWKSURI(uri, u)
            rule.jwksUri = uri
        }
        if let j = f["jwks"], !j.isNull {
            let jwks = try j.string()
            if jwks.isEmpty { throw j.error("must not be empty") }
            rule.jwks = jwks
        }
        for h in try f["fromHeaders"]?.list() ?? [] {
            let hf = try h.fields(allowed: ["name", "prefix"])
            guard let name = try hf["name"]?.string(), !name.isEmpty else { throw h.error("location header name must be set") }
            try validateHeaderName(name, hf["name"]!)
            rule.fromHeaders.append(JWTHeader(name: name, prefix: try hf["prefix"]?.string() ?? ""))
        }
        rule.fromParams = try f["fromParams"]?.stringList() ?? []
        rule.fromCookies = try f["fromCookies"]?.stringList() ?? []
        if let p = f["outputPayloadToHeader"], !p.isNull {
            let header = try p.string()
            if !header.isEmpty {
                try validateHeaderName(header, p)
                rule.outputPayloadToHeader = header
            }
        }
        if let fw = f["forwardOriginalToken"], !fw.isNull { rule.forwardOriginalToken = try fw.bool() }
        for item in try f["outputClaimToHeaders"]?.list() ?? [] {
            let hf = try item.fields(allowed: ["header", "claim"])
            guard let header = try hf["header"]?.string(), !header.isEmpty else { throw item.error("outputClaimToHeaders header must be set") }
            guard let claim = try hf["claim"]?.string(), !claim.isEmpty else { throw item.error("outputClaimToHeaders claim must be set") }
            try validateHeaderName(header, hf["header"]!)
            rule.outputClaimToHeaders.append(ClaimToHeader(header: header, claim: claim))
        }
        if let t = f["timeout"], !t.isNull {
            let text = try t.string()
            guard let d = parseGoDuration(text), d > .zero else { throw t.error("invalid duration \"\(text)\" (expected e.g. \"5s\", \"500ms\", \"1m\")") }
            rule.timeout = d
        }
        rule.spaceDelimitedClaims = try f["spaceDelimitedClaims"]?.stringList() ?? []
        return rule
    }

    static func validateJWKSURI(_ uri: String, _ c: YAMLCursor) throws(PolicyLoadError) {
        let lower = uri.lowercased()
        let rest: Substring
        if lower.hasPrefix("https://") { rest = uri.dropFirst(8) } else if lower.hasPrefix("http://") { rest = uri.dropFirst(7) } else {
            throw c.error("URI scheme must be http or https: \"\(uri)\"")
        }
        let host = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if host.isEmpty || host.contains(" ") { throw c.error("invalid jwksUri \"\(uri)\": missing host") }
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
                                                "principals", "notPrincipals", "requestPrincipals", "notRequestPrincipals"]

    static func customSupports(_ key: ConditionKey) -> Bool {
        switch key {
        case .sourceNamespace, .sourceServiceAccount, .sourcePrincipal,
             .requestPrincipal, .requestAudiences, .requestPresenter, .requestClaim, .gatewayClaim, .gatewayScope: return false
        default: return true
        }
    }

    static func decodeRule(_ c: YAMLCursor, policyNamespace: String, custom: Bool = false) throws(PolicyLoadError) -> AuthorizationRule {
        let f = try c.fields(allowed: ["from", "to", "when"])
        var rule = AuthorizationRule()
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
        for item in try f["when"]?.list() ?? [] { rule.when.append(try decodeCondition(item, custom: custom)) }
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
        s.trustDomains = try patterns(f["trustDomains"])
        s.notTrustDomains = try patterns(f["notTrustDomains"])
        for key in ["serviceAccounts", "notServiceAccounts"] {
            guard let field = f[key] else { continue }
            let values = try field.stringList()
            if values.count > 16 { throw field.error("at most 16 service accounts are allowed") }
            var expanded: [String] = []
            for v in values {
                if v.utf8.contains(UInt8(ascii: "*")) { throw field.error("wildcards are not supported in service accounts (\(v))") }
                let parts = v.bytesSplit(separator: UInt8(ascii: "/"))
                switch parts.count {
                case 1: expanded.append("\(policyNamespace)/\(v)")
                case 2 where !parts[0].isEmpty && !parts[1].isEmpty: expanded.append(v)
                default: throw field.error("service account must be \"namespace/name\" or \"name\", found \"\(v)\"")
                }
            }
            if key == "serviceAccounts" { s.serviceAccounts = expanded } else { s.notServiceAccounts = expanded }
        }
        let hasSA = !s.serviceAccounts.isEmpty || !s.notServiceAccounts.isEmpty
        let hasPN = !s.principals.isEmpty || !s.notPrincipals.isEmpty || !s.namespaces.isEmpty || !s.notNamespaces.isEmpty
        if hasSA && hasPN {
            throw (f["serviceAccounts"] ?? f["notServiceAccounts"] ?? c).error("serviceAccounts cannot be combined with principals or namespaces")
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
    static func decodeCondition(_ c: YAMLCursor, custom: Bool = false) throws(PolicyLoadError) -> Condition {
        let f = try c.fields(allowed: ["key", "values", "notValues"])
        guard let keyField = f["key"] else { throw c.error("key must not be empty") }
        let keyText = try keyField.string()
        let key: ConditionKey
        do { key = try parseConditionKey(keyText) } catch { throw keyField.error(error.message) }
        if custom && !customSupports(key) { throw keyField.error("\(key) is not supported with action CUSTOM") }
        let values = try f["values"]?.stringList() ?? []
        let notValues = try f["notValues"]?.stringList() ?? []
        if values.isEmpty && notValues.isEmpty { throw c.error("at least one of values or notValues must be set for key \(keyText)") }
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

