import WardenYAML

/// An immutable, fully validated set of RequestAuthentication and AuthorizationPolicy resources.
public struct PolicySet: Sendable {
    public let requestAuthentications: [RequestAuthentication]
    public let authorizationPolicies: [AuthorizationPolicy]
    /// Warden's own `TokenPolicy` resources.
    public let tokenPolicies: [TokenPolicy]
    /// Envoy `jwt_authn` configurations, in load order: each applies to every check, before the Istio resources.
    public let jwtAuthnFilters: [JwtAuthnFilter]
    /// Warnings from loading (skipped kinds, …).
    public let notes: [PolicyNote]
    /// Files read, in load order.
    public let files: [String]

    public init(requestAuthentications: [RequestAuthentication] = [], authorizationPolicies: [AuthorizationPolicy] = [],
                tokenPolicies: [TokenPolicy] = [], jwtAuthnFilters: [JwtAuthnFilter] = [], notes: [PolicyNote] = [],
                files: [String] = []) {
        self.jwtAuthnFilters = jwtAuthnFilters
        self.requestAuthentications = requestAuthentications.sorted { $0.ref < $1.ref }
        self.authorizationPolicies = authorizationPolicies.sorted { $0.ref < $1.ref }
        self.tokenPolicies = tokenPolicies.sorted { $0.ref < $1.ref }
        self.notes = notes
        self.files = files
    }

    public static let empty = PolicySet()

    /// The metadata namespaces `experimental.envoy.filters.*` conditions read, in any AuthorizationPolicy
    /// (any scope: a route's `context_extensions` may select another workload's policies).
    public var filterMetadataNamespaces: Set<String> {
        var out = Set<String>()
        for p in authorizationPolicies {
            for rule in p.rules {
                for c in rule.when { if case .envoyFilterMetadata(let key) = c.key { out.insert(key.namespace) } }
            }
        }
        return out
    }

    /// Parses and validates YAML text (one or more documents).
    public static func parse(yaml: String, file: String = "<inline>", limits: YAMLLimits = .default) throws(PolicyLoadFailure) -> PolicySet {
        var builder = PolicySetBuilder()
        builder.add(yaml: Array(yaml.utf8), file: file, limits: limits)
        return try builder.finish()
    }

    /// The resources applying to `scope`, as Istio selects them:
    /// - in the root namespace or the workload's namespace, with `selector.matchLabels` ⊆ the workload's
    ///   labels (no selector = the whole namespace);
    /// - `targetRefs` resources only when one of their refs names one of `scope.targets`
    ///   (kind + name + namespace, the ref's namespace defaulting to the resource's); without any
    ///   `--target` they are skipped with a warning.
    public func effective(for scope: WorkloadScope) -> EffectivePolicy {
        var notes: [PolicyNote] = []
        func applies(ref: PolicyRef, selector: WorkloadSelector?, targetRefs: [TargetRef]) -> Bool {
            if !targetRefs.isEmpty {
                if scope.targets.isEmpty {
                    notes.append(PolicyNote(level: .warning, location: ref.description,
                                            message: "skipped: uses targetRefs (\(targetRefs.map(\.description).joined(separator: ", "))) but no target is configured"))
                    return false
                }
                return targetRefs.contains { r in
                    scope.targets.contains { t in
                        t.kind.lowercased() == r.kind.lowercased() && t.name == r.name
                            && (t.namespace ?? scope.namespace) == (r.namespace ?? ref.namespace)
                    }
                }
            }
            guard ref.namespace == scope.rootNamespace || ref.namespace == scope.namespace else { return false }
            return selector?.matches(scope.labels) ?? true
        }
        let (ras, aps) = GatewayPrecedence.mostSpecific(
            requestAuthentications.filter { applies(ref: $0.ref, selector: $0.selector, targetRefs: $0.targetRefs) },
            authorizationPolicies.filter { applies(ref: $0.ref, selector: $0.selector, targetRefs: $0.targetRefs) }, scope: scope)
        let tps = tokenPolicies.filter { applies(ref: $0.ref, selector: $0.selector, targetRefs: $0.targetRefs) }
        return EffectivePolicy(scope: scope, requestAuthentications: ras, authorizationPolicies: aps, tokenPolicies: tps, notes: notes)
    }
}

extension PolicySet {
    /// Resources that use `targetRefs` in the workload's (or the root) namespace, when this Warden was not
    /// told which Gateway/Service it fronts (no `--target`): each would be skipped, and a skipped ALLOW can
    /// turn "an ALLOW policy applies, deny by default" into "no ALLOW policy, allow" (a skipped DENY simply
    /// stops denying). `warden serve` refuses such a set unless the operator states the targets, or
    /// `--target none`.
    public func untargetedResources(for scope: WorkloadScope) -> [PolicyLoadError] {
        guard scope.targets.isEmpty else { return [] }
        func error(_ kind: String, _ ref: PolicyRef, _ origin: ResourceOrigin, _ refs: [TargetRef]) -> PolicyLoadError {
            PolicyLoadError(file: origin.file, line: origin.line, fieldPath: "spec.targetRefs",
                            message: "\(kind) \(ref) uses targetRefs (\(refs.map(\.description).joined(separator: ", "))), but this "
                                + "Warden was not told which Gateway/Service it fronts, so it would be skipped: pass --target KIND/NAME "
                                + "(repeatable), or --target none to state that no targetRefs resource applies here")
        }
        let inScope = { (ref: PolicyRef) in ref.namespace == scope.namespace || ref.namespace == scope.rootNamespace }
        return requestAuthentications.filter { !$0.targetRefs.isEmpty && inScope($0.ref) }
            .map { error("RequestAuthentication", $0.ref, $0.origin, $0.targetRefs) }
            + authorizationPolicies.filter { !$0.targetRefs.isEmpty && inScope($0.ref) }
            .map { error("AuthorizationPolicy", $0.ref, $0.origin, $0.targetRefs) }
            + tokenPolicies.filter { !$0.targetRefs.isEmpty && inScope($0.ref) }
            .map { error(TokenPolicy.kind, $0.ref, $0.origin, $0.targetRefs) }
    }
}

/// Accumulates resources and errors across files.
struct PolicySetBuilder {
    var requestAuthentications: [RequestAuthentication] = []
    var authorizationPolicies: [AuthorizationPolicy] = []
    var tokenPolicies: [TokenPolicy] = []
    var jwtAuthnFilters: [JwtAuthnFilter] = []
    var notes: [PolicyNote] = []
    var errors: [PolicyLoadError] = []
    var files: [String] = []
    private var seen: [String: ResourceOrigin] = [:]

    mutating func add(yaml bytes: [UInt8], file: String, limits: YAMLLimits) {
        files.append(file)
        let documents: [YAMLDocument]
        do {
            documents = try YAMLParser.parse(bytes: bytes, file: file, limits: limits)
        } catch {
            errors.append(PolicyLoadError(error))
            return
        }
        for doc in documents {
            guard let root = doc.root, !root.isNull else { continue }
            do {
                for resource in try PolicyDecoder.decode(root, file: file) { record(resource) }
            } catch {
                errors.append(error)
            }
        }
    }

    private mutating func record(_ resource: DecodedResource) {
        switch resource {
        case .skipped(let note):
            notes.append(note)
        case .requestAuthentication(let ra):
            if unique("RequestAuthentication", ra.ref, ra.origin) { requestAuthentications.append(ra) }
        case .authorizationPolicy(let ap):
            if unique("AuthorizationPolicy", ap.ref, ap.origin) { authorizationPolicies.append(ap) }
        case .tokenPolicy(let tp):
            if unique(TokenPolicy.kind, tp.ref, tp.origin) { tokenPolicies.append(tp) }
        case .jwtAuthn(let filter):
            jwtAuthnFilters.append(filter)
        }
    }

    private mutating func unique(_ kind: String, _ ref: PolicyRef, _ origin: ResourceOrigin) -> Bool {
        let key = "\(kind) \(ref)"
        if let previous = seen[key] {
            errors.append(PolicyLoadError(file: origin.file, line: origin.line, fieldPath: "metadata.name",
                                          message: "duplicate \(kind) \(ref) (first defined at \(previous))"))
            return false
        }
        seen[key] = origin
        return true
    }

    /// Two Envoy Gateway SecurityPolicies attached to one target, whatever they hold (`jwt` only, `authorization`
    /// only, both): Envoy Gateway applies only the older one (Gateway API policy attachment, GEP-713: "the oldest
    /// Policy based on creation timestamp" wins, the other is `Conflicted`), which a file does not carry; applying
    /// both would combine their providers and rules, so the set is refused rather than guessed (fail closed).
    func sameTargetSecurityPolicies() -> [PolicyLoadError] {
        var errors: [PolicyLoadError] = []
        var owner: [String: (dialect: String, origin: ResourceOrigin)] = [:]
        var reported = Set<String>()
        let compiled = requestAuthentications.map { ($0.origin, $0.ref.namespace, $0.targetRefs) }
            + authorizationPolicies.map { ($0.origin, $0.ref.namespace, $0.targetRefs) }
        for (origin, namespace, targetRefs) in compiled where GatewayPrecedence.isSecurityPolicy(origin) {
            let dialect = origin.dialect ?? ""
            for r in targetRefs {
                let key = "\(r.group)/\(r.kind.lowercased())/\(r.namespace ?? namespace)/\(r.name)"
                if let first = owner[key], first.dialect != dialect {
                    guard reported.insert("\(dialect) \(key)").inserted else { continue }
                    errors.append(PolicyLoadError(file: origin.file, line: origin.line, fieldPath: "spec.targetRefs",
                        message: "\(dialect) and \(first.dialect) (\(first.origin)) both target \(r.kind) \(r.name): Envoy Gateway applies only "
                            + "the older one, which a policy file cannot tell; refusing rather than applying both"))
                } else if owner[key] == nil {
                    owner[key] = (dialect, origin)
                }
            }
        }
        return errors
    }

    func finish() throws(PolicyLoadFailure) -> PolicySet {
        let errors = self.errors + sameTargetSecurityPolicies()
        if !errors.isEmpty { throw PolicyLoadFailure(errors: errors) }
        return PolicySet(requestAuthentications: requestAuthentications, authorizationPolicies: authorizationPolicies,
                         tokenPolicies: tokenPolicies, jwtAuthnFilters: jwtAuthnFilters, notes: notes, files: files)
    }
}
