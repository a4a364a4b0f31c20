import WardenJSON

/// `warden convert --to istio`: the Istio RequestAuthentication/AuthorizationPolicy documents a dialect's
/// resources compiled to, and precisely what in them Istio cannot say. Istio's own kinds in the input are not
/// printed again. Documents are JSON, which every YAML reader (and `kubectl`) accepts.
public struct IstioConversion: Sendable {
    /// One document per compiled resource, in load order.
    public var documents: [String]
    /// `ns/name: what has no exact Istio equivalent, and what the printed document does instead`.
    public var gaps: [String]

    /// Names printed so far (`Kind ns/name` → where the resource came from), for collisions.
    private var printed: [String: String] = [:]
    /// SecurityPolicy providers (`JWTRule.gatewayProviderID`) → their audiences.
    private var providerAudiences: [String: [String]] = [:]
    /// SecurityPolicy providers → the other providers of the same policy that share their issuer.
    private var sharedIssuer: [String: [String]] = [:]

    /// - Parameter routeGateway: the Gateway (in the policy's namespace) that the HTTPRoute/GRPCRoute a
    ///   SecurityPolicy targets is attached to. Istio policies cannot target a route; with it, such documents
    ///   target that Gateway instead (a gap: Istio then applies them to every route of the Gateway); without
    ///   it, they are not printed (a gap naming `--gateway`).
    public init(_ set: PolicySet, routeGateway: String? = nil) {
        documents = []
        gaps = []
        let ras = set.requestAuthentications.filter { $0.origin.dialect != nil }
        let aps = set.authorizationPolicies.filter { $0.origin.dialect != nil }
        for ra in ras {
            for r in ra.jwtRules {
                guard let id = r.gatewayProviderID else { continue }
                providerAudiences[id] = r.audiences
                let others = ra.jwtRules.filter { $0.issuer == r.issuer && $0.gatewayProviderID != id }.compactMap(\.gatewayProviderID)
                if !others.isEmpty { sharedIssuer[id] = others }
            }
        }
        var unprintable = Set<String>()   // dialects whose documents target a route and have no --gateway
        var reroutedTargets = Set<String>()
        var printedTargets: [TargetRef] = []
        /// The targetRefs a printed document carries, or nil when it cannot be printed.
        func targets(_ refs: [TargetRef], _ dialect: String?) -> [JSONValue]? {
            var out: [TargetRef] = []
            defer { printedTargets = out }
            for r in refs {
                guard GatewayPrecedence.routeKinds.contains(r.kind.lowercased()) else { out.append(r); continue }
                guard let gateway = routeGateway else {
                    unprintable.insert("\(dialect ?? "") \(r)")
                    return nil
                }
                reroutedTargets.insert("\(r)")
                let g = TargetRef(group: "gateway.networking.k8s.io", kind: "Gateway", name: gateway)
                if !out.contains(g) { out.append(g) }
            }
            return out.map(Self.targetRef)
        }
        for ra in ras {
            printedTargets = []
            var spec: [String: JSONValue] = ["jwtRules": .array(ra.jwtRules.map(Self.jwtRule))]
            if !ra.targetRefs.isEmpty {
                guard let t = targets(ra.targetRefs, ra.origin.dialect) else { continue }
                spec["targetRefs"] = .array(t)
            }
            emit("RequestAuthentication", ra.ref, ra.origin, spec)
            if GatewayPrecedence.isSecurityPolicy(ra.origin) { sharedVerification(ra, printedTargets, input: set.requestAuthentications) }
        }
        var printedAllows: [(policy: AuthorizationPolicy, targets: [TargetRef])] = []
        for ap in aps {
            printedTargets = []
            var rules: [JSONValue] = []
            for (i, r) in ap.rules.enumerated() {
                if let printed = rule(ap, r, index: i) { rules.append(printed) }
            }
            var spec: [String: JSONValue] = ["action": .string(ap.action.rawValue), "rules": .array(rules)]
            if !ap.targetRefs.isEmpty {
                guard let t = targets(ap.targetRefs, ap.origin.dialect) else { continue }
                spec["targetRefs"] = .array(t)
            }
            if ap.action == .deny && rules.isEmpty && !ap.rules.isEmpty { continue }  // every rule was unprintable (listed)
            emit("AuthorizationPolicy", ap.ref, ap.origin, spec)
            if ap.action == .allow && !ap.dryRun { printedAllows.append((ap, printedTargets)) }
        }
        allowsSharingScope(printedAllows, input: set.authorizationPolicies.filter { $0.origin.dialect == nil && $0.action == .allow && !$0.dryRun })
        let kinds = Set((ras.flatMap(\.targetRefs) + aps.flatMap(\.targetRefs)).map { $0.kind.lowercased() })
        if kinds.contains("gateway") && !kinds.isDisjoint(with: GatewayPrecedence.routeKinds) {
            gaps.append("SecurityPolicy attachment: Istio applies every policy targeting a Gateway and a route together; Envoy Gateway only the route's")
        }
        for f in set.jwtAuthnFilters {
            guard let ref = f.onlyWith else { convert(f); continue }
            if f.allowsMissingToken { continue }  // `jwt.optional: true`: `.jwt-issuers` below
            // A SecurityPolicy's required JWT: the closest Istio says is a DENY on requests without a principal of
            // this policy's issuers (a token another RequestAuthentication in scope verified is no provider's here).
            var source = Source()
            source.notRequestPrincipals = Self.issuerPrincipals(f.providers.map(\.rule))
            let name = PolicyRef(namespace: ref.namespace, name: ref.name + ".jwt-required")
            var spec: [String: JSONValue] = ["action": .string("DENY"), "rules": .array([Self.sourceRule(source)])]
            if !f.targetRefs.isEmpty {
                guard let t = targets(f.targetRefs, f.origin.dialect) else { continue }
                spec["targetRefs"] = .array(t)
            }
            emit("AuthorizationPolicy", name, f.origin, spec)
            gaps.append("\(name): a request without a token of this policy's providers is refused with 403 RBAC: access denied; "
                + "Envoy Gateway answers 401 Jwt is missing (or 401 for another issuer's token)")
        }
        // An optional JWT (`jwt.optional: true`): Envoy Gateway still refuses a token its providers did not verify
        // (jwt_authn `allow_missing`: a token present must be valid), even one another Istio RequestAuthentication
        // in scope would accept. A DENY on a principal of another issuer says the same, with 403 for 401.
        for ra in ras where GatewayPrecedence.isSecurityPolicy(ra.origin)
            && set.jwtAuthnFilters.contains(where: { $0.onlyWith == ra.ref && $0.allowsMissingToken }) {
            var source = Source()
            source.requestPrincipals = [RequestPrincipalPattern("*")]
            source.notRequestPrincipals = Self.issuerPrincipals(ra.jwtRules)
            let name = PolicyRef(namespace: ra.ref.namespace, name: ra.ref.name + ".jwt-issuers")
            var spec: [String: JSONValue] = ["action": .string("DENY"), "rules": .array([Self.sourceRule(source)])]
            if !ra.targetRefs.isEmpty {
                guard let t = targets(ra.targetRefs, ra.origin.dialect) else { continue }
                spec["targetRefs"] = .array(t)
            }
            emit("AuthorizationPolicy", name, ra.origin, spec)
            gaps.append("\(name): a token that another RequestAuthentication in scope verifies (another issuer) is refused with 403 "
                + "RBAC: access denied; Envoy Gateway answers 401")
        }
        for u in unprintable.sorted() {
            gaps.append("\(u): an Istio policy cannot target a route (only Gateway, GatewayClass, Service, ServiceEntry), so its documents "
                + "are not printed; pass --gateway NAME to attach them to the route's Gateway instead")
        }
        for r in reroutedTargets.sorted() {
            gaps.append("targetRefs \(r): attached to Gateway \(routeGateway ?? "") instead (--gateway): Istio applies the documents to "
                + "every route of that Gateway, Envoy Gateway to this route only")
        }
        // Printed names that collide with an input resource or with each other would replace one another on apply.
        for ra in set.requestAuthentications where ra.origin.dialect == nil { claim("RequestAuthentication", ra.ref, "\(ra.origin)", input: true) }
        for ap in set.authorizationPolicies where ap.origin.dialect == nil { claim("AuthorizationPolicy", ap.ref, "\(ap.origin)", input: true) }
    }

    /// A printed SecurityPolicy ALLOW is its own RBAC filter in Envoy Gateway (it must allow too), but Istio ORs every
    /// ALLOW policy that applies to a workload: beside another ALLOW in the same scope — an input Istio ALLOW or another
    /// SecurityPolicy's — it no longer restricts what that one allows. A gap for each such pair. Scopes are taken to
    /// meet unless both name targetRefs and share none, or they sit in different namespaces, neither the root one
    /// (`istio-system`, Istio's default `meshConfig.rootNamespace`) — when in doubt, a gap.
    /// Whether two resources (namespace, targetRefs) may apply to one workload: unless both name targetRefs and share
    /// none, or they sit in different namespaces, neither the root one (`istio-system`, Istio's default).
    static func scopesMeet(_ a: (ns: String, targets: [TargetRef]), _ b: (ns: String, targets: [TargetRef])) -> Bool {
        let root = WorkloadScope().rootNamespace
        guard a.ns == b.ns || a.ns == root || b.ns == root else { return false }
        if a.targets.isEmpty || b.targets.isEmpty { return true }
        func key(_ t: TargetRef, _ ns: String) -> String { "\(t.kind.lowercased())/\(t.namespace ?? ns)/\(t.name)" }
        return !Set(a.targets.map { key($0, a.ns) }).isDisjoint(with: b.targets.map { key($0, b.ns) })
    }

    /// A printed SecurityPolicy RequestAuthentication joins Istio's one jwt filter: where an input RequestAuthentication
    /// in its scope names one of its issuers, Istio verifies a token of that issuer with either's rules (audiences,
    /// keys) for both, where Envoy Gateway's jwt_authn and Istio's filter each hold it to their own. A gap.
    private mutating func sharedVerification(_ ra: RequestAuthentication, _ targets: [TargetRef], input: [RequestAuthentication]) {
        let issuers = Set(ra.jwtRules.map(\.issuer))
        let others = input.filter { $0.origin.dialect == nil && Self.scopesMeet((ra.ref.namespace, targets), ($0.ref.namespace, $0.targetRefs))
            && $0.jwtRules.contains { issuers.contains($0.issuer) } }.map(\.ref)
        guard !others.isEmpty else { return }
        gaps.append("\(ra.ref): its providers' issuers are also verified by \(others.map(\.description).joined(separator: ", ")) in its scope; "
            + "Istio verifies such a token with either's rules for both, Envoy Gateway's jwt_authn with this policy's providers only")
    }

    private mutating func allowsSharingScope(_ printed: [(policy: AuthorizationPolicy, targets: [TargetRef])], input: [AuthorizationPolicy]) {
        let meet = Self.scopesMeet
        for (i, p) in printed.enumerated() {
            let mine = (p.policy.ref.namespace, p.targets)
            let others = input.filter { meet(mine, ($0.ref.namespace, $0.targetRefs)) }.map(\.ref)
                + printed.enumerated().filter { $0.offset != i && $0.element.policy.origin.dialect != p.policy.origin.dialect
                    && meet(mine, ($0.element.policy.ref.namespace, $0.element.targets)) }.map(\.element.policy.ref)
            guard !others.isEmpty else { continue }
            gaps.append("\(p.policy.ref): an ALLOW of its own RBAC filter in Envoy Gateway (it must allow as well), but Istio ORs it with the "
                + "other ALLOW policies in its scope (\(others.map(\.description).joined(separator: ", "))): a request that either one allows passes, "
                + "so this policy's default Deny no longer restricts theirs")
        }
    }

    /// `<issuer>/*` for each rule (a rule without issuer: any principal).
    static func issuerPrincipals(_ rules: [JWTRule]) -> [RequestPrincipalPattern] {
        var out: [RequestPrincipalPattern] = []
        for r in rules {
            let p = RequestPrincipalPattern(r.issuer.isEmpty ? "*" : r.issuer + "/*")
            if !out.contains(p) { out.append(p) }
        }
        return out
    }

    static func sourceRule(_ s: Source) -> JSONValue {
        var src: [String: JSONValue] = [:]
        if !s.requestPrincipals.isEmpty { src["requestPrincipals"] = strings(s.requestPrincipals.map(\.description)) }
        if !s.notRequestPrincipals.isEmpty { src["notRequestPrincipals"] = strings(s.notRequestPrincipals.map(\.description)) }
        return .object(["from": .array([.object(["source": .object(src)])])])
    }

    /// Appends a document, noting a name already printed.
    mutating func emit(_ kind: String, _ ref: PolicyRef, _ origin: ResourceOrigin, _ spec: [String: JSONValue]) {
        claim(kind, ref, "\(origin)", input: false)
        documents.append(Self.document(kind, ref, origin, spec))
    }

    private mutating func claim(_ kind: String, _ ref: PolicyRef, _ from: String, input: Bool) {
        let key = "\(kind) \(ref)"
        if let first = printed[key] {
            gaps.append("\(key): printed for \(input ? first : from) and \(input ? "also defined in the input at \(from)" : "for \(first)"); "
                + "applying both keeps only one — rename one before applying")
        } else if !input {
            printed[key] = from
        }
    }

    static func document(_ kind: String, _ ref: PolicyRef, _ origin: ResourceOrigin, _ spec: [String: JSONValue]) -> String {
        let doc: JSONValue = .object([
            "apiVersion": .string("security.istio.io/v1"), "kind": .string(kind),
            "metadata": .object(["name": .string(ref.name), "namespace": .string(ref.namespace),
                                 "annotations": .object(["warden.io/converted-from": .string(origin.description)])]),
            "spec": .object(spec),
        ])
        return doc.serialized
    }

    static func strings(_ s: [String]) -> JSONValue { .array(s.map { .string($0) }) }

    static func targetRef(_ t: TargetRef) -> JSONValue {
        var o: [String: JSONValue] = ["group": .string(t.group.isEmpty ? "gateway.networking.k8s.io" : t.group),
                                      "kind": .string(t.kind), "name": .string(t.name)]
        if let ns = t.namespace { o["namespace"] = .string(ns) }
        return .object(o)
    }

    static func jwtRule(_ r: JWTRule) -> JSONValue {
        var o: [String: JSONValue] = ["issuer": .string(r.issuer)]
        if !r.audiences.isEmpty { o["audiences"] = strings(r.audiences) }
        if let u = r.jwksUri { o["jwksUri"] = .string(u) }
        if let j = r.jwks { o["jwks"] = .string(j) }
        if !r.fromHeaders.isEmpty {
            o["fromHeaders"] = .array(r.fromHeaders.map { h in
                h.prefix.isEmpty ? .object(["name": .string(h.name)]) : .object(["name": .string(h.name), "prefix": .string(h.prefix)])
            })
        }
        if !r.fromParams.isEmpty { o["fromParams"] = strings(r.fromParams) }
        if !r.fromCookies.isEmpty { o["fromCookies"] = strings(r.fromCookies) }
        if r.forwardOriginalToken { o["forwardOriginalToken"] = .bool(true) }
        if let h = r.outputPayloadToHeader { o["outputPayloadToHeader"] = .string(h) }
        if let t = r.timeout { o["timeout"] = .string("\(t.components.seconds * 1000 + t.components.attoseconds / 1_000_000_000_000_000)ms") }
        if !r.outputClaimToHeaders.isEmpty {
            o["outputClaimToHeaders"] = .array(r.outputClaimToHeaders.map { .object(["header": .string($0.header), "claim": .string($0.claim)]) })
        }
        return .object(o)
    }

    /// Every ASCII-case spelling of `method`: Envoy Gateway matches `:method` ignoring case, Istio's `methods`
    /// exactly, so the list of spellings says in Istio what one ignore-case method says in Envoy Gateway (at
    /// most 2⁷ = 128 for the gateway-api methods).
    static func caseVariants(_ method: String) -> [String] {
        var out = [""]
        for c in method {
            let lower = String(c).lowercased(), upper = String(c).uppercased()
            out = out.flatMap { lower == upper ? [$0 + lower] : [$0 + upper, $0 + lower] }
        }
        return out
    }

    /// One printed rule, or nil when it cannot be printed without allowing more than the source (listed).
    mutating func rule(_ ap: AuthorizationPolicy, _ r: AuthorizationRule, index: Int) -> JSONValue? {
        let at = "\(ap.ref) rule[\(index)]"
        var o: [String: JSONValue] = [:]
        if !r.from.isEmpty {
            o["from"] = .array(r.from.map { s in
                var src: [String: JSONValue] = [:]
                if !s.remoteIpBlocks.isEmpty { src["remoteIpBlocks"] = Self.strings(s.remoteIpBlocks.map(\.description)) }
                if !s.notRemoteIpBlocks.isEmpty { src["notRemoteIpBlocks"] = Self.strings(s.notRemoteIpBlocks.map(\.description)) }
                if !s.requestPrincipals.isEmpty { src["requestPrincipals"] = Self.strings(s.requestPrincipals.map(\.description)) }
                if !s.notRequestPrincipals.isEmpty { src["notRequestPrincipals"] = Self.strings(s.notRequestPrincipals.map(\.description)) }
                return .object(["source": .object(src)])
            })
        }
        if !r.to.isEmpty {
            o["to"] = .array(r.to.map { op in
                var v: [String: JSONValue] = [:]
                func spelled(_ methods: [StringPattern]) -> JSONValue {
                    Self.strings(methods.flatMap { op.methodsIgnoreCase ? Self.caseVariants($0.description) : [$0.description] })
                }
                if !op.methods.isEmpty { v["methods"] = spelled(op.methods) }
                if !op.notMethods.isEmpty { v["notMethods"] = spelled(op.notMethods) }
                return .object(["operation": .object(v)])
            })
        }
        var when: [JSONValue] = []
        for c in r.when {
            // A negated condition (an Allow rule shadowing a later Deny rule) is written with notValues.
            let negated = c.values.isEmpty && !c.notValues.isEmpty
            let field = negated ? "notValues" : "values"
            var texts = (negated ? c.notValues : c.values).compactMap { v -> String? in if case .string(let p) = v { return p.description } else { return nil } }
            if case .gatewayProvider = c.key {} else if texts.contains(where: { $0.contains("*") }) {
                // Envoy Gateway compares these values exactly; Istio reads `*` in them as a wildcard and has no escape.
                let starred = texts.filter { $0.contains("*") }
                if ap.action == .allow || negated {
                    texts.removeAll { $0.contains("*") }
                    gaps.append("\(at): \(c.key) value(s) \(starred.joined(separator: ", ")): Envoy Gateway compares them exactly, Istio reads "
                        + "`*` as a wildcard and has no escape; " + (texts.isEmpty ? (negated ? "the condition is left out (a wider DENY)"
                                                                                         : "the rule is not printed (it allows nothing)")
                                                                      : "left out (\(negated ? "a wider DENY" : "allowing less"))"))
                    if texts.isEmpty {
                        if negated { continue }
                        return nil
                    }
                } else {
                    gaps.append("\(at): \(c.key) value(s) \(starred.joined(separator: ", ")): Envoy Gateway compares them exactly, Istio reads "
                        + "`*` as a wildcard: the printed DENY also denies what the wildcard matches")
                }
            }
            let values = Self.strings(texts)
            switch c.key {
            case .gatewayClaim(let path, let array):
                when.append(.object(["key": .string(ConditionKey.requestClaim(path).description), field: values]))
                gaps.append("\(ap.ref): claim \(path.joined(separator: ".")) (valueType \(array ? "StringArray" : "String")): Istio's "
                    + "request.auth.claims matches a string and a list element alike, so the printed condition also matches a "
                    + (array ? "bare string" : "list element") + " Envoy Gateway would not")
            case .gatewayScope:
                when.append(.object(["key": .string(ConditionKey.requestClaim(["scope"]).description), field: values]))
                gaps.append("\(ap.ref): scope \(values.arrayValue?.first?.stringValue ?? ""): Envoy Gateway accepts it in scope or scp; "
                    + "one Istio condition reads one claim, so the printed condition reads scope only")
            case .gatewayProvider(let issuer):
                // Istio cannot name the provider that verified a token: its issuer and audiences are the closest.
                let id = texts.first ?? ""
                let principal = Self.strings([issuer.isEmpty ? "*" : issuer + "/*"])
                when.append(.object(["key": .string(ConditionKey.requestPrincipal.description), field: principal]))
                let audiences = providerAudiences[id] ?? []
                if !negated && !audiences.isEmpty {
                    when.append(.object(["key": .string(ConditionKey.requestAudiences.description), "values": Self.strings(audiences)]))
                }
                if let others = sharedIssuer[id] {
                    gaps.append("\(at): provider \(id) shares issuer \(issuer) with \(others.joined(separator: ", ")): Istio cannot tell which "
                        + "provider verified a token, so the printed condition (issuer\(audiences.isEmpty || negated ? "" : " and audiences")) "
                        + "also holds for theirs")
                } else if negated && !audiences.isEmpty {
                    gaps.append("\(at): the negation of provider \(id) is written as another issuer only: a token of \(issuer) with another "
                        + "audience (verified by another RequestAuthentication) is not excluded")
                }
            default:
                when.append(.object(["key": .string(c.key.description), field: values]))
            }
        }
        if !when.isEmpty { o["when"] = .array(when) }
        return .object(o)
    }
}
