import Foundation
import Synchronization
import WardenAdmin
import WardenAuthz
import WardenExtAuthz
import WardenGRPC
import WardenJSON
import WardenJWKS
import WardenJWT
import WardenPolicy

/// What the handlers share: the pipeline, the key store, readiness, metrics and logging.
final class ServerState: Sendable {
    let pipeline: CheckPipeline
    let store: JWKSStore
    let log: Logger
    let options: ServeOptions
    let metrics = Metrics()
    private let serving = Atomic<Bool>(false)
    private let shuttingDown = Atomic<Bool>(false)
    private let startedAt = Date().timeIntervalSince1970
    private let lastReloadError = Mutex<String?>(nil)

    init(pipeline: CheckPipeline, store: JWKSStore, log: Logger, options: ServeOptions) {
        self.pipeline = pipeline
        self.store = store
        self.log = log
        self.options = options
    }

    func markServing() { serving.store(true, ordering: .releasing) }
    func markShuttingDown() { shuttingDown.store(true, ordering: .releasing) }

    // MARK: policies

    func install(_ set: PolicySet) {
        let generation = pipeline.install(set)
        metrics.recordReload(ok: true)
        lastReloadError.withLock { $0 = nil }
        log.info("policies reloaded", [("generation", .number(Double(generation))),
                                       ("resources", .number(Double(set.authorizationPolicies.count + set.requestAuthentications.count)))])
    }

    func reloadFailed(_ failure: PolicyLoadFailure) {
        metrics.recordReload(ok: false)
        let first = failure.errors.first?.description ?? "unknown error"
        lastReloadError.withLock { $0 = first }
        for e in failure.errors {
            log.error("policy reload rejected; the last good policies keep serving", [("error", .string(e.description))])
        }
    }

    // MARK: gRPC handlers

    func checkHandler() -> UnaryHandler {
        if options.benchConstantAllow {
            let answer = CheckResponse(.allow(AllowResponse())).serializedBytes()
            return { call in call.respond(.response(answer)) }
        }
        return { [self] call in
            let start = DispatchTime.now().uptimeNanoseconds
            let request: CheckRequest
            do throws(ProtobufDecodeError) {
                request = try CheckRequest(serializedBytes: call.request)
            } catch {
                metrics.recordInvalidRequest()
                log.warn("malformed CheckRequest", [("error", .string(error.description)), ("peer", .string(call.peer))])
                return call.respond(.failure(.invalidArgument, "malformed CheckRequest: \(error)"))
            }
            let attributes = RequestAttributes(request)
            metrics.inFlight.add(1, ordering: .relaxed)
            pipeline.check(attributes) { [self] outcome in
                call.respond(.response(CheckResponse(outcome.decision).serializedBytes()))
                metrics.inFlight.subtract(1, ordering: .relaxed)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                metrics.recordCheck(allowed: outcome.decision.isAllowed, reason: outcome.reasonCode, seconds: seconds)
                logDecision(attributes, outcome, seconds: seconds)
            }
        }
    }

    func healthHandler() -> UnaryHandler {
        { [self] call in
            guard let req = try? HealthCheckRequest(serializedBytes: call.request) else {
                return call.respond(.failure(.invalidArgument, "malformed HealthCheckRequest"))
            }
            guard req.service.isEmpty || req.service == ServeCommand.serviceName else {
                return call.respond(.failure(.notFound, "unknown service \(req.service)"))
            }
            let up = serving.load(ordering: .acquiring) && !shuttingDown.load(ordering: .acquiring)
            call.respond(.response(HealthCheckResponse(status: up ? .serving : .notServing).serializedBytes()))
        }
    }

    // MARK: decision log

    private func logDecision(_ r: RequestAttributes, _ o: CheckOutcome, seconds: Double) {
        let level: LogLevel = o.decision.isAllowed ? .debug : .info
        guard log.enabled(level) else { return }
        var fields: [(String, JSONValue)] = [
            ("request_id", .string(r.requestID)), ("method", .string(r.method)), ("host", .string(r.host)),
            ("path", .string(Self.pathWithoutSecrets(r.path))), ("decision", .string(o.decision.isAllowed ? "allow" : "deny")),
            ("status", .number(Double(o.decision.httpStatus))), ("reason", .string(o.reason)), ("reason_code", .string(o.reasonCode)),
        ]
        if let p = o.policy { fields.append(("policy", .string(p))) }
        if let p = o.principal { fields.append(("principal", .string(p))) }
        fields.append(("latency_ms", .number((seconds * 1e6).rounded() / 1e3)))
        log.log(level, "decision", fields)
    }

    /// The path with query values dropped: a token may ride in `?access_token=`.
    static func pathWithoutSecrets(_ path: String) -> String {
        guard let q = path.firstIndex(of: "?") else { return path }
        let names = path[path.index(after: q)...].split(separator: "&").map { $0.split(separator: "=", maxSplits: 1).first.map(String.init) ?? "" }
        return String(path[..<q]) + "?" + names.map { $0 + "=…" }.joined(separator: "&")
    }

    // MARK: admin

    /// Ready when serving and every key source has keys or has finished its first fetch attempt
    /// (or `--ready-timeout` has passed since start).
    func readiness() -> (ready: Bool, reason: String) {
        guard serving.load(ordering: .acquiring) else { return (false, "gRPC server not started") }
        if shuttingDown.load(ordering: .acquiring) { return (false, "shutting down") }
        let waiting = store.status().filter { !$0.available && $0.lastError == nil }
        if !waiting.isEmpty && Date().timeIntervalSince1970 - startedAt < options.readyTimeout {
            return (false, "waiting for the first JWKS fetch: " + waiting.map { $0.source.description }.joined(separator: ", "))
        }
        return (true, "ready")
    }

    func adminHandler() -> @Sendable (AdminRequest) -> AdminResponse {
        { [self] req in
            guard req.method == "GET" || req.method == "HEAD" else { return AdminResponse(status: 405, body: "method not allowed\n") }
            switch req.path {
            case "/healthz":
                return .text("ok\n")
            case "/readyz":
                let r = readiness()
                return .text(r.reason + "\n", status: r.ready ? 200 : 503)
            case "/metrics":
                var out = ""
                metrics.render(into: &out)
                renderStoreMetrics(into: &out)
                return AdminResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: out)
            default:
                return .notFound
            }
        }
    }

    private func renderStoreMetrics(into out: inout String) {
        let gen = pipeline.generation.number
        out += "# HELP warden_policy_generation Loaded policy generation (1 at start, +1 per successful reload).\n# TYPE warden_policy_generation gauge\n"
        out += "warden_policy_generation \(gen)\n"
        if let c = pipeline.tokenCache?.statistics {
            out += "# HELP warden_token_cache_hits_total Verified-token cache hits.\n# TYPE warden_token_cache_hits_total counter\nwarden_token_cache_hits_total \(c.hits)\n"
            out += "# HELP warden_token_cache_misses_total Verified-token cache misses.\n# TYPE warden_token_cache_misses_total counter\nwarden_token_cache_misses_total \(c.misses)\n"
            out += "# HELP warden_token_cache_entries Verified-token cache size.\n# TYPE warden_token_cache_entries gauge\nwarden_token_cache_entries \(c.count)\n"
        }
        let statuses = store.status()
        let now = Date().timeIntervalSince1970
        out += "# HELP warden_jwks_fetches_total JWKS fetches by source and result.\n# TYPE warden_jwks_fetches_total counter\n"
        for s in statuses {
            let src = Metrics.escape(s.uri ?? s.source.description)
            out += "warden_jwks_fetches_total{source=\"\(src)\",result=\"success\"} \(s.fetches.succeeded)\n"
            out += "warden_jwks_fetches_total{source=\"\(src)\",result=\"failed\"} \(s.fetches.failed)\n"
            out += "warden_jwks_fetches_total{source=\"\(src)\",result=\"not_modified\"} \(s.fetches.notModified)\n"
        }
        out += "# HELP warden_jwks_keys Usable keys per source.\n# TYPE warden_jwks_keys gauge\n"
        for s in statuses { out += "warden_jwks_keys{source=\"\(Metrics.escape(s.uri ?? s.source.description))\"} \(s.keyCount)\n" }
        out += "# HELP warden_jwks_age_seconds Age of the last good keys per source.\n# TYPE warden_jwks_age_seconds gauge\n"
        for s in statuses {
            if let f = s.fetchedAt { out += "warden_jwks_age_seconds{source=\"\(Metrics.escape(s.uri ?? s.source.description))\"} \(now - f)\n" }
        }
        out += "# HELP warden_jwks_unknown_kid_refetches_total Refetches triggered by an unknown kid.\n# TYPE warden_jwks_unknown_kid_refetches_total counter\n"
        for s in statuses { out += "warden_jwks_unknown_kid_refetches_total{source=\"\(Metrics.escape(s.uri ?? s.source.description))\"} \(s.unknownKidRefetches)\n" }
    }
}
