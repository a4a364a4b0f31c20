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
    let lastReloadError = Mutex<String?>(nil)

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
            // Straight from the bytes to the fields Warden reads; rejects what CheckRequest(serializedBytes:) rejects.
            let request: CheckRequestEssentials
            do throws(ProtobufDecodeError) {
                request = try CheckRequestEssentials(serializedBytes: call.request)
            } catch {
                metrics.recordInvalidRequest()
                log.warn("malformed CheckRequest", [("error", .string(error.description)), ("peer", .string(call.peer))])
                return call.respond(.failure(.invalidArgument, "malformed CheckRequest: \(error)"))
            }
            // Envoy sets CheckRequest's http.id from x-request-id; the header is the fallback.
            let httpID = request.httpID
            let attributes = RequestAttributes(request)
            metrics.inFlight.add(1, ordering: .relaxed)
            let requestID = httpID.isEmpty ? attributes.requestID : httpID
            pipeline.check(attributes) { [self] outcome in
                let answer = outcome.serializedCheckResponse()
                // Counted before answering, so a client that saw its answer also sees it in /metrics.
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                metrics.recordCheck(allowed: outcome.decision.isAllowed, reason: outcome.reasonCode, seconds: seconds)
                metrics.inFlight.subtract(1, ordering: .relaxed)
                call.respond(.response(answer))
                logDecision(attributes, outcome, requestID: requestID, seconds: seconds)
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

    private func logDecision(_ r: RequestAttributes, _ o: CheckOutcome, requestID: String, seconds: Double) {
        let level: LogLevel = o.decision.isAllowed ? .debug : .info
        guard log.enabled(level) else { return }
        // Values of `--redact-claims` claims, read from the request's own tokens, are cut out of every
        // free-text field (a path, a reason quoting an issuer or audience, the principal).
        let redactor = options.redactClaims.isEmpty ? nil
            : LogRedactor(claims: options.redactClaims, tokens: pipeline.extractTokens(from: r).map(\.token), maxTokenBytes: options.maxTokenBytes)
        func text(_ s: String) -> JSONValue { .string(redactor?.scrub(s) ?? s) }
        var fields: [(String, JSONValue)] = [
            ("request_id", text(requestID)), ("method", text(r.method)), ("host", text(r.host)),
            ("path", text(Self.pathWithoutSecrets(r.path))), ("decision", .string(o.decision.isAllowed ? "allow" : "deny")),
            ("status", .number(Double(o.decision.httpStatus))), ("reason", text(o.reason)), ("reason_code", .string(o.reasonCode)),
        ]
        if let p = o.policy { fields.append(("policy", .string(p))) }
        if let p = o.principal { fields.append(("principal", text(p))) }
        fields.append(("generation", .number(Double(o.generation))))
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

    /// Ready when serving and every key source serves keys (fetched, read, or from the persisted cache).
    /// While a source has none — its first fetch pending or failing, e.g. an IdP outage at start — the
    /// answer is 503 with the reason, until `--ready-timeout` has passed since start; after that Warden
    /// reports ready (degraded, reason given) so one dead issuer cannot keep every other route down.
    func readiness() -> (ready: Bool, reason: String) {
        guard serving.load(ordering: .acquiring) else { return (false, "not ready: gRPC server not started") }
        if shuttingDown.load(ordering: .acquiring) { return (false, "not ready: shutting down") }
        let missing = store.status().filter { !$0.available }
        guard !missing.isEmpty else { return (true, "ready") }
        let detail = missing.map { s -> String in
            let name = s.uri ?? s.source.description
            if let e = s.lastError { return "\(name): \(s.consecutiveFailures) failed fetch(es), last error: \(e)" }
            return "\(name): " + (s.fetchInFlight ? "first fetch in progress" : "not fetched yet")
        }.joined(separator: "; ")
        if Date().timeIntervalSince1970 - startedAt < options.readyTimeout {
            return (false, "not ready: no JWKS keys yet for " + detail)
        }
        return (true, "ready (degraded: --ready-timeout passed without keys for " + detail + ")")
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
            case "/config_dump":
                return .json(configDump().serialized + "\n")
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
            out += "# HELP warden_token_cache_hits_total Verified-token cache hits.\n# TYPE warden_token_cache_hits_total counter\nwarden_token_cache_hits_total \(c.hits + pipeline.recentTokenHits)\n"
            out += "# HELP warden_token_cache_misses_total Verified-token cache misses.\n# TYPE warden_token_cache_misses_total counter\nwarden_token_cache_misses_total \(c.misses)\n"
            out += "# HELP warden_token_cache_entries Verified-token cache size.\n# TYPE warden_token_cache_entries gauge\nwarden_token_cache_entries \(c.count)\n"
        }
        let statuses = store.status()
        let now = Date().timeIntervalSince1970
        let issuers = issuersBySource()
        func labels(_ s: SourceStatus) -> String {
            let src = Metrics.escape(s.uri ?? s.source.description)
            return "issuer=\"\(Metrics.escape(issuers[s.source] ?? ""))\",source=\"\(src)\""
        }
        out += "# HELP warden_jwks_fetches_total JWKS fetches by issuer, source and result.\n# TYPE warden_jwks_fetches_total counter\n"
        for s in statuses {
            out += "warden_jwks_fetches_total{\(labels(s)),result=\"success\"} \(s.fetches.succeeded)\n"
            out += "warden_jwks_fetches_total{\(labels(s)),result=\"failed\"} \(s.fetches.failed)\n"
            out += "warden_jwks_fetches_total{\(labels(s)),result=\"not_modified\"} \(s.fetches.notModified)\n"
        }
        out += "# HELP warden_jwks_keys Usable keys per source.\n# TYPE warden_jwks_keys gauge\n"
        for s in statuses { out += "warden_jwks_keys{\(labels(s))} \(s.keyCount)\n" }
        out += "# HELP warden_jwks_available Whether the source serves keys now (1) or not (0).\n# TYPE warden_jwks_available gauge\n"
        for s in statuses { out += "warden_jwks_available{\(labels(s))} \(s.available ? 1 : 0)\n" }
        out += "# HELP warden_jwks_age_seconds Age of the last good keys per source.\n# TYPE warden_jwks_age_seconds gauge\n"
        for s in statuses {
            if let f = s.fetchedAt { out += "warden_jwks_age_seconds{\(labels(s))} \(max(0, now - f))\n" }
        }
        out += "# HELP warden_jwks_unknown_kid_refetches_total Refetches triggered by an unknown kid.\n# TYPE warden_jwks_unknown_kid_refetches_total counter\n"
        for s in statuses { out += "warden_jwks_unknown_kid_refetches_total{\(labels(s))} \(s.unknownKidRefetches)\n" }
        out += "# HELP warden_jwks_unknown_kid_rate_limited_total Unknown-kid refetches refused by the rate limit.\n# TYPE warden_jwks_unknown_kid_rate_limited_total counter\n"
        for s in statuses { out += "warden_jwks_unknown_kid_rate_limited_total{\(labels(s))} \(s.unknownKidRateLimited)\n" }
        let ready = readiness().ready
        out += "# HELP warden_ready Whether /readyz answers 200.\n# TYPE warden_ready gauge\nwarden_ready \(ready ? 1 : 0)\n"
    }
}
