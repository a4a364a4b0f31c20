/// Envoy Gateway's attachment rule for SecurityPolicy (envoyproxy/gateway `api/v1alpha1/securitypolicy_types.go`,
/// `mergeType`: "If unset, no merging occurs, and only the most specific configuration takes effect"): when a
/// SecurityPolicy attached to a route (`HTTPRoute`, `GRPCRoute`) this Warden fronts applies, one attached only to
/// a Gateway does not. Evaluating both, Istio style, would OR their ALLOW rules — allowing what the route's policy
/// denies by default.
enum GatewayPrecedence {
    static let routeKinds: Set<String> = ["httproute", "grpcroute"]

    /// True when `origin` was compiled from a SecurityPolicy.
    static func isSecurityPolicy(_ origin: ResourceOrigin) -> Bool {
        origin.dialect?.hasPrefix(SecurityPolicyDecoder.dialectPrefix) ?? false
    }

    /// Whether the refs that select this resource for `scope` include a route.
    static func attachedToRoute(_ refs: [TargetRef], policyNamespace: String, scope: WorkloadScope) -> Bool {
        refs.contains { r in
            routeKinds.contains(r.kind.lowercased()) && scope.targets.contains { t in
                t.kind.lowercased() == r.kind.lowercased() && t.name == r.name
                    && (t.namespace ?? scope.namespace) == (r.namespace ?? policyNamespace)
            }
        }
    }

    /// The applicable resources without Gateway-level SecurityPolicy ones when a route-level one applies.
    static func mostSpecific(_ ras: [RequestAuthentication], _ aps: [AuthorizationPolicy], scope: WorkloadScope)
        -> ([RequestAuthentication], [AuthorizationPolicy]) {
        func routeLevel(_ origin: ResourceOrigin, _ refs: [TargetRef], _ ns: String) -> Bool {
            isSecurityPolicy(origin) && attachedToRoute(refs, policyNamespace: ns, scope: scope)
        }
        let anyRoute = ras.contains { routeLevel($0.origin, $0.targetRefs, $0.ref.namespace) }
            || aps.contains { routeLevel($0.origin, $0.targetRefs, $0.ref.namespace) }
        guard anyRoute else { return (ras, aps) }
        return (ras.filter { !isSecurityPolicy($0.origin) || routeLevel($0.origin, $0.targetRefs, $0.ref.namespace) },
                aps.filter { !isSecurityPolicy($0.origin) || routeLevel($0.origin, $0.targetRefs, $0.ref.namespace) })
    }
}
