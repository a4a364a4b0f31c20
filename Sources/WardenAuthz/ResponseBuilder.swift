import WardenJSON
import WardenJWT
import WardenPolicy

/// Turns authentication and authorization results into the decision Envoy applies, with Envoy's
/// exact bodies: jwt_authn's for token failures, RBAC's for policy denials.
struct ResponseBuilder: Sendable {
    let options: AuthzOptions

    static let rbacDenied = "RBAC: access denied"
    static let debugHeaderNames = ["x-warden-decision", "x-warden-reason", "x-warden-denied-by"]
    /// The dynamic metadata key of the first token's claims.
    static let payloadMetadataKey = "jwt_payload"

    /// 401 (403 for audiences) with jwt_authn's body and `WWW-Authenticate: Bearer realm="<uri>", error="invalid_token"`.
    func tokenDenied(_ failure: AuthenticationFailure, request: RequestAttributes, generation: Int) -> CheckOutcome {
        let e = failure.error
        var challenge = "Bearer realm=\"\(request.originalURI)\""
        if e.isInvalidToken { challenge += ", error=\"invalid_token\"" }
        var headers = [HTTPHeader("www-authenticate", challenge)]
        let where_ = failure.location.map { " (token from \($0))" } ?? ""
        let reason = "\(e.envoyMessage): \(e.detail)\(where_)"
        if options.debugHeaders {
            headers.append(HTTPHeader("x-warden-decision", "deny"))
            headers.append(HTTPHeader("x-warden-reason", Self.headerSafe(reason)))
        }
        return CheckOutcome(decision: .deny(DenyResponse(status: e.httpStatus, body: e.envoyMessage, headers: headers)),
                            reason: reason, reasonCode: "jwt_" + e.metricLabel, generation: generation)
    }

    /// 403 `RBAC: access denied` for a policy denial.
    func policyDenied(_ decision: AuthorizationDecision, principal: String?, generation: Int) -> CheckOutcome {
        var headers: [HTTPHeader] = []
        if options.debugHeaders {
            headers.append(HTTPHeader("x-warden-decision", "deny"))
            headers.append(HTTPHeader("x-warden-reason", Self.headerSafe(decision.reason)))
            if let by = decision.deniedBy { headers.append(HTTPHeader("x-warden-denied-by", by)) }
        }
        let code: String
        switch decision.verdict {
        case .deny(.denyPolicyMatched): code = "policy_denied"
        case .deny(.noAllowPolicyMatched): code = "no_allow_policy_matched"
        case .deny(.invalidPath): code = "invalid_path"
        case .allow: code = "allowed"
        }
        return CheckOutcome(decision: .deny(DenyResponse(status: 403, body: Self.rbacDenied, headers: headers)),
                            authorization: decision, reasonCode: code, principal: principal, generation: generation)
    }

    /// Allow: claim and payload headers set (overwriting), spoofed copies of every output header removed,
    /// tokens removed from where they were found unless forwarded, the payload as dynamic metadata.
    func allowed(_ decision: AuthorizationDecision, request: RequestAttributes, tokens: [VerifiedToken], scope: CompiledScope,
                 principal: String?, generation: Int) -> CheckOutcome {
        var ok = AllowResponse()
        ok.headersToRemove.reserveCapacity(scope.outputHeaders.count + tokens.count + Self.debugHeaderNames.count)
        // Header names set and removed so far: a handful per check, so linear searches in arrays
        // (no hashing, no allocation beyond the response's own lists).
        func put(_ name: String, _ value: String) {
            if !ok.headersToSet.contains(where: { $0.name == name }) { ok.headersToSet.append(HTTPHeader(name, value)) }
        }
        func isSet(_ name: String) -> Bool { ok.headersToSet.contains { $0.name == name } }
        func remove(_ name: String) {
            if !isSet(name) && !ok.headersToRemove.contains(name) { ok.headersToRemove.append(name) }
        }
        for t in tokens {
            let rule = t.provider.rule
            if let payloadHeader = rule.outputPayloadToHeader {
                put(payloadHeader.lowercased(), t.jwt.payloadSegment)
            }
            for c in rule.outputClaimToHeaders {
                if let v = ClaimText.lookup(c.claim, in: t.jwt.claims).flatMap(ClaimText.headerValue) {
                    put(c.header.lowercased(), v)
                }
            }
        }
        for h in scope.outputHeaders { remove(h) }
        for t in tokens where !t.provider.rule.forwardOriginalToken {
            switch t.extracted.location {
            case .header(let name, _):
                remove(name)
            case .queryParameter(let p):
                for key in QueryString.rawKeys(named: p, in: request.path) + [p] where !ok.queryParametersToRemove.contains(key) {
                    ok.queryParametersToRemove.append(key)
                }
            case .cookie:
                break  // Envoy leaves cookie tokens in place.
            }
        }
        if let first = tokens.first {
            ok.dynamicMetadata[Self.payloadMetadataKey] = .object(first.jwt.claims)
        }
        if options.debugHeaders {
            put("x-warden-decision", "allow")
            put("x-warden-reason", Self.headerSafe(decision.reason))
        }
        // Warden's own headers reach the upstream only when Warden set them, never as a client's copy.
        for h in Self.debugHeaderNames { remove(h) }
        var outcome = CheckOutcome(decision: .allow(ok), authorization: decision, reasonCode: "allowed",
                                   principal: principal, generation: generation)
        outcome.encodedMetadata = tokens.first?.encodedClaims
        return outcome
    }

    static func policy(of d: AuthorizationDecision) -> String? {
        switch d.verdict {
        case .allow(.allowPolicyMatched(let m)), .deny(.denyPolicyMatched(let m)): return "\(m.policy) rule[\(m.ruleIndex)]"
        default: return nil
        }
    }

    /// Header values must not carry control characters.
    static func headerSafe(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : $0 }.prefix(512)))
    }
}
