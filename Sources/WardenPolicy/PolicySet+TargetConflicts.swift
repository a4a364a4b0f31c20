extension PolicySet {
    /// Several `--target`s that would select different Envoy Gateway SecurityPolicies. Envoy Gateway applies a
    /// route's SecurityPolicy to that route only, but a CheckRequest does not say which route it came by: one
    /// Warden fronting two routes would have to apply both routes' policies to every request (their ALLOW
    /// rules ORed, or both required), which decides neither route as Envoy Gateway does. So such a set is
    /// refused: run one Warden per route target (or per Gateway, when only Gateway-level policies exist).
    ///
    /// The targets are compared per route when any `--target` is a route (`HTTPRoute`, `GRPCRoute`; the other
    /// targets, e.g. the Gateway, accompany each), else per Gateway.
    public func securityPolicyTargetConflicts(for scope: WorkloadScope) -> [PolicyLoadError] {
        guard scope.targets.count > 1 else { return [] }
        let routes = scope.targets.filter { GatewayPrecedence.routeKinds.contains($0.kind.lowercased()) }
        let members = routes.isEmpty ? scope.targets : routes
        guard members.count > 1 else { return [] }
        let common = routes.isEmpty ? [] : scope.targets.filter { !GatewayPrecedence.routeKinds.contains($0.kind.lowercased()) }
        var selections: [(target: TargetRef, policies: [String: ResourceOrigin])] = []
        for member in members {
            var single = scope
            single.targets = common + [member]
            let e = effective(for: single)
            var chosen: [String: ResourceOrigin] = [:]
            for origin in e.requestAuthentications.map(\.origin) + (e.allowPolicies + e.denyPolicies).map(\.origin)
            where GatewayPrecedence.isSecurityPolicy(origin) {
                if let d = origin.dialect, chosen[d] == nil { chosen[d] = origin }
            }
            selections.append((member, chosen))
        }
        guard let first = selections.first, selections.contains(where: { Set($0.policies.keys) != Set(first.policies.keys) }) else { return [] }
        let by = selections.map { s in "\(s.target): \(s.policies.isEmpty ? "none" : s.policies.keys.sorted().joined(separator: ", "))" }
        let origins = selections.flatMap { $0.policies.values }.sorted { ($0.file, $0.line) < ($1.file, $1.line) }
        var seen = Set<String>()
        return origins.filter { seen.insert($0.dialect ?? "").inserted }.map { origin in
            PolicyLoadError(file: origin.file, line: origin.line, fieldPath: "spec.targetRefs",
                            message: "the --target values select different SecurityPolicies (\(by.joined(separator: "; "))): a check does not "
                                + "say which route it came by, so one Warden cannot apply each route's policy to that route only; run one "
                                + "Warden per route target (or per Gateway)")
        }
    }
}

extension PolicySet {
    /// What `warden serve` (start and every reload) and `warden explain` refuse to decide with, for a Warden
    /// whose default scope is `scope` and that was given `--target`s (or none, but not `--target none`): the
    /// targetRefs resources it would skip (`untargetedResources`), and `--target`s that select different
    /// SecurityPolicies (`securityPolicyTargetConflicts`) in ANY namespace a check can select — a check's
    /// `namespace` context extension re-scopes it to another namespace, with the same targets.
    public func admissionErrors(for scope: WorkloadScope) -> [PolicyLoadError] {
        var errors = untargetedResources(for: scope)
        var namespaces = [scope.namespace]
        for ns in (requestAuthentications.map(\.ref.namespace) + authorizationPolicies.map(\.ref.namespace)).sorted() where !namespaces.contains(ns) {
            namespaces.append(ns)
        }
        var seen = Set<String>()
        for ns in namespaces {
            var s = scope
            s.namespace = ns
            for e in securityPolicyTargetConflicts(for: s) where seen.insert(e.description).inserted { errors.append(e) }
        }
        return errors
    }
}
