import Foundation
import WardenIntrospection
import WardenJWKS

extension CheckService {
    /// Every family of `/metrics` that the Check path owns: checks by decision and reason, latency,
    /// checks in flight, malformed requests, reloads, the plan's generation, the token cache and the
    /// key sources. The executable appends `warden_ready`.
    public func renderMetrics(into out: inout PrometheusText) {
        let m = metrics
        out.family("warden_checks_total", "counter", "Checks answered, by decision and reason.")
        for reason in ReasonCode.allCases.sorted(by: { ($0.isAllowed ? 0 : 1, $0.rawValue) < ($1.isAllowed ? 0 : 1, $1.rawValue) }) {
            let n = m.checks(reason)
            // Reasons never seen are left out, as before (a counter appears with its first increment).
            guard n > 0 else { continue }
            out.sample("warden_checks_total", n, labels: [("decision", reason.isAllowed ? "allowed" : "denied"), ("reason", reason.rawValue)])
        }
        out.family("warden_front_door_checks_total", "counter",
                   "Checks answered, by the protocol they arrived by (grpc, http_envoy, forward_auth) and decision.")
        for door in FrontDoor.allCases {
            for allowed in [true, false] {
                let n = m.checks(through: door, allowed: allowed)
                guard n > 0 || door == .grpc else { continue }
                out.sample("warden_front_door_checks_total", n,
                           labels: [("front_door", door.rawValue), ("decision", allowed ? "allowed" : "denied")])
            }
        }
        out.family("warden_invalid_requests_total", "counter", "Check calls rejected as malformed (INVALID_ARGUMENT).")
        out.sample("warden_invalid_requests_total", m.invalidRequests.load)
        out.family("warden_checks_shed_total", "counter",
                   "Checks not started because they reached Warden too close to their caller's deadline (overload), answered UNAVAILABLE.")
        out.sample("warden_checks_shed_total", m.shed.load)
        out.family("warden_checks_cancelled_total", "counter", "Checks whose caller cancelled the call before the answer.")
        out.sample("warden_checks_cancelled_total", m.cancelled.load)
        out.family("warden_check_duration_seconds", "histogram", "Time from request received to decision.")
        var cumulative = 0
        for (i, bound) in CheckMetrics.latencyBuckets.enumerated() {
            cumulative += m.latency[i].load
            out.sample("warden_check_duration_seconds_bucket", cumulative, labels: [("le", "\(bound)")])
        }
        cumulative += m.latency[CheckMetrics.latencyBuckets.count].load
        out.sample("warden_check_duration_seconds_bucket", cumulative, labels: [("le", "+Inf")])
        out.sample("warden_check_duration_seconds_sum", Double(m.latencyNanos.load) / 1e9)
        out.sample("warden_check_duration_seconds_count", cumulative)
        out.family("warden_output_headers_dropped_total", "counter",
                   "Output headers not set because the claim's value is not a valid HTTP field value (reason invalid_header_value).")
        out.sample("warden_output_headers_dropped_total", m.droppedHeaders.load)
        out.family("warden_inflight_checks", "gauge", "Checks being decided now.")
        out.sample("warden_inflight_checks", m.checksInFlight)
        out.family("warden_policy_reloads_total", "counter", "Policy reloads by result.")
        out.sample("warden_policy_reloads_total", m.reloadsFailed.load, labels: [("result", "failed")])
        out.sample("warden_policy_reloads_total", m.reloadsOK.load, labels: [("result", "ok")])

        render(m.policyDecisions, "warden_policy_decisions_total",
               "AuthorizationPolicy evaluations by policy and result (matched, not_matched; dry_run_matched, dry_run_not_matched for istio.io/dry-run policies).",
               into: &out)
        render(m.dryRunDecisions, "warden_dry_run_decisions_total",
               "Checks in scope of an istio.io/dry-run RequestAuthentication or TokenPolicy, by resource and what Warden would have answered had it been enforced.",
               into: &out)

        let plan = self.plan
        out.family("warden_policy_generation", "gauge", "Loaded policy generation (1 at start, +1 per successful reload).")
        out.sample("warden_policy_generation", plan.number)

        let c = tokenCacheStatistics
        if c.capacity > 0 {
            out.family("warden_token_cache_hits_total", "counter", "Token cache hits (signature check skipped).")
            out.sample("warden_token_cache_hits_total", c.hits)
            out.family("warden_token_cache_misses_total", "counter", "Token cache misses (signature checked, then cached).")
            out.sample("warden_token_cache_misses_total", c.misses)
            out.family("warden_token_cache_entries", "gauge", "Tokens in the token cache.")
            out.sample("warden_token_cache_entries", c.entries)
            out.family("warden_token_cache_bytes", "gauge", "Estimated heap bytes of the token cache (bounded by --token-cache-bytes).")
            out.sample("warden_token_cache_bytes", c.bytes)
            out.family("warden_token_cache_evictions_total", "counter", "Tokens replaced in the token cache by others.")
            out.sample("warden_token_cache_evictions_total", c.evictions)
        }

        let i = authenticator.introspector.counters
        out.family("warden_introspection_total", "counter", "Opaque-token introspections (RFC 7662) by result: cache (answered from the cache), call (asked the endpoint), failed (no usable answer), busy (refused: too many in flight).")
        out.sample("warden_introspection_total", i.hits, labels: [("result", "cache")])
        out.sample("warden_introspection_total", i.misses, labels: [("result", "call")])
        out.sample("warden_introspection_total", i.failures, labels: [("result", "failed")])
        out.sample("warden_introspection_total", i.refused, labels: [("result", "busy")])

        let x = exchanger.counters
        out.family("warden_token_exchange_total", "counter", "RFC 8693 token exchanges of allowed requests by result: cache (a cached exchanged token), call (asked the token endpoint), refused (the endpoint said no), failed (no usable answer), busy (refused: too many in flight).")
        out.sample("warden_token_exchange_total", x.hits, labels: [("result", "cache")])
        out.sample("warden_token_exchange_total", x.calls, labels: [("result", "call")])
        out.sample("warden_token_exchange_total", x.refusals, labels: [("result", "refused")])
        out.sample("warden_token_exchange_total", x.failures, labels: [("result", "failed")])
        out.sample("warden_token_exchange_total", x.busy, labels: [("result", "busy")])

        func histogram(_ name: String, _ help: String, _ l: SharedCallLatency) {
            out.family(name, "histogram", help)
            var cumulative = 0
            for (i, bound) in SharedCallLatency.buckets.enumerated() {
                cumulative += l.counts[i]
                out.sample(name + "_bucket", cumulative, labels: [("le", "\(bound)")])
            }
            cumulative += l.counts[SharedCallLatency.buckets.count]
            out.sample(name + "_bucket", cumulative, labels: [("le", "+Inf")])
            out.sample(name + "_sum", String(l.sum))
            out.sample(name + "_count", cumulative)
        }
        histogram("warden_introspection_call_duration_seconds", "Calls to introspection endpoints (RFC 7662), answered or not.",
                  authenticator.introspector.latency)
        histogram("warden_token_exchange_call_duration_seconds", "Calls to token endpoints (RFC 8693), answered or not.", exchanger.latency)

        let statuses = keyStore.status()
        let now = Date().timeIntervalSince1970
        let issuers = plan.issuersBySource
        func sample(_ name: String, _ s: SourceStatus, _ value: String, result: String? = nil) {
            let issuer = issuers[s.source] ?? "", source = s.uri.map { JWKSSource.redacted(uri: $0) } ?? s.source.redactedDescription
            if let result {
                out.sample(name, value, labels: [("issuer", issuer), ("source", source), ("result", result)])
            } else {
                out.sample(name, value, labels: [("issuer", issuer), ("source", source)])
            }
        }
        out.family("warden_jwks_fetches_total", "counter", "JWKS fetches by issuer, source and result.")
        for s in statuses {
            sample("warden_jwks_fetches_total", s, String(s.fetches.succeeded), result: "success")
            sample("warden_jwks_fetches_total", s, String(s.fetches.failed), result: "failed")
            sample("warden_jwks_fetches_total", s, String(s.fetches.notModified), result: "not_modified")
        }
        out.family("warden_jwks_keys", "gauge", "Usable keys per source.")
        for s in statuses { sample("warden_jwks_keys", s, String(s.keyCount)) }
        out.family("warden_jwks_available", "gauge", "Whether the source serves keys now (1) or not (0).")
        for s in statuses { sample("warden_jwks_available", s, s.available ? "1" : "0") }
        out.family("warden_jwks_age_seconds", "gauge", "Age of the last good keys per source.")
        for s in statuses { if let f = s.fetchedAt { sample("warden_jwks_age_seconds", s, "\(max(0, now - f))") } }
        out.family("warden_jwks_unknown_kid_refetches_total", "counter", "Refetches triggered by an unknown kid.")
        for s in statuses { sample("warden_jwks_unknown_kid_refetches_total", s, String(s.unknownKidRefetches)) }
        out.family("warden_jwks_unknown_kid_rate_limited_total", "counter", "Unknown-kid refetches refused by the rate limit.")
        for s in statuses { sample("warden_jwks_unknown_kid_rate_limited_total", s, String(s.unknownKidRateLimited)) }
        out.family("warden_jwks_waiting_checks", "gauge", "Checks waiting for this source's keys now.")
        for s in statuses { sample("warden_jwks_waiting_checks", s, String(s.waiting)) }
        out.family("warden_jwks_waiters_refused_total", "counter",
                   "Checks answered at once from the keys at hand because the waiter caps (--jwks-max-waiters) were reached.")
        for s in statuses { sample("warden_jwks_waiters_refused_total", s, String(s.waitersRefused)) }
    }

    private func render(_ counters: LabeledCounters, _ name: String, _ help: String, into out: inout PrometheusText) {
        out.family(name, "counter", help)
        for (values, n) in counters.samples { out.sample(name, n, labels: Array(zip(counters.labels, values))) }
    }
}
