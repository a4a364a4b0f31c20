import WardenJSON

/// Evaluates Istio AuthorizationPolicies for one request, in Istio's order:
/// CUSTOM is ignored (Warden is the provider); any matching DENY denies; with no ALLOW policy the
/// request is allowed; any matching ALLOW allows; otherwise it is denied. The policies compiled from an
/// Envoy Gateway SecurityPolicy are a stage of their own (`EffectivePolicy.stages`) that must allow too.
/// AUDIT and dry-run policies are evaluated and reported but never change the verdict.
public enum AuthorizationEvaluator {
    /// - Parameters:
    ///   - identity: what Istio's jwt filter verified (`request.auth.*` of the Istio policies).
    ///   - stageIdentities: per SecurityPolicy stage (`AuthorizationStage.securityPolicy`), the identities its own
    ///     jwt_authn requirement verified: Envoy Gateway's RBAC filter reads only its jwt filter's metadata, so a
    ///     stage sees those and never Istio's (none listed: no identity). Each must be allowed.
    public static func evaluate(_ effective: EffectivePolicy, request: RequestAttributes, identity: RequestIdentity?,
                                stageIdentities: [String: [RequestIdentity]] = [:],
                                options: EvaluationOptions = EvaluationOptions()) -> AuthorizationDecision {
        let context = MatchContext(effective: effective, request: request, identity: identity, options: options)
        let audit = effective.auditPolicies.compactMap { context.firstMatch($0) }
        let dryRun = effective.dryRunPolicies.map { DryRunResult(policy: $0.ref, action: $0.action, matchedRule: context.firstMatch($0)?.ruleIndex) }
        var allowMatches: [PolicyMatch] = []
        func decided(_ verdict: AuthorizationDecision.Verdict) -> AuthorizationDecision {
            var d = AuthorizationDecision(verdict: verdict, auditMatches: audit, dryRun: dryRun)
            d.allowMatches = allowMatches
            return d
        }
        if context.path == nil && !(effective.allowPolicies.isEmpty && effective.denyPolicies.isEmpty) {
            return decided(.deny(.invalidPath(request.requestPath)))
        }
        // Each stage is its own RBAC filter (Istio's, then each SecurityPolicy's): the first stage that denies
        // answers; the request is allowed only when every stage allows.
        // The Istio stage (the common case, and the only one without a SecurityPolicy) decides on `context`
        // itself: no per-stage array of contexts, no copy of it (it holds the whole request: bench/results).
        var allowed: AuthorizationDecision.AllowReason = .noAllowPolicies
        for stage in effective.stages {
            var first: PolicyMatch?
            if let sp = stage.securityPolicy {
                let ids = stageIdentities[sp] ?? []
                if ids.isEmpty {
                    switch MatchContext(effective: effective, request: request, identity: nil, options: options).decide(stage) {
                    case .deny(let verdict): return decided(.deny(verdict))
                    case .allow(let m): first = m
                    }
                }
                for id in ids {
                    switch MatchContext(effective: effective, request: request, identity: id, options: options).decide(stage) {
                    case .deny(let verdict): return decided(.deny(verdict))
                    case .allow(let m): if first == nil { first = m }
                    }
                }
            } else {
                switch context.decide(stage) {
                case .deny(let verdict): return decided(.deny(verdict))
                case .allow(let m): first = m
                }
            }
            guard let m = first else { continue }
            allowMatches.append(m)
            if case .noAllowPolicies = allowed { allowed = .allowPolicyMatched(m) }
        }
        return decided(.allow(allowed))
    }
}

extension MatchContext {
    enum StageResult {
        /// Denied (a DENY matched, or no ALLOW did).
        case deny(AuthorizationDecision.DenyReason)
        /// Passed: the ALLOW match, nil when the stage has no ALLOW policy.
        case allow(PolicyMatch?)
    }

    /// One RBAC filter's answer: a matching DENY denies; with no ALLOW policy it passes; else an ALLOW must match.
    func decide(_ stage: AuthorizationStage) -> StageResult {
        for p in stage.denyPolicies {
            if let m = firstMatch(p) { return .deny(.denyPolicyMatched(m)) }
        }
        if stage.allowPolicies.isEmpty { return .allow(nil) }
        // A loop, not `lazy.compactMap(firstMatch).first`: on a collection that evaluates the match twice
        // (once to find `startIndex`, once in the subscript).
        for p in stage.allowPolicies {
            if let m = firstMatch(p) { return .allow(m) }
        }
        let summary = stage.allowPolicies.map { p in "\(p.ref): \(explainMismatch(p))" }.joined(separator: "; ")
        return .deny(.noAllowPolicyMatched(policies: stage.allowPolicies.map(\.ref), summary: summary))
    }
}

extension AuthorizationEvaluator {
    /// Whether `request` matches any of `operations` (an empty list matches every request), as an
    /// AuthorizationPolicy rule's `to` does. An operation that would match but for `ports`/`notPorts` on a
    /// destination port the front door did not report (`ConnectionFact.destination`) cannot be decided:
    /// `.undecided`, unless another operation matches outright.
    public static func match(_ operations: [Operation], request: RequestAttributes, effective: EffectivePolicy) -> OperationsMatch {
        guard !operations.isEmpty else { return .matches }
        let context = MatchContext(effective: effective, request: request, identity: nil, options: EvaluationOptions())
        var undecided: Set<ConnectionFact> = []
        for o in operations {
            var assumed: Set<ConnectionFact> = []
            guard context.mismatch(o, assumeUnreported: true, assumed: &assumed) == nil else { continue }
            if assumed.isEmpty { return .matches }
            undecided.formUnion(assumed)
        }
        return undecided.isEmpty ? .noMatch : .undecided(undecided)
    }

    /// Evaluates a request that carries several identities (one per verified token, in extraction order):
    /// it is allowed only if it would be allowed for each identity alone. So a DENY that matches any
    /// identity denies (a `requestPrincipals`, `notRequestPrincipals` or `request.auth.claims` DENY cannot
    /// be dodged by sending a second token first), every identity needs an ALLOW (the application may act
    /// on either token), and a `notValues` / `notRequestPrincipals` is checked against each. Adding a token
    /// never turns a denial into an allow. With one identity or none, `evaluate(_:request:identity:options:)`.
    ///
    /// The decision reported is the first identity's DENY match if any, else its first denial, else the
    /// first identity's allow; AUDIT matches are those of any identity; a dry-run policy matches as it would
    /// decide (a DENY or AUDIT if any identity matches, an ALLOW only if every identity does).
    public static func evaluate(_ effective: EffectivePolicy, request: RequestAttributes, identities: [RequestIdentity],
                                stageIdentities: [String: [RequestIdentity]] = [:],
                                options: EvaluationOptions = EvaluationOptions()) -> AuthorizationDecision {
        guard identities.count > 1 else {
            return evaluate(effective, request: request, identity: identities.first, stageIdentities: stageIdentities, options: options)
        }
        let each = identities.map { evaluate(effective, request: request, identity: $0, stageIdentities: stageIdentities, options: options) }
        func deniedByPolicy(_ d: AuthorizationDecision) -> Bool {
            if case .deny(.denyPolicyMatched) = d.verdict { return true }
            return false
        }
        let index = each.firstIndex(where: deniedByPolicy) ?? each.firstIndex { !$0.isAllowed } ?? 0
        var decision = each[index]
        decision.decidingIdentity = .init(index: index, count: identities.count, principal: identities[index].principal)
        var audit: [PolicyMatch] = []
        for m in each.flatMap(\.auditMatches) where !audit.contains(m) { audit.append(m) }
        decision.auditMatches = audit
        decision.dryRun = each[0].dryRun.indices.map { j in
            var result = each[0].dryRun[j]
            let matched = each.map { $0.dryRun[j].matchedRule }
            result.matchedRule = result.action == .allow
                ? (matched.allSatisfy { $0 != nil } ? matched[0] : nil)
                : matched.lazy.compactMap { $0 }.first
            return result
        }
        return decision
    }
}

extension RequestAttributes {
    /// `:path` as Envoy sent it (the `path` field, else the pseudo-header).
    var requestPath: String { path.isEmpty ? headers[":path"] ?? "" : path }
}

/// Per-request facts computed once, and the matchers. Field names returned by the `mismatch…`
/// functions are static strings, so the hot path does not allocate for explanations.
struct MatchContext {
    let effective: EffectivePolicy
    let request: RequestAttributes
    let identity: RequestIdentity?
    let path: String?
    let host: String
    let method: String
    let remoteIP: String
    /// The connection facts nobody reported (see `ConnectionFact`); `remote.ip` counts as unreported when
    /// it falls back to an unreported source address.
    let unreported: Set<ConnectionFact>
    let remoteIPUnreported: Bool
    let principal: String
    let splitClaims: Set<ExactKey>

    init(effective: EffectivePolicy, request: RequestAttributes, identity: RequestIdentity?, options: EvaluationOptions) {
        self.effective = effective
        self.request = request
        self.identity = identity
        path = PathNormalizer.normalize(request.requestPath)
        host = !request.host.isEmpty ? request.host : (request.headers[":authority"] ?? request.headers["host"] ?? "")
        method = !request.method.isEmpty ? request.method : (request.headers[":method"] ?? "")
        remoteIP = MatchContext.remoteAddress(request: request, trustedHops: options.numTrustedProxies)
        unreported = request.unreportedFacts
        remoteIPUnreported = unreported.contains(.sourceAddress) && MatchContext.remoteAddress(request: request,
            trustedHops: options.numTrustedProxies, fallback: nil) == nil
        principal = request.sourcePrincipal
        splitClaims = identity.map { effective.spaceDelimitedClaims(issuer: $0.issuer) } ?? []
    }

    /// The (N+1)-th address from the right of `x-forwarded-for`, else the connection peer. Split on the
    /// comma byte, as Envoy does (a combining mark after a comma must not merge two entries).
    static func remoteAddress(request: RequestAttributes, trustedHops: Int) -> String {
        remoteAddress(request: request, trustedHops: trustedHops, fallback: request.sourceIP)!
    }

    /// The address `x-forwarded-for` names, else `fallback`.
    static func remoteAddress(request: RequestAttributes, trustedHops: Int, fallback: String?) -> String? {
        guard let xff = request.headers["x-forwarded-for"], !xff.isEmpty else { return fallback }
        let entries = xff.bytesSplit(separator: UInt8(ascii: ","))
        let index = entries.count - 1 - max(0, trustedHops)
        guard index >= 0 else { return fallback }
        let candidate = entries[index].trimmingSpaces()
        return IPBlock.parseAddress(candidate) != nil ? candidate : fallback
    }

    /// The first rule of `policy` that matches, as a `PolicyMatch` with the policy's action.
    ///
    /// A condition on a metadata namespace Envoy did not send cannot be decided: it counts as matching
    /// in DENY and AUDIT policies (a wider deny, as istiod widens a DENY rule it cannot compile) and as
    /// failing in ALLOW policies, and the namespaces so assumed are named in the match.
    func firstMatch(_ policy: AuthorizationPolicy) -> PolicyMatch? {
        let assumeUnsent = policy.action != .allow
        for (i, rule) in policy.rules.enumerated() {
            var unsent: [String] = []
            var assumed: Set<ConnectionFact> = []
            if mismatch(rule, assumeUnsent: assumeUnsent, unsent: &unsent, assumed: &assumed) == nil {
                return PolicyMatch(policy: policy.ref, action: policy.action, ruleIndex: i, unsentMetadata: unsent,
                                   unreportedFacts: assumed.isEmpty ? [] : assumed.sorted())
            }
        }
        return nil
    }

    /// Why no rule of `policy` matched, for the deny reason.
    func explainMismatch(_ policy: AuthorizationPolicy) -> String {
        if policy.rules.isEmpty { return "no rules (an ALLOW policy with an empty spec matches nothing)" }
        let assumeUnsent = policy.action != .allow
        return policy.rules.enumerated().map { i, rule in
            var unsent: [String] = []
            var assumed: Set<ConnectionFact> = []
            return "rule[\(i)] \(mismatch(rule, assumeUnsent: assumeUnsent, unsent: &unsent, assumed: &assumed) ?? "matched")"
        }.joined(separator: ", ")
    }

    /// nil when the rule matches, else the first failing part.
    /// - Parameters:
    ///   - assumeUnsent: whether a condition on a metadata namespace Envoy did not send counts as
    ///     matching (DENY, AUDIT) or as failing (ALLOW).
    ///   - unsent: gets the namespaces a match assumed.
    ///   - assumed: gets the unreported connection facts a match assumed (same rule as `assumeUnsent`).
    func mismatch(_ rule: AuthorizationRule, assumeUnsent: Bool, unsent: inout [String], assumed: inout Set<ConnectionFact>) -> String? {
        if !rule.from.isEmpty {
            var firstFailure: String?
            var matched = false
            for s in rule.from {
                var facts: Set<ConnectionFact> = []
                if let f = mismatch(s, assumeUnreported: assumeUnsent, assumed: &facts) {
                    firstFailure = firstFailure ?? f
                } else {
                    assumed.formUnion(facts)
                    matched = true
                    break
                }
            }
            if !matched { return "from.source.\(firstFailure ?? "")" }
        }
        if !rule.to.isEmpty {
            var firstFailure: String?
            var matched = false
            for o in rule.to {
                var facts: Set<ConnectionFact> = []
                if let f = mismatch(o, assumeUnreported: assumeUnsent, assumed: &facts) {
                    firstFailure = firstFailure ?? f
                } else {
                    assumed.formUnion(facts)
                    matched = true
                    break
                }
            }
            if !matched { return "to.operation.\(firstFailure ?? "")" }
        }
        for (i, c) in rule.when.enumerated() {
            if case .envoyFilterMetadata(let key) = c.key, request.metadataContext[key.namespace] == nil {
                guard assumeUnsent else {
                    return "when[\(i)] \(c.key) (metadata namespace \(key.namespace) not sent by Envoy: list it in the ext_authz filter's metadata_context_namespaces)"
                }
                if !unsent.contains(key.namespace) { unsent.append(key.namespace) }
                continue
            }
            if let fact = unreportedFact(c.key) {
                guard assumeUnsent else { return "when[\(i)] \(c.key) (\(fact.rawValue) not reported by this front door)" }
                assumed.insert(fact)
                continue
            }
            if !matches(c) { return "when[\(i)] \(c.key)" }
        }
        return nil
    }

    // MARK: Source

    /// The unreported connection fact a `when` key reads, if any.
    func unreportedFact(_ key: ConditionKey) -> ConnectionFact? {
        guard !unreported.isEmpty else { return nil }
        let fact: ConnectionFact
        switch key {
        case .sourceIP: fact = .sourceAddress
        case .remoteIP: return remoteIPUnreported ? .sourceAddress : nil
        case .sourcePrincipal, .sourceNamespace, .sourceServiceAccount, .sourceTrustDomain: fact = .sourcePrincipal
        case .connectionSNI: fact = .sni
        case .destinationIP, .destinationPort: fact = .destination
        default: return nil
        }
        return unreported.contains(fact) ? fact : nil
    }

    /// `mismatch(_:)` when a field needs an unreported connection fact: in DENY and AUDIT rules
    /// (`assumeUnreported`) the fields on it count as matching and the fact goes to `assumed`; in ALLOW
    /// rules they fail, `not…` fields too.
    func mismatch(_ s: Source, assumeUnreported: Bool, assumed: inout Set<ConnectionFact>) -> String? {
        guard !unreported.isEmpty else { return mismatch(s) }
        var s = s
        let onPrincipal = !(s.principals.isEmpty && s.notPrincipals.isEmpty && s.namespaces.isEmpty && s.notNamespaces.isEmpty
            && s.serviceAccounts.isEmpty && s.notServiceAccounts.isEmpty && s.trustDomains.isEmpty && s.notTrustDomains.isEmpty)
        if onPrincipal && unreported.contains(.sourcePrincipal) {
            guard assumeUnreported else { return "principals (source.principal not reported by this front door)" }
            assumed.insert(.sourcePrincipal)
            s.principals = []; s.notPrincipals = []; s.namespaces = []; s.notNamespaces = []
            s.serviceAccounts = []; s.notServiceAccounts = []; s.trustDomains = []; s.notTrustDomains = []
        }
        if !(s.ipBlocks.isEmpty && s.notIpBlocks.isEmpty) && unreported.contains(.sourceAddress) {
            guard assumeUnreported else { return "ipBlocks (source.ip not reported by this front door)" }
            assumed.insert(.sourceAddress)
            s.ipBlocks = []; s.notIpBlocks = []
        }
        if !(s.remoteIpBlocks.isEmpty && s.notRemoteIpBlocks.isEmpty) && remoteIPUnreported {
            guard assumeUnreported else { return "remoteIpBlocks (no X-Forwarded-For, and source.ip not reported by this front door)" }
            assumed.insert(.sourceAddress)
            s.remoteIpBlocks = []; s.notRemoteIpBlocks = []
        }
        return mismatch(s)
    }

    func mismatch(_ s: Source) -> String? {
        if !s.principals.isEmpty && !s.principals.contains(where: matchesPrincipal) { return "principals" }
        if s.notPrincipals.contains(where: matchesPrincipal) { return "notPrincipals" }
        if !s.requestPrincipals.isEmpty && !s.requestPrincipals.contains(where: matchesRequestPrincipal) { return "requestPrincipals" }
        if s.notRequestPrincipals.contains(where: matchesRequestPrincipal) { return "notRequestPrincipals" }
        if !s.namespaces.isEmpty && !s.namespaces.contains(where: matchesNamespace) { return "namespaces" }
        if s.notNamespaces.contains(where: matchesNamespace) { return "notNamespaces" }
        if !s.ipBlocks.isEmpty && !s.ipBlocks.contains(where: { $0.contains(request.sourceIP) }) { return "ipBlocks" }
        if s.notIpBlocks.contains(where: { $0.contains(request.sourceIP) }) { return "notIpBlocks" }
        if !s.remoteIpBlocks.isEmpty && !s.remoteIpBlocks.contains(where: { $0.contains(remoteIP) }) { return "remoteIpBlocks" }
        if s.notRemoteIpBlocks.contains(where: { $0.contains(remoteIP) }) { return "notRemoteIpBlocks" }
        if !s.serviceAccounts.isEmpty && !s.serviceAccounts.contains(where: matchesServiceAccount) { return "serviceAccounts" }
        if s.notServiceAccounts.contains(where: matchesServiceAccount) { return "notServiceAccounts" }
        if !s.trustDomains.isEmpty && !s.trustDomains.contains(where: matchesTrustDomain) { return "trustDomains" }
        if s.notTrustDomains.contains(where: matchesTrustDomain) { return "notTrustDomains" }
        return nil
    }

    /// Istio compiles principals to `spiffe://<value>` matchers on the peer certificate's URI SAN:
    /// exact/prefix get the prefix, a suffix becomes `spiffe://.*<suffix>`, `*` any non-empty principal.
    /// Byte-wise, as Envoy's string matchers.
    func matchesPrincipal(_ p: StringPattern) -> Bool {
        guard !principal.isEmpty else { return false }
        let spiffe = "spiffe://"
        switch p {
        case .exact(let v): return principal.utf8.count == v.utf8.count + 9 && principal.bytesHavePrefix(spiffe) && principal.bytesHaveSuffix(v)
        case .prefix(let v): return principal.bytesHavePrefix(spiffe) && principal.utf8.dropFirst(9).starts(with: v.utf8)
        case .suffix(let v): return principal.utf8.count >= 9 + v.utf8.count && principal.bytesHavePrefix(spiffe) && principal.bytesHaveSuffix(v)
        case .presence: return true
        }
    }

    /// The token's `iss` and `sub` claims against the pattern's two halves (see `RequestPrincipalPattern`).
    func matchesRequestPrincipal(_ p: RequestPrincipalPattern) -> Bool {
        guard let identity else { return false }
        // `issuer` is the verified `iss`; `sub` from the claims, as a missing one must not match.
        return p.matches(issuer: identity.issuer, subject: identity.claims.exactValue(forKey: "sub")?.stringValue)
    }

    /// Istio compiles namespaces to regexes on the peer principal, every `*` of the value becoming `.*`
    /// (`srcNamespaceGenerator`): `ns` → `.*/ns/ns/.*`, `ns-*` → `.*/ns/ns-.*/.*`, `*` → `.*/ns/.*/.*`,
    /// and a `*` inside the value is a wildcard too (`team-*-prod`).
    func matchesNamespace(_ p: StringPattern) -> Bool {
        MatchContext.namespaceMatches(p, principal: principal)
    }

    static func namespaceMatches(_ p: StringPattern, principal: String) -> Bool {
        guard !principal.isEmpty else { return false }
        let u = Array(principal.utf8)
        let marker = Array("/ns/".utf8)
        let glob = Array(p.description.utf8)
        var i = 0
        while i + marker.count <= u.count {
            if u[i..<(i + marker.count)].elementsEqual(marker) {
                // `.*/ns/<glob>/.*`: the glob must match everything between this `/ns/` and some later `/`.
                let start = i + marker.count
                for end in start..<u.count where u[end] == UInt8(ascii: "/") && globMatches(glob[...], u[start..<end]) {
                    return true
                }
            }
            i += 1
        }
        return false
    }

    /// `*` matches any run of bytes (`/` included, as the regex's `.*`); every other byte itself.
    /// Greedy with one backtrack point (the last `*`): O(glob × text), whatever the number of stars.
    static func globMatches(_ glob: ArraySlice<UInt8>, _ text: ArraySlice<UInt8>) -> Bool {
        let star = UInt8(ascii: "*")
        var g = glob.startIndex, t = text.startIndex
        var starAt: Int? = nil, resumeAt = text.startIndex
        while t < text.endIndex {
            if g < glob.endIndex && glob[g] == star {
                starAt = g; resumeAt = t; g += 1
            } else if g < glob.endIndex && glob[g] == text[t] {
                g += 1; t += 1
            } else if let s = starAt {
                g = s + 1; resumeAt += 1; t = resumeAt
            } else {
                return false
            }
        }
        while g < glob.endIndex && glob[g] == star { g += 1 }
        return g == glob.endIndex
    }

    /// `ns/sa` as istiod's `serviceAccountRegex` (see `SpiffeIdentityMatch.serviceAccount`).
    func matchesServiceAccount(_ sa: String) -> Bool {
        guard let slash = sa.utf8.firstIndex(of: UInt8(ascii: "/")) else { return false }
        let ns = String(Substring(sa.utf8[..<slash])), name = String(Substring(sa.utf8[sa.utf8.index(after: slash)...]))
        return SpiffeIdentityMatch.serviceAccount(namespace: ns, name: name, principal: principal)
    }

    /// As istiod's `srcTrustDomainGenerator` (see `SpiffeIdentityMatch.trustDomain`).
    func matchesTrustDomain(_ p: StringPattern) -> Bool {
        SpiffeIdentityMatch.trustDomain(p, principal: principal)
    }

    // MARK: Operation

    /// `mismatch(_:)` when `ports`/`notPorts` need an unreported destination port: as for sources.
    func mismatch(_ o: Operation, assumeUnreported: Bool, assumed: inout Set<ConnectionFact>) -> String? {
        guard !(o.ports.isEmpty && o.notPorts.isEmpty) && unreported.contains(.destination) else { return mismatch(o) }
        guard assumeUnreported else { return "ports (destination.port not reported by this front door)" }
        var o = o
        o.ports = []; o.notPorts = []
        assumed.insert(.destination)
        return mismatch(o)
    }

    func mismatch(_ o: Operation) -> String? {
        if !o.hosts.isEmpty && !o.hosts.contains(where: { $0.matchesIgnoringCase(host) }) { return "hosts" }
        if o.notHosts.contains(where: { $0.matchesIgnoringCase(host) }) { return "notHosts" }
        if !o.ports.isEmpty && !o.ports.contains(request.destinationPort) { return "ports" }
        if o.notPorts.contains(request.destinationPort) { return "notPorts" }
        let methodMatches = { (p: StringPattern) in o.methodsIgnoreCase ? p.matchesIgnoringCase(method) : p.matches(method) }
        if !o.methods.isEmpty && !o.methods.contains(where: methodMatches) { return "methods" }
        if o.notMethods.contains(where: methodMatches) { return "notMethods" }
        if !o.paths.isEmpty && !o.paths.contains(where: { p in path.map(p.matches) ?? false }) { return "paths" }
        if o.notPaths.contains(where: { p in path.map(p.matches) ?? false }) { return "notPaths" }
        return nil
    }

    // MARK: Conditions

    /// Values: the attribute matches one of them; notValues: it matches none. A missing attribute
    /// fails `values` and satisfies `notValues` (Istio emits `not(match)`, which is true when absent).
    func matches(_ c: Condition) -> Bool {
        if !c.values.isEmpty && !c.values.contains(where: { attributeMatches(c.key, $0) }) { return false }
        if c.notValues.contains(where: { attributeMatches(c.key, $0) }) { return false }
        return true
    }

    func attributeMatches(_ key: ConditionKey, _ value: ConditionValue) -> Bool {
        switch (key, value) {
        case (.requestHeader(let name), .string(let p)):
            guard let header = request.headers.exactValue(forKey: name) else { return false }
            if case .presence = p { return true }   // Envoy present_match: any value, even empty
            // Envoy's HeaderMatcher matches the whole value, repeated headers joined with "," — exactly
            // what ext_authz sends — so "user,admin" does not equal "admin".
            return p.matches(header)
        case (.requestInlineHeader(let name), .string(let p)):
            guard let header = request.headers.exactValue(forKey: name) else { return false }
            return InlineHeaderMatch.matches(p, header)
        case (.sourceIP, .ip(let b)): return b.contains(request.sourceIP)
        case (.remoteIP, .ip(let b)): return b.contains(remoteIP)
        case (.destinationIP, .ip(let b)): return b.contains(request.destinationIP)
        case (.sourceNamespace, .string(let p)): return matchesNamespace(p)
        case (.sourcePrincipal, .string(let p)): return matchesPrincipal(p)
        case (.sourceServiceAccount, .string(.exact(let sa))): return matchesServiceAccount(sa)
        case (.sourceTrustDomain, .string(let p)): return matchesTrustDomain(p)
        case (.requestPrincipal, .requestPrincipal(let p)): return matchesRequestPrincipal(p)
        case (.requestAudiences, .string(let p)): return identity?.audiences.contains(where: { p.matches($0) }) ?? false
        case (.requestPresenter, .string(let p)):
            guard let azp = identity?.presenter else { return false }
            return p.matches(azp)
        case (.requestClaim(let path), .string(let p)):
            return claimMatches(path, p)
        case (.gatewayClaim(let path, let array), .string(let p)):
            return GatewayClaimMatch.matches(identity?.claims, path: path, array: array, p)
        case (.gatewayScope, .string(let p)):
            return GatewayClaimMatch.scopeMatches(identity?.claims, p)
        case (.gatewayProvider, .string(let p)):
            guard let provider = identity?.verifiedBy else { return false }
            return p.matches(provider)
        case (.destinationPort, .port(let port)): return request.destinationPort == port
        case (.connectionSNI, .string(let p)): return !request.sni.isEmpty && p.matches(request.sni)
        case (.envoyFilterMetadata(let key), .metadata(let p)):
            // A sent namespace without the field is a missing attribute: `values` fail, `notValues` pass
            // (Envoy's metadata matcher sees an unset Value).
            return p.matches(request.metadataContext[key.namespace]?[key.field])
        default: return false
        }
    }

    /// Whether one of `claimValues(path)` matches `p`, without building the list: the words of an
    /// ASCII space-delimited claim (`scope`) are matched in place.
    func claimMatches(_ path: [String], _ p: StringPattern) -> Bool {
        guard let identity, let first = path.first, path.count == 1, case .string(let s)? = identity.claims.exactValue(forKey: first),
              splitClaims.contains(ExactKey(first)), s.utf8.allSatisfy({ $0 < 0x80 })
        else { return claimValues(path)?.contains(where: { p.matches($0) }) ?? false }
        // ASCII: every byte is a Character, so splitting on the byte 0x20 is `split(separator: " ")`.
        let utf8 = s.utf8
        var start = utf8.startIndex
        var i = start
        while true {
            if i == utf8.endIndex || utf8[i] == UInt8(ascii: " ") {
                if i > start, p.matches(s[start..<i]) { return true }
                if i == utf8.endIndex { return false }
                start = utf8.index(after: i)
            }
            i = utf8.index(after: i)
        }
    }

    /// A claim as the list of strings Istio matches against: a string (split on spaces for `scope`,
    /// `scp`, `permission` and `spaceDelimitedClaims`), each element of a list, and — beyond Istio —
    /// booleans and numbers as their text (`true`, `42`).
    /// Claim names are looked up byte for byte (`exactValue`), as Envoy's metadata matcher reads its path.
    func claimValues(_ path: [String]) -> [String]? {
        guard let identity, let first = path.first, var value = identity.claims.exactValue(forKey: first) else { return nil }
        for key in path.dropFirst() {
            guard let next = value.objectValue?.exactValue(forKey: key) else { return nil }
            value = next
        }
        switch value {
        case .string(let s):
            // Envoy's normalize_payload_in_metadata splits on the space byte, dropping empty words.
            if path.count == 1 && splitClaims.contains(ExactKey(first)) {
                return s.bytesSplit(separator: UInt8(ascii: " ")).filter { !$0.isEmpty }.map(String.init)
            }
            return [s]
        case .array(let items): return items.compactMap(\.scalarText)
        case .bool, .number: return value.scalarText.map { [$0] }
        default: return nil
        }
    }
}

extension Substring {
    /// Without leading and trailing space and tab bytes.
    func trimmingSpaces() -> String {
        var u = utf8[...]
        while let f = u.first, f == UInt8(ascii: " ") || f == UInt8(ascii: "\t") { u = u.dropFirst() }
        while let l = u.last, l == UInt8(ascii: " ") || l == UInt8(ascii: "\t") { u = u.dropLast() }
        return String(Substring(u))
    }
}
