/// Which workload a check is for: decides which resources apply, as Istio scopes them.
public struct WorkloadScope: Sendable, Hashable {
    /// The workload's namespace (`--namespace`).
    public var namespace: String
    /// The workload's labels (`--workload-labels`), matched by `selector.matchLabels`.
    public var labels: [String: String]
    /// Resources here apply to every namespace (`--root-namespace`, Istio's `meshConfig.rootNamespace`).
    public var rootNamespace: String
    /// Gateways/Services this Warden serves (`--target`); only `targetRefs` resources naming one apply.
    public var targets: [TargetRef]

    public init(namespace: String = "default", labels: [String: String] = [:], rootNamespace: String = "istio-system", targets: [TargetRef] = []) {
        self.namespace = namespace
        self.labels = labels
        self.rootNamespace = rootNamespace
        self.targets = targets
    }

    /// This scope adjusted by ext_authz `context_extensions`: `namespace` replaces the namespace and
    /// each `label.<key>` sets (or overrides) the label `<key>`.
    public func applying(contextExtensions: [String: String]) -> WorkloadScope {
        guard !contextExtensions.isEmpty else { return self }
        var scope = self
        if let ns = contextExtensions["namespace"], !ns.isEmpty { scope.namespace = ns }
        for (key, value) in contextExtensions where key.hasPrefix("label.") && key.count > 6 {
            scope.labels[String(key.dropFirst(6))] = value
        }
        return scope
    }
}
