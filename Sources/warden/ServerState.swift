import WardenJSON
import Foundation
import Synchronization
import WardenAdmin
import WardenAuthz
import WardenExtAuthz
import WardenGRPC
import WardenHTTPAuthz
import WardenHTTPServer
import WardenJWKS
import WardenPolicy
import WardenOTLP
import WardenSync

/// The wiring `warden serve` shares between its listeners: the Check path (`CheckService` behind the
/// ext_authz adapter), readiness, reload bookkeeping and the admin pages. No decision is made here.
final class ServerState: Sendable {
    let service: CheckService
    let extAuthz: ExtAuthzService
    let httpAuthz: HTTPAuthzService
    let store: JWKSStore
    let log: Logger
    let options: ServeOptions
    private let serving = Atomic<Bool>(false)
    private let shuttingDown = Atomic<Bool>(false)
    private let startedAt = Date().timeIntervalSince1970
    let lastReloadError = Locked<String?>(nil)

    /// The span exporter (`--otlp-endpoint`), for its counters.
    let exporter: SpanExporter?

    init(service: CheckService, store: JWKSStore, log: Logger, options: ServeOptions, exporter: SpanExporter? = nil) {
        self.exporter = exporter
        self.service = service
        self.store = store
        self.log = log
        self.options = options
        extAuthz = ExtAuthzService(service: service)
        let trusted = (try? TrustedHeader.parse(options.httpTrustedHeaders).get()) ?? []
        httpAuthz = HTTPAuthzService(service: service, trusted: trusted)
    }

    func markServing() { serving.store(true, ordering: .releasing) }
    func markShuttingDown() { shuttingDown.store(true, ordering: .releasing) }

    // MARK: policies

    func install(_ set: PolicySet) {
        let generation = service.install(set)
        service.metrics.recordReload(ok: true)
        logWarnings(set)
        lastReloadError.withLock { $0 = nil }
        log.info("policies reloaded", [("generation", .number(Double(generation))),
                                       ("resources", .number(Double(set.authorizationPolicies.count + set.requestAuthentications.count)))])
    }

    /// Logs what `warden validate` would warn about in `set` (at start and on every reload), with its code.
    func logWarnings(_ set: PolicySet) {
        for w in PolicyLint(policies: set, rootNamespace: options.rootNamespace).warnings() {
            log.warn("policy warning", [("code", .string(w.code.rawValue)), ("location", .string(w.origin.description)),
                                        ("field", .string(w.field)), ("message", .string(JWKSSource.redactedText(w.message)))])
        }
    }

    func reloadFailed(_ failure: PolicyLoadFailure) {
        service.metrics.recordReload(ok: false)
        let first = failure.errors.first?.description ?? "unknown error"
        lastReloadError.withLock { $0 = first }
        for e in failure.errors {
            log.error("policy reload rejected; the last good policies keep serving", [("error", .string(e.description))])
        }
    }

    // MARK: gRPC handlers

    func checkHandler() -> UnaryHandler {
        { [extAuthz, log] call in
            let cancellation = Cancellation()
            extAuthz.check(call.request, deadline: call.deadline, cancellation: cancellation, callTraceHeaders: call.metadata) { answer, _ in
                switch answer {
                case .response(let bytes):
                    call.respond(.response(bytes))
                case .invalidArgument(let message):
                    log.warn("malformed CheckRequest", [("error", .string(message)), ("peer", .string(call.peer))])
                    call.respond(.failure(.invalidArgument, message))
                case .unavailable(let message):
                    call.respond(.failure(.unavailable, message))
                }
            }
            // Still waiting (for keys): if Envoy cancels the call, free it and stop the wait at once.
            if !call.isAnswered {
                call.onCancel { [service = extAuthz.service] in
                    service.metrics.recordCancelled()
                    cancellation.cancel()
                }
            }
        }
    }

    /// The HTTP front door: every request to `--http-listen`, answered through `HTTPAuthzService`.
    func httpHandler() -> @Sendable (HTTPServerRequest, HTTPResponder) -> Void {
        { [httpAuthz, log] request, responder in
            let authzRequest = HTTPAuthzRequest(method: request.method, target: request.target,
                                                headers: request.headers.map { ($0.name, $0.value) },
                                                peerAddress: request.peerAddress, peerPort: request.peerPort)
            // Over h2c a stream the client resets (or whose connection closes) cancels its check: a wait for
            // keys ends at once instead of holding its place until the deadline.
            let cancellation = responder.cancellation
            cancellation?.onCancel { [service = httpAuthz.service] in service.metrics.recordCancelled() }
            httpAuthz.check(authzRequest, cancellation: cancellation) { answer, _ in
                if answer.status == 400 {
                    log.warn("malformed front-door request", [("error", .string(answer.body.trimmingCharacters(in: .newlines))),
                                                              ("peer", .string(request.peerAddress))])
                }
                responder.respond(HTTPServerResponse(status: answer.status, headers: answer.headers.map { HTTPField($0.name, $0.value) },
                                                     body: Array(answer.body.utf8)))
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
                var out = PrometheusText()
                service.renderMetrics(into: &out)
                if let exporter { exporter.renderMetrics(into: &out) }
                out.family("warden_ready", "gauge", "Whether /readyz answers 200.")
                out.sample("warden_ready", readiness().ready ? 1 : 0)
                return AdminResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: out.text)
            default:
                return .notFound
            }
        }
    }
}
