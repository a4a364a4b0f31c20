import WardenJSON
import WardenJWT
import WardenPolicy

/// The decision log: one line per check, rendered from its `DecisionRecord` (denials at info, allows at
/// debug). Values of `--redact-claims` claims, read from the request's own tokens, are cut out of every
/// free-text field (a path, a reason quoting an issuer or audience, the principal).
public struct DecisionLog: Sendable {
    public let logger: Logger
    public let redactClaims: Set<String>
    /// Longest token parsed for redaction (`--max-token-bytes`).
    public let maxTokenBytes: Int

    public init(logger: Logger, redactClaims: Set<String> = [], maxTokenBytes: Int = 8192) {
        self.logger = logger
        self.redactClaims = redactClaims
        self.maxTokenBytes = maxTokenBytes
    }

    /// Logs one decision.
    public func write(_ result: CheckResult, request: RequestAttributes) {
        // Allows log at debug, unless an output header was dropped: the operator must see that at info.
        // So is a denial a dry-run resource would have caused.
        let quiet = result.decision.isAllowed && result.record.droppedHeaders.isEmpty && result.record.dryRun?.wouldAllow != false
        let level: LogLevel = quiet ? .debug : .info
        guard logger.enabled(level) else { return }
        logger.log(level, "decision", fields(result, request: request))
    }

    /// The line's fields, in order.
    public func fields(_ result: CheckResult, request r: RequestAttributes) -> [(String, JSONValue)] {
        let record = result.record
        let redactor = redactClaims.isEmpty ? nil
            : LogRedactor(claims: redactClaims, tokens: Self.tokensForRedaction(record, r, maxTokenBytes: maxTokenBytes))
        func text(_ s: String) -> JSONValue { .string(redactor?.scrub(s) ?? s) }
        var fields: [(String, JSONValue)] = [
            ("request_id", text(r.requestID)), ("method", text(r.method)), ("host", text(r.host)),
            ("path", text(Self.pathWithoutSecrets(r.path))), ("decision", .string(result.decision.isAllowed ? "allow" : "deny")),
            ("status", .number(Double(result.decision.httpStatus))), ("reason", text(record.reason)),
            ("reason_code", .string(record.reasonCode.rawValue)),
        ]
        if let p = record.policy { fields.append(("policy", .string(p))) }
        if let p = record.principal { fields.append(("principal", text(p))) }
        if !record.droppedHeaders.isEmpty {
            fields.append(("dropped_headers", .array(record.droppedHeaders.map { d in
                var o: [String: JSONValue] = ["header": .string(d.header), "problem": .string(d.problem),
                                              "reason_code": .string(DroppedHeader.reasonCode)]
                if let c = d.claim { o["claim"] = .string(c) }
                return .object(o)
            })))
        }
        if record.frontDoor != .grpc { fields.append(("front_door", .string(record.frontDoor.rawValue))) }
        if let x = record.exchange {
            // Where the token went and how it ended; never a token.
            var o: [String: JSONValue] = ["endpoint": .string(x.endpoint), "header": .string(x.header)]
            if !x.audiences.isEmpty { o["audiences"] = .array(x.audiences.map { .string($0) }) }
            if !x.resources.isEmpty { o["resources"] = .array(x.resources.map { .string($0) }) }
            switch x.result {
            case .exchanged(let cached): o["result"] = .string(cached ? "cached" : "exchanged")
            case .refused(let error, _): o["result"] = .string("refused"); o["error"] = .string(error)
            case .unavailable: o["result"] = .string("unavailable")
            case .connectionFactUnreported(let facts):
                o["result"] = .string("connection_fact_unreported")
                o["unreported"] = .array(facts.map { .string($0.rawValue) })
            }
            fields.append(("exchange", .object(o)))
        }
        if let d = record.dryRun {
            // What the dry-run token resources would have answered; a denial they would cause logs at info
            // (`write`), so a rollout's would-be 401/403s are seen without debug logging.
            fields.append(("dry_run", .object([
                "resources": .array(d.resources.map { .string($0) }), "would": .string(d.would),
                "status": .number(Double(d.status)), "reason_code": .string(d.reasonCode.rawValue), "reason": text(d.record.reason),
            ])))
        }
        if let t = record.trace {
            // Joins the line to the trace: Warden's span in it (exported only when sampled).
            fields.append(("trace_id", .string(t.traceID.description)))
            fields.append(("span_id", .string(t.spanID.description)))
        }
        fields.append(("generation", .number(Double(record.generation))))
        fields.append(("latency_ms", .number((record.seconds * 1e6).rounded() / 1e3)))
        return fields
    }

    /// Every token of the request, parsed (not verified): the check's own parse where it has one, else
    /// parsed here — a token the check never reached (several tokens, an earlier one failed) is as
    /// private as the others.
    static func tokensForRedaction(_ record: DecisionRecord, _ request: RequestAttributes, maxTokenBytes: Int) -> [UnverifiedJWT] {
        if record.tokens.allSatisfy({ $0.jwt != nil }) { return record.tokens.compactMap(\.jwt) }
        return record.scopePlan.extractor.extract(from: request).compactMap { try? UnverifiedJWT.parse($0.token, maxBytes: maxTokenBytes) }
    }

    /// The path with query values dropped: a token may ride in `?access_token=`.
    public static func pathWithoutSecrets(_ path: String) -> String {
        guard let q = path.firstIndex(of: "?") else { return path }
        let names = path[path.index(after: q)...].split(separator: "&").map { $0.split(separator: "=", maxSplits: 1).first.map(String.init) ?? "" }
        return String(path[..<q]) + "?" + names.map { $0 + "=…" }.joined(separator: "&")
    }
}
