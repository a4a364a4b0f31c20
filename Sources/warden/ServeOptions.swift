import WardenHTTPAuthz
import Glibc
import WardenAuthz
import WardenPolicy

/// Everything `warden serve` is told on its command line.
struct ServeOptions: Sendable {
    var listen = "127.0.0.1:9191"
    var adminListen = "127.0.0.1:9901"
    /// The HTTP front door (Envoy `http_service`, forward-auth); off unless given.
    var httpListen: String?
    /// Proxy-set headers trusted on the HTTP front door (`--http-trusted-headers`).
    var httpTrustedHeaders = ""
    /// Largest request line + header section on the HTTP front door.
    var httpMaxHeaderBytes = 64 * 1024
    /// HTTP/2 (h2c) connections the HTTP front door serves at once (apart from HTTP/1.1's 4096).
    var httpMaxH2CConnections = 256
    var policyPaths: [String] = []
    var namespace = "default"
    var workloadLabels: [String: String] = [:]
    var rootNamespace = "istio-system"
    /// `Kind/name` or `Kind/namespace/name` of the Gateway/Service this Warden stands for (`targetRefs`).
    var targets: [String] = []
    /// `--target none`: no targetRefs resource applies to this Warden (stated, so they may be skipped).
    var noTargets = false
    var threads = ServeOptions.defaultThreads
    var shutdownGrace = 10.0
    /// On SIGTERM, keep serving this long while health says NOT_SERVING, so load balancers move away first.
    var drainDelay = 0.0
    var tlsCert: String?
    var tlsKey: String?
    var tlsClientCA: String?
    var cacheDir: String?
    var maxRequestBytes = 4 << 20
    var clockSkew = 60.0
    var jwksCacheDuration = 1200.0
    /// How long last-good keys keep serving past their cache duration while the IdP cannot be reached.
    var jwksMaxStaleness = 24 * 3600.0
    var jwksFetchTimeout = 5.0
    /// `--jwks-file ISSUER=PATH`: local JWKS files that replace the rules' remote sources.
    var jwksFiles: [String: String] = [:]
    var tokenCacheSize = 100_000
    var tokenCacheBytes = 20 << 20
    var maxTokenBytes = 8192
    var requireExpiration = false
    var numTrustedProxies = 0
    var debugHeaders = false
    var logLevel = LogLevel.info
    var logFormat = LogFormat.json
    var redactClaims: Set<String> = []
    var reloadInterval = 2.0
    var readyTimeout = 10.0
    /// The deadline of a check whose caller sent none (no `grpc-timeout`).
    var defaultDeadline = 0.1
    /// Checks arriving closer than this to their deadline are shed (UNAVAILABLE).
    var shedMargin = 0.002
    /// Checks that may wait for one key source's keys at once.
    var jwksMaxWaiters = 64
    /// How far a DPoP proof's iat may be from now (and how long its jti is remembered).
    var dpopProofWindow = 60.0
    /// `HOST:PORT` of a Redis shared by the replicas for DPoP replay (nil: per process).
    var dpopReplayRedis: String?
    var dpopReplayRedisPasswordFile: String?
    var dpopReplayRedisTimeout = 0.05
    /// With Redis unreachable: false → 503 (fail closed), true → this process's cache.
    var dpopReplayFallbackToLocal = false
    /// `--dpop-nonce-key-file`: DPoP server nonces on (RFC 9449 §9), minted with this shared secret.
    var dpopNonceKeyFile: String?
    var dpopNonceLifetime: Double?
    /// Concurrent calls per HTTP/2 connection of the gRPC listener.
    var maxConcurrentStreams = 256
    /// OTLP/HTTP traces URL (`…/v1/traces`); nil: tracing off (no trace header is read).
    var otlpEndpoint: String?
    /// Share of requests without a sampling decision whose check is traced (0…1).
    var traceSampleRatio = 0.0
    /// `--otlp-resource-attribute k=v`: resource attributes beside service.name and service.version.
    var otlpResourceAttributes: [(String, String)] = []
    /// Put the request principal in `enduser.id` (never when `--redact-claims` would change it).
    var traceEndUserID = false
    /// Spans held for export at most (then dropped and counted).
    var otlpQueueSize = 2048
    var otlpTimeout = 5.0
    /// The tracing flags given (other than `--otlp-endpoint`), in order, for `warnings`.
    var tracingFlags: [String] = []

    /// Startup warnings about flags that were accepted but do nothing.
    var warnings: [String] {
        guard otlpEndpoint == nil, !tracingFlags.isEmpty else { return [] }
        var seen = Set<String>()
        let flags = tracingFlags.filter { seen.insert($0).inserted }
        return ["\(flags.joined(separator: ", ")) \(flags.count == 1 ? "has" : "have") no effect without --otlp-endpoint: tracing is off"]
    }

    static var defaultThreads: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    static let help = """
    Usage: warden serve --listen HOST:PORT --admin-listen HOST:PORT --policy PATH [--policy PATH…] [options]

    Serves Envoy's ext_authz v3 Check (gRPC) and the gRPC health service on --listen, and /healthz,
    /readyz, /metrics and /config_dump on --admin-listen.

    HTTP front door (off unless --http-listen is given; the same policies, keys and decision log):
      --http-listen HOST:PORT    Envoy ext_authz http_service at /envoy/… (path_prefix: /envoy), forward-auth
                                 (Traefik, Caddy, APISIX, HAProxy) at /forward-auth, nginx auth_request
                                 (X-Original-URI) at /auth-request; HTTP/1.1 and HTTP/2 without TLS (h2c,
                                 prior knowledge), requests per HTTP/2 connection bounded by
                                 --max-concurrent-streams (at most 100)
      --http-trusted-headers a,b connection facts the proxy reports in headers, trusted on this listener:
                                 client-address, client-principal, client-cert, sni, all or none (default: none)
      --http-max-header-bytes N  largest request line + headers; larger ones are answered 414/431 (default: 65536)
      --http-max-h2c-connections N  h2c connections served at once, apart from HTTP/1.1's 4096; more are
                                 closed on arrival (default: 256)

    Policies (Istio security.istio.io/v1 RequestAuthentication + AuthorizationPolicy YAML):
      --policy PATH              file or directory (recursive *.yaml, *.yml); repeatable; required
      --namespace NS             workload namespace (default: default)
      --workload-labels k=v,…    workload labels matched against policy selectors
      --root-namespace NS        mesh root namespace (default: istio-system)
      --target KIND/NAME         Gateway/Service named by targetRefs policies (repeatable); `none`: no
                                 targetRefs resource applies here (without either, a set that has
                                 targetRefs resources in scope is refused: skipping them could fail open)
      --reload-interval SECONDS  poll policy files for changes (default: 2; 0 = only on SIGHUP)
      --num-trusted-proxies N    x-forwarded-for hops trusted for remote.ip (default: 0)

    JWT and JWKS:
      --clock-skew SECONDS       allowed exp/nbf skew (default: 60)
      --jwks-cache-duration D    keep fetched keys this long, refreshed ahead (default: 20m)
      --jwks-max-staleness D     serve last-good keys this long past that while the IdP is unreachable (default: 24h)
      --jwks-fetch-timeout D     per-request JWKS/discovery fetch timeout for rules without `timeout` (default: 5s)
      --cache-dir DIR            persist last good JWKS here (survives restarts during IdP outages)
      --jwks-file ISSUER=PATH    take ISSUER's keys from a local JWKS file (re-read on unknown kid); repeatable
      --jwks-max-waiters N       checks that may wait for one source's keys at once (cold source, unknown
                                 kid); more are answered from the keys at hand (default: 64)
      --token-cache-size N       token cache entries (default: 100000; 0 disables)
      --token-cache-bytes N      token cache memory bound, estimated heap bytes (default: 20971520 = 20 MiB)
      --max-token-bytes N        longest accepted token (default: 8192)
      --dpop-proof-window D      DPoP proofs (RFC 9449): iat at most this far from now; jti remembered
                                 this long against replay, per process (default: 60s)
      --dpop-replay-redis HOST:PORT   remember DPoP proof ids in this Redis, shared by every replica
      --dpop-replay-redis-password-file FILE   Redis AUTH password (first line of FILE)
      --dpop-replay-redis-timeout D   bound on each Redis command (default: 50ms)
      --dpop-replay-unavailable MODE  deny (default: 503, fail closed) or local (this process's cache)
                                 when Redis cannot answer
      --dpop-nonce-key-file FILE require server nonces in DPoP proofs (RFC 9449 §9: use_dpop_nonce); FILE
                                 is a secret of at least 32 bytes shared by every replica, which then
                                 accept each other's nonces (no shared state)
      --dpop-nonce-lifetime D    how long a nonce is accepted after it was issued (default: 5m); a fresh
                                 one comes with allowed responses once half of it has passed
      --require-expiration       reject tokens without exp
      --ready-timeout D          /readyz is 503 while a JWKS source has no keys, up to this long after start (default: 10s)

    Server:
      --threads N                completion-queue threads (default: number of cores)
      --max-request-bytes N      largest accepted CheckRequest (default: 4194304)
      --shutdown-grace SECONDS   on SIGTERM/SIGINT, let in-flight checks finish this long (default: 10)
      --drain-delay SECONDS      on SIGTERM/SIGINT, first keep serving this long with health NOT_SERVING (default: 0)
      --tls-cert PEM --tls-key PEM [--tls-client-ca PEM]   serve gRPC over TLS (mTLS with a client CA)
      --max-concurrent-streams N calls one HTTP/2 connection may have open at once; bounds the queue a
                                 client can build up (default: 256)
      --default-deadline D       deadline of a check whose caller sent no grpc-timeout: bounds its wait
                                 for keys (default: 100ms)
      --shed-margin D            shed (answer UNAVAILABLE at once) a check that arrives closer than this
                                 to its caller's deadline, e.g. under overload (default: 2ms; 0 = never)

    Diagnostics:
      --debug-headers            add x-warden-decision / x-warden-reason / x-warden-denied-by headers
      --log-level LEVEL          debug, info, warn, error (default: info; denials log at info, allows at debug)
      --log-format FORMAT        json or text (default: json)
      --redact-claims a,b        never log these claims' values (repeatable; dotted paths; replaced by [redacted])

    Tracing (OpenTelemetry; off unless --otlp-endpoint is given; the other tracing flags alone are warned about):
      --otlp-endpoint URL        export one span per sampled check over OTLP/HTTP (protobuf) to URL; a URL
                                 without a path gets /v1/traces. Reads W3C traceparent/tracestate and B3
                                 from the request and follows its sampling decision
      --trace-sample-ratio R     share of requests without a sampling decision to trace, 0 to 1 (default: 0)
      --otlp-resource-attribute k=v   a resource attribute (repeatable); service.name defaults to warden,
                                 service.version to Warden's version
      --trace-enduser-id         set enduser.id to the request principal (iss/sub), unless --redact-claims
                                 would change it
      --otlp-queue-size N        spans held for export, queued or being sent, and at most 2 KiB x N of span
                                 data (at least 64 KiB); more are dropped and counted (default: 2048)
      --otlp-timeout D           bound on each export request (default: 5s)
    """

    /// Parses the arguments after `serve`.
    static func parse(_ args: [String]) throws(UsageError) -> ServeOptions {
        var o = ServeOptions()
        var reader = ArgumentReader(args)
        while let flag = try reader.nextFlag() {
            switch flag {
            case "--listen": o.listen = try reader.address(for: flag)
            case "--admin-listen": o.adminListen = try reader.address(for: flag)
            case "--http-listen": o.httpListen = try reader.address(for: flag)
            case "--http-trusted-headers":
                let raw = try reader.value(for: flag)
                if case .failure(let e) = TrustedHeader.parse(raw) { throw UsageError("invalid value for --http-trusted-headers: \(e)") }
                o.httpTrustedHeaders = raw
            case "--http-max-header-bytes": o.httpMaxHeaderBytes = try reader.int(for: flag, in: 4096...(1 << 20))
            case "--http-max-h2c-connections": o.httpMaxH2CConnections = try reader.int(for: flag, in: 1...4096)
            case "--policy": o.policyPaths.append(try reader.value(for: flag))
            case "--namespace": o.namespace = try nonEmpty(reader.value(for: flag), flag)
            case "--workload-labels": o.workloadLabels.merge(try parseLabels(reader.value(for: flag), flag)) { $1 }
            case "--root-namespace": o.rootNamespace = try nonEmpty(reader.value(for: flag), flag)
            case "--target":
                let raw = try nonEmpty(reader.value(for: flag), flag)
                if raw == "none" {
                    o.noTargets = true
                } else {
                    guard TargetRef(flag: raw) != nil else {
                        throw UsageError("invalid value '\(raw)' for --target: expected KIND/NAME, KIND/NAMESPACE/NAME or none")
                    }
                    o.targets.append(raw)
                }
            case "--threads": o.threads = try reader.int(for: flag, in: 1...256)
            case "--shutdown-grace": o.shutdownGrace = try reader.seconds(for: flag)
            case "--drain-delay": o.drainDelay = try reader.seconds(for: flag)
            case "--tls-cert": o.tlsCert = try reader.value(for: flag)
            case "--tls-key": o.tlsKey = try reader.value(for: flag)
            case "--tls-client-ca": o.tlsClientCA = try reader.value(for: flag)
            case "--cache-dir": o.cacheDir = try reader.value(for: flag)
            case "--max-request-bytes": o.maxRequestBytes = try reader.int(for: flag, in: 1024...(64 << 20))
            case "--clock-skew": o.clockSkew = try reader.seconds(for: flag)
            case "--jwks-cache-duration":
                o.jwksCacheDuration = try reader.seconds(for: flag)
                if o.jwksCacheDuration < 1 { throw UsageError("invalid value for --jwks-cache-duration: at least 1s") }
            case "--jwks-file":
                let raw = try reader.value(for: flag)
                guard let eq = raw.lastIndex(of: "="), eq != raw.startIndex, raw.index(after: eq) != raw.endIndex else {
                    throw UsageError("invalid value '\(raw)' for --jwks-file: expected ISSUER=PATH")
                }
                o.jwksFiles[String(raw[..<eq])] = String(raw[raw.index(after: eq)...])
            case "--jwks-max-staleness": o.jwksMaxStaleness = try reader.seconds(for: flag)
            case "--jwks-fetch-timeout": o.jwksFetchTimeout = try reader.seconds(for: flag)
            case "--token-cache-size": o.tokenCacheSize = try reader.int(for: flag, in: 0...10_000_000)
            case "--token-cache-bytes": o.tokenCacheBytes = try reader.int(for: flag, in: 0...(16 << 30))
            case "--max-token-bytes": o.maxTokenBytes = try reader.int(for: flag, in: 256...(1 << 20))
            case "--require-expiration": o.requireExpiration = true
            case "--num-trusted-proxies": o.numTrustedProxies = try reader.int(for: flag, in: 0...64)
            case "--debug-headers": o.debugHeaders = true
            case "--log-level":
                let raw = try reader.value(for: flag)
                guard let level = LogLevel(rawValue: raw) else { throw UsageError("invalid value '\(raw)' for --log-level: expected debug, info, warn or error") }
                o.logLevel = level
            case "--log-format":
                let raw = try reader.value(for: flag)
                guard let format = LogFormat(rawValue: raw) else { throw UsageError("invalid value '\(raw)' for --log-format: expected json or text") }
                o.logFormat = format
            case "--redact-claims":
                o.redactClaims.formUnion(try reader.value(for: flag).split(separator: ",").map { String($0) })
            case "--reload-interval": o.reloadInterval = try reader.seconds(for: flag)
            case "--ready-timeout": o.readyTimeout = try reader.seconds(for: flag)
            case "--default-deadline":
                o.defaultDeadline = try reader.seconds(for: flag)
                if o.defaultDeadline <= 0 || o.defaultDeadline > 60 {
                    throw UsageError("invalid value for --default-deadline: more than 0 and at most 60s")
                }
            case "--shed-margin":
                o.shedMargin = try reader.seconds(for: flag)
                if o.shedMargin > 1 { throw UsageError("invalid value for --shed-margin: at most 1s") }
            case "--max-concurrent-streams": o.maxConcurrentStreams = try reader.int(for: flag, in: 16...65536)
            case "--dpop-proof-window":
                o.dpopProofWindow = try reader.seconds(for: flag)
                if o.dpopProofWindow < 1 || o.dpopProofWindow > 3600 { throw UsageError("invalid value for --dpop-proof-window: 1s to 1h") }
            case "--dpop-replay-redis": o.dpopReplayRedis = try reader.address(for: flag)
            case "--dpop-replay-redis-password-file": o.dpopReplayRedisPasswordFile = try reader.value(for: flag)
            case "--dpop-replay-redis-timeout":
                o.dpopReplayRedisTimeout = try reader.seconds(for: flag)
                if o.dpopReplayRedisTimeout <= 0 || o.dpopReplayRedisTimeout > 5 { throw UsageError("invalid value for --dpop-replay-redis-timeout: more than 0, at most 5s") }
            case "--dpop-replay-unavailable":
                switch try reader.value(for: flag) {
                case "deny": o.dpopReplayFallbackToLocal = false
                case "local": o.dpopReplayFallbackToLocal = true
                case let other: throw UsageError("invalid value '\(other)' for --dpop-replay-unavailable: expected deny or local")
                }
            case "--dpop-nonce-key-file": o.dpopNonceKeyFile = try reader.value(for: flag)
            case "--dpop-nonce-lifetime": o.dpopNonceLifetime = try DPoPNonceKeyFile.lifetime(&reader, flag)
            case "--jwks-max-waiters": o.jwksMaxWaiters = try reader.int(for: flag, in: 0...65536)
            case "--otlp-endpoint": o.otlpEndpoint = try Self.otlpURL(reader.value(for: flag))
            case "--trace-sample-ratio":
                o.tracingFlags.append(flag)
                let text = try reader.value(for: flag)
                guard let r = Double(text), r >= 0, r <= 1 else { throw UsageError("invalid value '\(text)' for --trace-sample-ratio: a number from 0 to 1") }
                o.traceSampleRatio = r
            case "--otlp-resource-attribute":
                o.tracingFlags.append(flag)
                let text = try reader.value(for: flag)
                guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
                    throw UsageError("invalid value '\(text)' for --otlp-resource-attribute: expected key=value")
                }
                o.otlpResourceAttributes.append((String(text[..<eq]), String(text[text.index(after: eq)...])))
            case "--trace-enduser-id":
                o.tracingFlags.append(flag)
                o.traceEndUserID = true
            case "--otlp-queue-size":
                o.tracingFlags.append(flag)
                o.otlpQueueSize = try reader.int(for: flag, in: 1...1_000_000)
            case "--otlp-timeout":
                o.tracingFlags.append(flag)
                o.otlpTimeout = try reader.seconds(for: flag)
                if o.otlpTimeout <= 0 || o.otlpTimeout > 60 { throw UsageError("invalid value for --otlp-timeout: more than 0, at most 60s") }
            default: throw UsageError("unknown flag \(flag) (see warden serve --help)")
            }
        }
        if o.policyPaths.isEmpty { throw UsageError("missing --policy PATH (a file or directory of Istio YAML)") }
        if o.noTargets && !o.targets.isEmpty { throw UsageError("--target none cannot be combined with other --target values") }
        if (o.tlsCert == nil) != (o.tlsKey == nil) { throw UsageError("--tls-cert and --tls-key go together") }
        if o.tlsClientCA != nil && o.tlsCert == nil { throw UsageError("--tls-client-ca needs --tls-cert and --tls-key") }
        if o.dpopNonceLifetime != nil && o.dpopNonceKeyFile == nil { throw UsageError("--dpop-nonce-lifetime needs --dpop-nonce-key-file") }
        return o
    }

    /// An http(s) URL; one without a path (or `/`) gets OTLP/HTTP's `/v1/traces`.
    static func otlpURL(_ text: String) throws(UsageError) -> String {
        let lower = text.lowercased()
        let scheme = lower.hasPrefix("http://") ? 7 : lower.hasPrefix("https://") ? 8 : 0
        guard scheme > 0, text.count > scheme, !text.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw UsageError("invalid value '\(text)' for --otlp-endpoint: expected an http:// or https:// URL")
        }
        let rest = text.dropFirst(scheme)
        guard let slash = rest.firstIndex(of: "/") else { return text + "/v1/traces" }
        return rest[slash...] == "/" ? String(text.dropLast()) + "/v1/traces" : text
    }

    private static func nonEmpty(_ v: String, _ flag: String) throws(UsageError) -> String {
        if v.isEmpty { throw UsageError("empty value for \(flag)") }
        return v
    }

    /// `k=v,k2=v2` → labels.
    static func parseLabels(_ raw: String, _ flag: String) throws(UsageError) -> [String: String] {
        var labels: [String: String] = [:]
        for pair in raw.split(separator: ",", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty else {
                throw UsageError("invalid value '\(pair)' in \(flag): expected key=value")
            }
            labels[String(parts[0])] = String(parts[1])
        }
        return labels
    }
}
