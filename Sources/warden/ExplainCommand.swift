import Foundation
import WardenSync
import WardenAuthz
import WardenCrypto
import WardenJWKS
import WardenPolicy

/// `warden explain`: decides one request offline through the real `CheckService`, once, and renders the
/// `DecisionRecord` it returns as the 401/403 walk (`ExplainWalk`). Nothing is verified here: the verdict,
/// the exit status and every ✓/✗ come from that one check.
struct ExplainCommand {
    let options: ExplainOptions

    func run() -> Int32 {
        let policies: PolicySet
        do throws(PolicyLoadFailure) {
            policies = try PolicySource(paths: options.policyPaths).load()
        } catch {
            for e in error.errors { printErr("error: \(e)") }
            printErr("warden: policies not loaded (\(error.errors.count) error(s)); run `warden validate` for details")
            return 2
        }
        // What serve refuses to start (or reload) with, explain refuses to decide with.
        let refused = options.noTargets ? [] : policies.admissionErrors(for: options.scope)
        if !refused.isEmpty {
            for e in refused { printErr("error: \(e)") }
            printErr("warden: refusing to decide: warden serve would not start with these policies and --target values")
            return 2
        }
        var jwksBytes: [UInt8]?
        if let file = options.jwksFile {
            guard let data = FileManager.default.contents(atPath: file) else {
                printErr("warden: cannot read --jwks \(file)")
                return 2
            }
            jwksBytes = [UInt8](data)
        }
        let now = options.now ?? Date().timeIntervalSince1970
        let store = JWKSStore(configuration: JWKSStoreConfiguration(fetchTimeout: 5, logger: { _ in }),
                              fetcher: options.fetch ? nil : OfflineJWKSFetcher(jwks: jwksBytes))
        var authz = AuthzOptions()
        authz.clockSkew = options.clockSkew
        authz.requireExpiration = options.requireExpiration
        authz.maxTokenBytes = options.maxTokenBytes
        authz.numTrustedProxies = options.numTrustedProxies
        authz.debugHeaders = options.debugHeaders
        if let file = options.dpopNonceKeyFile {
            do throws(UsageError) {
                authz.dpopNonces = try DPoPNonceKeyFile.load(file, lifetime: options.dpopNonceLifetime ?? DPoPNonceKeyFile.defaultLifetime)
            } catch {
                printErr("warden: \(error)")
                return 2
            }
        }
        let service = CheckService(policies: policies, scope: options.scope, keyStore: store, options: authz,
                                   introspectionTransport: options.fetch ? nil : OfflineIntrospection(), clock: { now })

        var request = RequestAttributes()
        request.method = options.method
        request.path = options.path
        request.host = options.host
        request.scheme = options.scheme
        for (name, value) in options.headers {
            request.headers[name] = request.headers[name].map { $0 + "," + value } ?? value
        }
        // Envoy's CheckRequest carries the pseudo-headers among the headers, where jwt_authn header matches
        // (`:method`, `:authority`) and `request.headers[:authority]` conditions read them.
        for (name, value) in [(":method", options.method), (":path", options.path), (":authority", options.host), (":scheme", options.scheme)]
        where request.headers[name] == nil && !value.isEmpty {
            request.headers[name] = value
        }
        request.sourcePrincipal = options.sourcePrincipal
        if let file = options.peerCertificate {
            guard let data = FileManager.default.contents(atPath: file) else {
                printErr("warden: cannot read --peer-certificate \(file)")
                return 2
            }
            do throws(CryptoError) {
                let pem = String(decoding: data, as: UTF8.self)
                request.sourcePrincipal = try PeerCertificate.principal(pem: pem)
                request.sourceCertificate = pem  // for certificate-bound tokens (cnf x5t#S256)
            } catch {
                printErr("warden: --peer-certificate \(file): no certificate (\(error))")
                return 2
            }
        }
        request.sourceIP = options.sourceIP
        request.sourcePort = options.sourcePort
        request.destinationIP = options.destinationIP
        request.destinationPort = options.destinationPort
        request.sni = options.sni
        request.contextExtensions = options.contextExtensions
        request.metadataContext = options.metadata

        // A dry-run check never waits for keys (serve's refresher fetches them right after loading): fetch
        // every source first, as serve would have by then, so the dry-run part says what serve answers.
        if service.plan.policies.requestAuthentications.contains(where: \.dryRun) {
            for source in service.plan.sources {
                let fetched = DispatchSemaphore(value: 0)
                store.keys(for: source) { _ in fetched.signal() }
                _ = fetched.wait(timeout: .now() + 15)
            }
        }
        let result = Self.check(request, with: service)
        let walk = ExplainWalk(options: options, authz: authz, policies: policies, request: request, result: result, now: now)
        print(walk.render().joined(separator: "\n"))
        return result.decision.isAllowed ? 0 : 1
    }

    /// One check, exactly as serve runs it; waits for keys the check may fetch.
    private static func check(_ request: RequestAttributes, with service: CheckService) -> CheckResult {
        let done = DispatchSemaphore(value: 0)
        let box = Locked<CheckResult?>(nil)
        service.check(request) { result in
            box.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        return box.withLock { $0 }!
    }
}
