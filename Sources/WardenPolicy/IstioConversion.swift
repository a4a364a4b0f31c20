import WardenJSON

/// `warden convert --to istio`: the Istio RequestAuthentication/AuthorizationPolicy documents a dialect's
/// resources compiled to, and precisely what in them Istio cannot say. Istio's own kinds in the input are not
/// printed again. Documents are JSON, which every YAML reader (and `kubectl`) accepts.
public struct IstioConversion: Sendable {
    /// One document per compiled resource, in load order.
    public var documents: [String]
    /// `ns/name: what has no exact Istio equivalent, and what the printed document does instead`.
    public var gaps: [String]

    public init(_ set: PolicySet) {
        documents = []
        gaps = []
        let ras = set.requestAuthentications.filter { $0.origin.dialect != nil }
        let aps = set.authorizationPolicies.filter { $0.origin.dialect != nil }
        for ra in ras {
            var spec: [String: JSONValue] = ["jwtRules": .array(ra.jwtRules.map(Self.jwtRule))]
            if !ra.targetRefs.isEmpty { spec["targetRefs"] = .array(ra.targetRefs.map(Self.targetRef)) }
            documents.append(Self.document("RequestAuthentication", ra.ref, ra.origin, spec))
        }
        for ap in aps {
            var spec: [String: JSONValue] = ["action": .string(ap.action.rawValue), "rules": .array(ap.rules.map { rule(ap, $0) })]
            if !ap.targetRefs.isEmpty { spec["targetRefs"] = .array(ap.targetRefs.map(Self.targetRef)) }
            documents.append(Self.document("AuthorizationPolicy", ap.ref, ap.origin, spec))

        }
        let routes = Set((ras.flatMap(\.targetRefs) + aps.flatMap(\.targetRefs)).filter { GatewayPrecedence.routeKinds.contains($0.kind.lowercased()) }
            .map(\.description))
        for r in routes.sorted() {
            gaps.append("targetRefs \(r): an Istio policy cannot target a route (only Gateway, GatewayClass, Service, ServiceEntry); "
                + "the printed documents name it anyway, which istiod and warden validate refuse: attach them to the Gateway or Service by hand")
        }
        let kinds = Set((ras.flatMap(\.targetRefs) + aps.flatMap(\.targetRefs)).map { $0.kind.lowercased() })
        if kinds.contains("gateway") && !kinds.isDisjoint(with: GatewayPrecedence.routeKinds) {
            gaps.append("SecurityPolicy attachment: Istio applies every policy targeting a Gateway and a route together; Envoy Gateway only the route's")
        }
        for f in set.jwtAuthnFilters {
            guard let ref = f.onlyWith else { convert(f); continue }
            // A SecurityPolicy's required JWT: the closest Istio says is a DENY on requests without a principal.
            var source = Source()
            source.notRequestPrincipals = [RequestPrincipalPattern("*")]
            let name = PolicyRef(namespace: ref.namespace, name: ref.name + ".jwt-required")
            var spec: [String: JSONValue] = ["action": .string("DENY"), "rules": .array([rule(AuthorizationPolicy(ref: name, origin: f.origin, action: .deny,
                                                                                                                      rules: []), AuthorizationRule(from: [source]))])]
            if !f.targetRefs.isEmpty { spec["targetRefs"] = .array(f.targetRefs.map(Self.targetRef)) }
            documents.append(Self.document("AuthorizationPolicy", name, f.origin, spec))
            gaps.append("\(name): a request without a token is refused with 403 RBAC: access denied; Envoy Gateway answers 401 Jwt is missing")
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

    mutating func rule(_ ap: AuthorizationPolicy, _ r: AuthorizationRule) -> JSONValue {
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
                if !op.methods.isEmpty { v["methods"] = Self.strings(op.methods.map(\.description)) }
                if !op.notMethods.isEmpty { v["notMethods"] = Self.strings(op.notMethods.map(\.description)) }
                return .object(["operation": .object(v)])
            })
        }
        var when: [JSONValue] = []
        for c in r.when {
            // A negated condition (an Allow rule shadowing a later Deny rule) is written with notValues.
            let negated = c.values.isEmpty && !c.notValues.isEmpty
            let field = negated ? "notValues" : "values"
            let values = Self.strings((negated ? c.notValues : c.values).compactMap { if case .string(let p) = $0 { return p.description } else { return nil } })
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
            default:
                when.append(.object(["key": .string(c.key.description), field: values]))
            }
        }
        if !when.isEmpty { o["when"] = .array(when) }
        return .object(o)
    }
}
