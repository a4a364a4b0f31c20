import Foundation
import WardenAuthz
import WardenJSON
import WardenJWKS
import WardenPolicy

extension ServerState {
    /// `/config_dump`: the effective policies for this Warden's scope, the loaded generation and files,
    /// and the status of every key source. No tokens, no key material, no inline JWKS text.
    func configDump() -> JSONValue {
        let gen = service.plan
        let scope = service.scope
        let effective = gen.policies.effective(for: scope)
        let enforced = Set((effective.allowPolicies + effective.denyPolicies + effective.auditPolicies
                            + effective.customPolicies + effective.dryRunPolicies).map(\.ref))
        let policies = gen.policies.authorizationPolicies.filter { enforced.contains($0.ref) }
        let ready = readiness()
        var o: [String: JSONValue] = [
            "version": .string(WardenCommand.version),
            "generation": .number(Double(gen.number)),
            "files": PolicyDump.strings(gen.policies.files),
            "scope": .object([
                "namespace": .string(scope.namespace),
                "workload_labels": PolicyDump.labels(scope.labels),
                "root_namespace": .string(scope.rootNamespace),
                "targets": PolicyDump.strings(scope.targets.map(\.description)),
            ]),
            "loaded": .object([
                "request_authentications": .number(Double(gen.policies.requestAuthentications.count)),
                "authorization_policies": .number(Double(gen.policies.authorizationPolicies.count)),
                "token_policies": .number(Double(gen.policies.tokenPolicies.count)),
                "jwt_authn": .number(Double(gen.policies.jwtAuthnFilters.count)),
            ]),
            "token_policies": .array((effective.tokenPolicies + effective.dryRunTokenPolicies).map(PolicyDump.tokenPolicy)),
            "request_authentications": .array((effective.requestAuthentications + effective.dryRunRequestAuthentications)
                .map(PolicyDump.requestAuthentication)),
            "authorization_policies": .array(policies.map(PolicyDump.authorizationPolicy)),
            "jwt_authn": .array(gen.policies.jwtAuthnFilters.map(PolicyDump.jwtAuthn)),
            "notes": PolicyDump.strings((gen.policies.notes + effective.notes).map(\.description)),
            "jwks": .array(store.status().map { jwksStatus($0, issuers: gen.issuersBySource) }),
            "ready": .object(["ready": .bool(ready.ready), "reason": .string(ready.reason)]),
        ]
        if let e = lastReloadError.withLock({ $0 }) { o["last_reload_error"] = .string(e) }
        return .object(o)
    }

    private func jwksStatus(_ s: SourceStatus, issuers: [JWKSSource: String]) -> JSONValue {
        func time(_ t: Double?) -> JSONValue { t.map { $0.isFinite ? .string(TimeText.rfc3339($0)) : .string("never") } ?? .null }
        var o: [String: JSONValue] = [
            "source": .string(s.source.redactedDescription),
            "uri": s.uri.map { .string(JWKSSource.redacted(uri: $0)) } ?? .null,
            "issuer": issuers[s.source].map { .string($0) } ?? .null,
            "kids": PolicyDump.strings(s.kids),
            "key_count": .number(Double(s.keyCount)),
            "available": .bool(s.available),
            "from_persisted_cache": .bool(s.fromPersistedCache),
            "fetch_in_flight": .bool(s.fetchInFlight),
            "fetched_at": time(s.fetchedAt),
            "expires_at": time(s.expiresAt),
            "servable_until": time(s.servableUntil),
            "next_attempt_at": time(s.nextAttemptAt),
            "last_error": s.lastError.map { .string($0.description) } ?? .null,
            "last_error_at": time(s.lastErrorAt),
            "consecutive_failures": .number(Double(s.consecutiveFailures)),
            "fetch_timeout_seconds": s.fetchTimeout.map { .number($0) } ?? .null,
            "fetches": .object([
                "success": .number(Double(s.fetches.succeeded)),
                "failed": .number(Double(s.fetches.failed)),
                "not_modified": .number(Double(s.fetches.notModified)),
            ]),
            "unknown_kid_refetches": .number(Double(s.unknownKidRefetches)),
            "unknown_kid_rate_limited": .number(Double(s.unknownKidRateLimited)),
        ]
        if !s.skipped.isEmpty { o["skipped_keys"] = PolicyDump.strings(s.skipped) }
        return .object(o)
    }
}
