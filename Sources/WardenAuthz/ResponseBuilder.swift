import WardenJSON
import WardenJWT
import WardenPolicy

/// Renders a finished `DecisionRecord` as the decision a front door applies, with Envoy's exact bodies:
/// jwt_authn's for token failures, RBAC's for policy denials.
struct ResponseBuilder: Sendable {
    let options: AuthzOptions

    static let rbacDenied = "RBAC: access denied"
    static let debugHeaderNames = ["x-warden-decision", "x-warden-reason", "x-warden-denied-by"]
    /// The dynamic metadata key of the first token's claims.
    static let payloadMetadataKey = "jwt_payload"

    /// Which answer a finished record gets: `decision` renders it, `status` gives its status alone.
    private enum Answer {
        case tokenDenied(JWTError)
        case policyDenied
        case exchangeFailed(ExchangeStep)
        case allowed
    }

    private func answer(for record: DecisionRecord) -> Answer {
        if let failed = record.jwtAuthnFailure { return .tokenDenied(failed) }
        // Fail closed: a rejected token without its error (never produced) is still a 401.
        if record.rejectedToken != nil { return .tokenDenied(record.rejection?.error ?? .badSignature) }
        if let missing = record.missingToken { return .tokenDenied(missing) }
        guard let authorization = record.authorization, authorization.isAllowed else { return .policyDenied }
        if let x = record.exchange, x.failure != nil { return .exchangeFailed(x) }
        return .allowed
    }

    func decision(for record: DecisionRecord, request: RequestAttributes, scope: ScopePlan) -> Decision {
        switch answer(for: record) {
        case .tokenDenied(let e): return tokenDenied(e, record: record, request: request)
        case .policyDenied: return policyDenied(record)
        case .exchangeFailed(let x): return exchangeFailed(x, record: record)
        case .allowed: return allowed(record, request: request, scope: scope)
        }
    }

    /// The HTTP status `decision(for:)` would answer, without building the answer (the dry-run check needs
    /// only this; building an allow renders every output header).
    func status(for record: DecisionRecord) -> Int {
        switch answer(for: record) {
        case .tokenDenied(let e): return e.httpStatus
        case .policyDenied: return 403
        case .exchangeFailed(let x): return Self.exchangeFailureStatus(x)
        case .allowed: return 200
        }
    }

    /// 403 for a refused exchange or one whose rule cannot be decided (an unreported connection fact), 503 for
    /// one without an answer.
    private static func exchangeFailureStatus(_ x: ExchangeStep) -> Int {
        switch x.result {
        case .refused, .connectionFactUnreported: return 403
        case .exchanged, .unavailable: return 503
        }
    }

    /// 403 when the token endpoint refused the exchange (the token may not be used toward this upstream) or
    /// whether a rule applies cannot be decided (an unreported connection fact), 503 when the endpoint gave
    /// no answer (try again later). The original token is never forwarded instead.
    private func exchangeFailed(_ x: ExchangeStep, record: DecisionRecord) -> Decision {
        var headers: [HTTPHeader] = []
        if options.debugHeaders {
            headers.append(HTTPHeader("x-warden-decision", "deny"))
            headers.append(HTTPHeader("x-warden-reason", HeaderField.sanitized(record.reason)))
        }
        let status = Self.exchangeFailureStatus(x)
        return .deny(DenyResponse(status: status, body: status == 403 ? "Token exchange was refused" : "Token exchange is unavailable", headers: headers))
    }

    /// 401 (403 for audiences) with jwt_authn's body and `WWW-Authenticate: Bearer realm="<uri>", error="invalid_token"`.
    private func tokenDenied(_ e: JWTError, record: DecisionRecord, request: RequestAttributes) -> Decision {
        // Envoy's per-route `Wrong requirement_name` 403 is a local reply without a challenge.
        var headers: [HTTPHeader] = []
        if case .wrongRequirementName = e {} else {
            headers.append(HTTPHeader("www-authenticate", Self.challenge(for: e, realm: HeaderField.realm(request.originalURI))))
        }
        // RFC 9449 §8: exactly one DPoP-Nonce. Warden minted it (base64url), so it is a valid field value.
        if case .bindingFailed(.dpop(let d)) = e, d.isNonceError, let nonce = record.dpopNonce {
            headers.append(HTTPHeader("dpop-nonce", nonce))
        }
        if options.debugHeaders {
            headers.append(HTTPHeader("x-warden-decision", "deny"))
            headers.append(HTTPHeader("x-warden-reason", HeaderField.sanitized(record.reason)))
        }
        return .deny(DenyResponse(status: e.httpStatus, body: e.envoyMessage, headers: headers))
    }

    /// `Bearer realm="<uri>", error="invalid_token"`; for a token presented with the DPoP scheme the DPoP
    /// challenge of RFC 9449 §7.1, with `invalid_dpop_proof` for a bad proof and the algorithms accepted.
    static func challenge(for e: JWTError, realm: String) -> String {
        if case .bindingFailed(.dpop(let d)) = e {
            let algs = DPoPProof.algorithms.map(\.rawValue).joined(separator: " ")
            if let description = nonceDescription(d) {
                // RFC 9449 §9 (Figure 24): the client retries with the DPoP-Nonce sent beside this challenge.
                return "DPoP realm=\"\(realm)\", error=\"use_dpop_nonce\", error_description=\"\(description)\", algs=\"\(algs)\""
            }
            return "DPoP realm=\"\(realm)\", error=\"\(d.isProofError ? "invalid_dpop_proof" : "invalid_token")\", algs=\"\(algs)\""
        }
        // No token at all: no error code (RFC 6750 §3.1), as jwt_authn answers JwtMissed (checked against
        // Envoy in test_policy_istio_v131_oracle.py).
        if case .missing = e { return "Bearer realm=\"\(realm)\"" }
        return "Bearer realm=\"\(realm)\", error=\"invalid_token\""
    }

    /// The `error_description` of a `use_dpop_nonce` challenge (fixed text: nothing from the request).
    private static func nonceDescription(_ e: DPoPError) -> String? {
        switch e {
        case .nonceMissing: return "Resource server requires nonce in DPoP proof"
        case .nonceExpired: return "DPoP proof nonce has expired"
        case .nonceInvalid: return "DPoP proof nonce is not valid"
        default: return nil
        }
    }

    /// 403 `RBAC: access denied` for a policy denial.
    private func policyDenied(_ record: DecisionRecord) -> Decision {
        var headers: [HTTPHeader] = []
        if options.debugHeaders {
            headers.append(HTTPHeader("x-warden-decision", "deny"))
            headers.append(HTTPHeader("x-warden-reason", HeaderField.sanitized(record.reason)))
            if let by = record.authorization?.deniedBy { headers.append(HTTPHeader("x-warden-denied-by", HeaderField.sanitized(by))) }
        }
        return .deny(DenyResponse(status: 403, body: Self.rbacDenied, headers: headers))
    }

    /// Allow: claim and payload headers set (overwriting), spoofed copies of every output header removed,
    /// tokens removed from where they were found unless forwarded, the payload as dynamic metadata.
    private func allowed(_ record: DecisionRecord, request: RequestAttributes, scope: ScopePlan) -> Decision {
        var ok = AllowResponse()
        ok.headersToRemove.reserveCapacity(scope.outputHeaders.count + record.tokens.count + Self.debugHeaderNames.count)
        // Header names set and removed so far: a handful per check, so linear searches in arrays
        // (no hashing, no allocation beyond the response's own lists).
        func put(_ name: String, _ value: String) {
            if !ok.headersToSet.contains(where: { $0.name == name }) { ok.headersToSet.append(HTTPHeader(name, value)) }
        }
        func isSet(_ name: String) -> Bool { ok.headersToSet.contains { $0.name == name } }
        func remove(_ name: String) {
            if !isSet(name) && !ok.headersToRemove.contains(name) { ok.headersToRemove.append(name) }
        }
        // A value that is not a valid field value is not set (and the client's copy is still removed
        // below): a user-editable claim must not decide whether the request fails at the proxy.
        func output(_ name: String, _ value: String, claim: String?) {
            if let problem = HeaderField.problem(value) {
                record.droppedHeaders.append(DroppedHeader(header: name, claim: claim, problem: problem))
            } else {
                put(name, value)
            }
        }
        /// The payload and claim headers of a verified token's rule.
        func outputs(of rule: JWTRule, _ v: VerifiedJWT) {
            if let payloadHeader = rule.outputPayloadToHeader {
                output(payloadHeader.lowercased(), v.payloadSegment, claim: nil)
            }
            for c in rule.outputClaimToHeaders {
                if let value = ClaimText.lookup(c.claim, in: v.claims).flatMap(ClaimText.headerValue) {
                    output(c.header.lowercased(), value, claim: c.claim)
                }
            }
        }
        for t in record.tokens {
            guard let rule = t.rule, let v = t.verified else { continue }
            outputs(of: rule, v)
        }
        // Envoy jwt_authn documents: each verified token's provider writes its payload and claim headers, and
        // its claims under `payload_in_metadata`.
        for step in record.jwtAuthn {
            for t in step.tokens {
                guard let rule = t.rule, let v = t.verified else { continue }
                let provider = rule.jwtAuthnProvider.flatMap { step.plan.outputs[$0] }
                if provider?.padPayloadHeader == true, let h = rule.outputPayloadToHeader {
                    let segment = v.payloadSegment
                    output(h.lowercased(), segment + String(repeating: "=", count: (4 - segment.utf8.count % 4) % 4), claim: nil)
                }
                outputs(of: rule, v)
                if let key = provider?.payloadInMetadata {
                    var claims = v.claims
                    for name in provider?.spaceDelimitedInMetadata ?? [] {
                        if case .string(let text)? = claims[name] {
                            claims[name] = .array(text.split(separator: " ", omittingEmptySubsequences: true).map { .string(String($0)) })
                        }
                    }
                    ok.dynamicMetadata[key] = .object(claims)
                }
                if let key = provider?.headerInMetadata { ok.dynamicMetadata[key] = .object(v.header.members) }
            }
            // Client copies of every provider's output headers are removed, whatever the route required.
            for h in step.plan.outputHeaders { remove(h) }
        }
        // RFC 8693: the exchanged token replaces the original toward the upstream (validated as a b64token).
        if let x = record.exchange, let token = x.token {
            put(x.header, x.header == "authorization" ? "Bearer " + token : token)
        }
        for h in scope.outputHeaders { remove(h) }
        // A verified jwt_authn token is removed unless its provider forwards it (a failed one under
        // allow_missing_or_failed stays, as Envoy removes only tokens that verified).
        let jwtAuthnVerified = record.jwtAuthn.flatMap(\.tokens).filter { $0.verified != nil }
        for t in record.tokens + jwtAuthnVerified where !(t.rule?.forwardOriginalToken ?? false) {
            switch t.location {
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
        if let first = record.tokens.first, let v = first.verified {
            ok.dynamicMetadata[Self.payloadMetadataKey] = .object(v.claims)
        }
        if options.debugHeaders {
            put("x-warden-decision", "allow")
            put("x-warden-reason", HeaderField.sanitized(record.reason))
        }
        // RFC 9449 §8.2: the next nonce in the successful response, before the client's current one expires.
        if let nonce = record.dpopNonce { ok.responseHeadersToAdd.append(HTTPHeader("dpop-nonce", nonce)) }
        // Warden's own headers reach the upstream only when Warden set them, never as a client's copy.
        for h in Self.debugHeaderNames { remove(h) }
        return .allow(ok)
    }

}
