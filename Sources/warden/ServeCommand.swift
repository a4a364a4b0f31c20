import WardenJSON
import Foundation
import Synchronization
import WardenAdmin
import WardenAuthz
import WardenExtAuthz
import WardenGRPC
import WardenHTTPServer
import WardenJWKS
import WardenJWT
import WardenPolicy
import WardenOTLP
import WardenTrace
import WardenRedis
import WardenRedis

/// `warden serve`: wires the gRPC server, the admin endpoint, the policy set and the key store.
struct ServeCommand {
    static let checkMethod = "/envoy.service.auth.v3.Authorization/Check"
    static let healthMethod = "/grpc.health.v1.Health/Check"
    static let serviceName = "envoy.service.auth.v3.Authorization"

    let options: ServeOptions

    func run() -> Int32 {
        // Before any thread exists (gRPC's included), so every thread inherits the mask and main can sigwait.
        ProcessSignals.blockTerminationSignals()
        // libcurl runs with NOSIGNAL, so a peer closing a socket must not kill the process.
        signal(SIGPIPE, SIG_IGN)
        let log = Logger(level: options.logLevel, format: options.logFormat)
        for warning in options.warnings { log.warn(warning) }
        let source = PolicySource(paths: options.policyPaths)
        let scope = WorkloadScope(namespace: options.namespace, labels: options.workloadLabels,
                                  rootNamespace: options.rootNamespace, targets: options.targets.compactMap(TargetRef.init(flag:)))
        let policies: PolicySet
        do {
            policies = try Self.admissible(source.load(), scope: scope, options: options)
        } catch {
            for e in error.errors { log.error("invalid policy", [("error", .string(e.description))]) }
            printErr("warden: policies not loaded (\(error.errors.count) error(s)); first: \(error.errors.first?.description ?? "?")")
            return 1
        }
        for note in policies.notes where note.level == .info { log.info("policy note", [("note", .string(String(describing: note)))]) }

        let store = JWKSStore(configuration: JWKSStoreConfiguration(
            cacheDuration: options.jwksCacheDuration, fetchTimeout: options.jwksFetchTimeout, maxStaleness: options.jwksMaxStaleness,
            cacheDirectory: options.cacheDir,
            // Waiting checks hold their gRPC call slots: all sources together may hold at most half of them.
            maxWaitersPerSource: options.jwksMaxWaiters,
            maxWaiters: max(options.jwksMaxWaiters, options.threads * GRPCServerConfiguration.defaultCallsPerThread / 2),
            logger: { line in log.info("jwks", [("detail", .string(line))]) }))
        var authz = AuthzOptions()
        authz.clockSkew = options.clockSkew
        authz.requireExpiration = options.requireExpiration
        authz.maxTokenBytes = options.maxTokenBytes
        authz.numTrustedProxies = options.numTrustedProxies
        authz.debugHeaders = options.debugHeaders
        authz.jwksFiles = options.jwksFiles
        authz.dpopProofWindow = options.dpopProofWindow
        authz.dpopReplayFallbackToLocal = options.dpopReplayFallbackToLocal
        if let file = options.dpopNonceKeyFile {
            do throws(UsageError) {
                authz.dpopNonces = try DPoPNonceKeyFile.load(file, lifetime: options.dpopNonceLifetime ?? DPoPNonceKeyFile.defaultLifetime)
            } catch {
                printErr("warden: \(error)")
                return 1
            }
        }
        var replayStore: (any ReplayStore)?
        if let address = options.dpopReplayRedis, let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) {
            var password: String?
            if let file = options.dpopReplayRedisPasswordFile {
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                    printErr("warden: cannot read --dpop-replay-redis-password-file \(file)")
                    return 1
                }
                password = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
            }
            let host = String(address[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            do throws(RedisError) {
                replayStore = RedisReplayStore(client: try RedisClient(host: host, port: port, timeout: options.dpopReplayRedisTimeout,
                                                                       password: password, maxConnections: options.threads))
            } catch {
                printErr("warden: --dpop-replay-redis \(address): \(error)")
                return 1
            }
        }
        authz.defaultDeadline = options.defaultDeadline
        authz.shedMargin = options.shedMargin
        let exporter = options.otlpEndpoint.map { SpanExporter.forServe(url: $0, options: options, log: log) }
        let tracer = exporter.map {
            CheckTracer(sampler: TraceSampler(ratio: options.traceSampleRatio), sink: $0, endUserID: options.traceEndUserID,
                        redactClaims: options.redactClaims, maxTokenBytes: options.maxTokenBytes)
        }
        let service = CheckService(policies: policies, scope: scope, keyStore: store, options: authz,
                                   tokenCache: (options.tokenCacheSize, options.tokenCacheBytes),
                                   decisionLog: DecisionLog(logger: log, redactClaims: options.redactClaims, maxTokenBytes: options.maxTokenBytes),
                                   replayStore: replayStore, tracer: tracer,
                                   clock: { Date().timeIntervalSince1970 })
        let state = ServerState(service: service, store: store, log: log, options: options, exporter: exporter)
        state.logWarnings(policies)  // warning-level notes (skipped documents) are among them

        let server: GRPCServer
        do {
            var tls: TLSConfiguration?
            if let cert = options.tlsCert, let key = options.tlsKey {
                tls = TLSConfiguration(certificateChainPath: cert, privateKeyPath: key, clientCAPath: options.tlsClientCA)
            }
            server = try GRPCServer(
                configuration: GRPCServerConfiguration(listen: options.listen, threads: options.threads,
                                                       maxReceiveMessageBytes: options.maxRequestBytes, tls: tls,
                                                       maxConcurrentStreams: options.maxConcurrentStreams,
                                                       capturedMetadata: tracer == nil ? [] : CheckTracer.contextHeaders),
                handlers: [ServeCommand.checkMethod: state.checkHandler(), ServeCommand.healthMethod: state.healthHandler()])
        } catch {
            printErr("warden: cannot serve gRPC on \(options.listen): \(error)")
            return 1
        }
        let admin: AdminServer
        do {
            admin = try AdminServer(listen: options.adminListen, handler: state.adminHandler())
        } catch {
            printErr("warden: cannot serve admin HTTP on \(options.adminListen): \(error)")
            server.shutdown(gracePeriod: 0)
            return 1
        }

        var front: HTTPServer?
        if let listen = options.httpListen {
            var configuration = HTTPServer.Configuration(listen: listen)
            configuration.threads = options.threads
            configuration.connectionLimit = 4096
            configuration.idleTimeoutSeconds = 60
            configuration.maxHeaderBytes = options.httpMaxHeaderBytes
            configuration.http2PriorKnowledge = true
            configuration.maxConcurrentStreams = min(100, options.maxConcurrentStreams)
            configuration.maxHTTP2Connections = options.httpMaxH2CConnections
            do {
                front = try HTTPServer(configuration: configuration, handler: state.httpHandler())
            } catch {
                printErr("warden: cannot serve the HTTP front door on \(listen): \(error)")
                server.shutdown(gracePeriod: 0)
                admin.stop()
                return 1
            }
        }

        store.start()
        exporter?.start()
        server.start()
        state.markServing()
        log.info("warden serving", [("listen", .string(options.listen)), ("grpc_port", .number(Double(server.port))),
                                     ("admin", .string(options.adminListen)), ("admin_port", .number(Double(admin.port))),
                                     ("http", .string(options.httpListen ?? "off")), ("http_port", .number(Double(front?.port ?? 0))),
                                     ("policies", .number(Double(policies.authorizationPolicies.count + policies.requestAuthentications.count))),
                                     ("threads", .number(Double(options.threads)))])
        let reloader = PolicyReloader(source: source, state: state, interval: options.reloadInterval)
        reloader.start()

        while true {
            let signal = ProcessSignals.waitForTerminationSignal(additional: [SIGHUP])
            if signal == SIGHUP {
                log.info("SIGHUP: reloading policies")
                reloader.reloadNow(force: true)
                continue
            }
            log.info("shutting down", [("signal", .number(Double(signal))), ("grace_seconds", .number(options.shutdownGrace))])
            break
        }
        state.markShuttingDown()
        // Proxies stop reusing their HTTP/1.1 connections to the front door (each closes after its next answer).
        front?.beginDraining()
        if options.drainDelay > 0 {
            // Health answers NOT_SERVING and /readyz 503 while checks are still served, so Envoy's health
            // checks (or Kubernetes endpoints) move traffic away before the listener closes.
            log.info("draining", [("seconds", .number(options.drainDelay))])
            Thread.sleep(forTimeInterval: options.drainDelay)
        }
        reloader.stop()
        // Both listeners drain at once: each stops accepting, then lets its checks in flight finish.
        let frontStopped = DispatchGroup()
        if let front {
            DispatchQueue.global().async(group: frontStopped) { [grace = options.shutdownGrace] in front.stop(gracePeriod: grace) }
        }
        server.shutdown(gracePeriod: options.shutdownGrace)
        frontStopped.wait()
        admin.stop()
        store.stop()
        exporter?.shutdown()  // what is queued goes out, bounded by --otlp-timeout
        log.info("stopped")
        return 0
    }

    /// `set`, unless it has targetRefs resources in scope and this Warden was told neither its targets nor
    /// `--target none` (they would be skipped, which can fail open), or its `--target`s select different
    /// SecurityPolicies in any namespace a check can select (a check cannot say which route it is on): then a load
    /// failure naming each one (`PolicySet.admissionErrors`, which `warden explain` applies too).
    static func admissible(_ set: PolicySet, scope: WorkloadScope, options: ServeOptions) throws(PolicyLoadFailure) -> PolicySet {
        guard !options.noTargets else { return set }
        let errors = set.admissionErrors(for: scope)
        if !errors.isEmpty { throw PolicyLoadFailure(errors: errors) }
        return set
    }
}
