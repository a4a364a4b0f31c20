import Synchronization
import WardenJWKS
import WardenJWT
import WardenPolicy

/// The path one check runs through: extract tokens → authenticate → authorize → response.
/// Thread-safe; policies are swapped atomically with `install(_:)`.
public final class CheckPipeline: Sendable {
    public let options: AuthzOptions
    public let scope: WorkloadScope
    public let keyStore: JWKSStore
    public let tokenCache: VerifiedTokenCache?
    private let clock: @Sendable () -> Double
    private let current: Mutex<PolicyGeneration>
    private let authenticator: Authenticator
    private let responses: ResponseBuilder

    public init(policies: PolicySet, scope: WorkloadScope, keyStore: JWKSStore, tokenCache: VerifiedTokenCache?,
                options: AuthzOptions = AuthzOptions(), clock: @escaping @Sendable () -> Double) {
        self.options = options
        self.scope = scope
        self.keyStore = keyStore
        self.tokenCache = tokenCache
        self.clock = clock
        current = Mutex(PolicyGeneration(policies: policies, number: 1, options: options, defaultScope: scope))
        authenticator = Authenticator(keyStore: keyStore, tokenCache: tokenCache, options: options)
        responses = ResponseBuilder(options: options)
        registerSources(of: policies)
    }

    /// Checks whose token signature was answered by the parsed-token memo in front of `tokenCache`
    /// (add to the cache's hits: they are verified-token cache hits that skipped the hashing).
    public var recentTokenHits: Int { authenticator.recent?.hits ?? 0 }

    /// The policy generation new checks run on.
    public var generation: PolicyGeneration { current.withLock { $0 } }

    /// Swaps in a new, fully validated policy set; checks in flight finish on the old one.
    @discardableResult
    public func install(_ policies: PolicySet) -> Int {
        registerSources(of: policies)
        let number = current.withLock { gen in
            gen = PolicyGeneration(policies: policies, number: gen.number + 1, options: options, defaultScope: scope)
            return gen.number
        }
        return number
    }

    /// Every JWKS source named by any rule (any scope: context_extensions can select other namespaces).
    public func sources(of policies: PolicySet) -> [JWKSSource] {
        var seen = Set<JWKSSource>()
        return policies.requestAuthentications.flatMap(\.jwtRules).map { keySource(for: $0) }.filter { seen.insert($0).inserted }
    }

    /// Where the keys for `rule` come from: `--jwks-file` for its issuer, else the rule's own source.
    public func keySource(for rule: JWTRule) -> JWKSSource { JWTProvider.source(of: rule, options: options) }

    /// Registers every source with its fetch timeout: the `timeout` of the last rule naming the source
    /// that sets one (rules sharing a `jwksUri` share one fetch), else nil = `--jwks-fetch-timeout`.
    /// Every install registers again, so a reload that changes or drops a `timeout` takes effect.
    /// `--jwks-file` sources are files: no timeout applies.
    private func registerSources(of policies: PolicySet) {
        var timeouts: [JWKSSource: Double] = [:]
        for rule in policies.requestAuthentications.flatMap(\.jwtRules) {
            let source = keySource(for: rule)
            if let timeout = rule.timeoutSeconds, source.isRemote { timeouts[source] = timeout }
        }
        for s in sources(of: policies) { keyStore.register(s, fetchTimeout: timeouts[s]) }
    }

    /// Decides one request; `completion` runs exactly once, on this thread when no key fetch is needed.
    public func check(_ request: RequestAttributes, completion: @escaping @Sendable (CheckOutcome) -> Void) {
        let gen = generation
        let compiled = request.contextExtensions.isEmpty
            ? gen.defaultCompiled : gen.compiled(for: scope.applying(contextExtensions: request.contextExtensions))
        let tokens = request.isCORSPreflight ? [] : compiled.extractor.extract(from: request)
        let now = clock()
        if tokens.isEmpty {
            return completion(authorize(request, tokens: [], scope: compiled, generation: gen.number))
        }
        authenticator.authenticate(tokens, scope: compiled, now: now) { [self] result in
            switch result {
            case .failure(let f):
                completion(responses.tokenDenied(f, request: request, generation: gen.number))
            case .success(let verified):
                completion(authorize(request, tokens: verified, scope: compiled, generation: gen.number))
            }
        }
    }

    private func authorize(_ request: RequestAttributes, tokens: [VerifiedToken], scope: CompiledScope, generation: Int) -> CheckOutcome {
        let identity = tokens.first?.identity
        let decision = AuthorizationEvaluator.evaluate(scope.effective, request: request, identity: identity,
                                                       options: EvaluationOptions(numTrustedProxies: options.numTrustedProxies))
        if decision.isAllowed {
            // One remembered token from a header, no debug headers: the answer is the one built last
            // time for this token and scope (RememberedAllow), encoded once.
            if tokens.count == 1, !options.debugHeaders, let entry = tokens[0].remembered,
               case .header(let headerName, _) = tokens[0].extracted.location {
                if let last = entry.allowAnswer.withLock({ $0 }), last.scope === scope, last.headerName == headerName {
                    var outcome = CheckOutcome(decision: .allow(last.response), authorization: decision, reasonCode: "allowed",
                                               principal: identity?.principal, generation: generation)
                    outcome.encodedResponse = last.encoded
                    return outcome
                }
                var outcome = responses.allowed(decision, request: request, tokens: tokens, scope: scope,
                                                principal: identity?.principal, generation: generation)
                if case .allow(let ok) = outcome.decision {
                    let encoded = outcome.serializedCheckResponse()
                    outcome.encodedResponse = encoded
                    entry.allowAnswer.withLock { $0 = RememberedAllow(scope: scope, headerName: headerName, response: ok, encoded: encoded) }
                }
                return outcome
            }
            return responses.allowed(decision, request: request, tokens: tokens, scope: scope, principal: identity?.principal, generation: generation)
        }
        return responses.policyDenied(decision, principal: identity?.principal, generation: generation)
    }
}
