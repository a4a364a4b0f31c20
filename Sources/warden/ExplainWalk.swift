import WardenAuthz
import WardenJSON
import WardenJWKS
import WardenJWT
import WardenPolicy

/// The 401/403 flowchart of one check, rendered from its `DecisionRecord`: which tokens were found, how
/// each check of each token ended, what the AuthorizationPolicies said, and the decision. It verifies
/// nothing: a ✓ is a check the record says passed, the ✗ is the error the check stopped at, and checks
/// after it are marked as not run. Hints (near-miss issuers, letter case, refetch advice) are read from
/// the error values, the record's keys and the policies.
struct ExplainWalk {
    let options: ExplainOptions
    /// The options the check ran with (the key source of a rule depends on them).
    let authz: AuthzOptions
    let policies: PolicySet
    let request: RequestAttributes
    let result: CheckResult
    /// The check's clock (`--now`), for relative times.
    let now: Double

    private var record: DecisionRecord { result.record }

    static let notRun = "not checked: Warden stops at the first failed check"

    final class Lines {
        var text: [String] = []
        func add(_ s: String) { text.append(s) }
        func pass(_ s: String) { text.append("  ✓ " + s) }
        func fail(_ s: String) { text.append("  ✗ " + s) }
        func info(_ s: String) { text.append("  · " + s) }
        func hint(_ s: String) { text.append("  ! " + s) }
        func block(_ s: String, indent: String = "      ") {
            for line in s.split(separator: "\n", omittingEmptySubsequences: false) { text.append(indent + line) }
        }
    }

    func render() -> [String] {
        let out = Lines()
        let effective = policies.effective(for: record.scope)
        header(effective, out: out)
        jwtAuthn(out: out)
        if record.jwtAuthnFailure != nil {
            decision(out: out)
            return out.text
        }
        var step = tokens(effective, out: out)
        // Check order: the last token found is checked first (Envoy pops its tokens from the back).
        for i in record.tokens.indices.reversed() {
            token(i, effective: effective, step: &step, out: out)
        }
        authorization(effective, step: step, out: out)
        decision(out: out)
        dryRun(out: out)
        return out.text
    }

    /// Each Envoy jwt_authn document, before the Istio resources: which requirement applied (first matching
    /// rule, the route's requirement_name, none) and how each token it looked at ended.
    private func jwtAuthn(out: Lines) {
        for step in record.jwtAuthn {
            out.add("\(step.document): \(step.selection)")
            for t in step.tokens {
                let who = "\(t.location)" + (t.rule.map { " (provider \($0.source.name))" } ?? "")
                switch t.outcome {
                case .verified: out.pass("\(who): verified" + (t.jwt?.issuer.map { ", iss \($0)" } ?? ""))
                case .rejected(let e): out.fail("\(who): \(e.envoyMessage)")
                case .notChecked: out.info("\(who): \(Self.notRun)")
                }
            }
            if let e = step.error { out.fail("requirement not met: \(e.httpStatus) \(e.envoyMessage)") } else { out.pass("requirement met") }
        }
        if !record.jwtAuthn.isEmpty { out.add("") }
    }

    /// What the dry-run RequestAuthentications and TokenPolicies would have answered had they been enforced.
    private func dryRun(out: Lines) {
        guard let d = record.dryRun else { return }
        out.add("")
        out.add("Dry run (istio.io/dry-run, not enforced): " + d.resources.joined(separator: ", "))
        let line = "would answer \(d.status) \(d.wouldAllow ? "allowed" : d.status == 401 ? "Unauthorized" : "Forbidden") (\(d.reasonCode.rawValue))"
        if d.wouldAllow { out.pass(line) } else { out.fail(line) }
        out.info("reason: \(d.record.reason)")
        if d.wouldAllow != result.decision.isAllowed {
            out.hint(d.wouldAllow ? "enforcing it would allow this request, which is denied now"
                                  : "enforcing it would deny this request, which is allowed now")
        }
    }

    /// The challenge with the realm's query cut (`?…`): the realm is the request URI, and a token may ride in
    /// `?access_token=`; the output never prints a query value (the headline drops them too).
    static func realmWithoutQuery(_ challenge: String) -> String {
        guard let open = challenge.range(of: "realm=\""),
              let close = challenge[open.upperBound...].firstIndex(of: "\""),
              let question = challenge[open.upperBound..<close].firstIndex(of: "?") else { return challenge }
        return String(challenge[..<challenge.index(after: question)]) + "…" + String(challenge[close...])
    }

    // MARK: steps

    private func header(_ effective: EffectivePolicy, out: Lines) {
        // Query values are dropped, as in the decision log: a token may ride in `?access_token=`.
        out.add("warden explain: \(request.method) \(DecisionLog.pathWithoutSecrets(request.path)) (host \(request.host))")
        let labels = options.workloadLabels.keys.sorted().map { "\($0)=\(options.workloadLabels[$0]!)" }.joined(separator: ",")
        out.add("Scope: namespace \(options.namespace)" + (labels.isEmpty ? "" : ", labels \(labels)") + ", root namespace \(options.rootNamespace)")
        out.add("Policies: \(effective.requestAuthentications.count) of \(policies.requestAuthentications.count) RequestAuthentication(s) and "
                + "\(effective.allowPolicies.count + effective.denyPolicies.count + effective.auditPolicies.count + effective.customPolicies.count + effective.dryRunPolicies.count) "
                + "of \(policies.authorizationPolicies.count) AuthorizationPolicy(ies) apply")
        for note in policies.notes + effective.notes { out.hint(note.description) }
        out.add("Time: \(TimeText.rfc3339(now))" + (options.now != nil ? " (--now)" : "") + ", clock skew \(TimeText.seconds(options.clockSkew)) s")
        out.add("")
    }

    /// The tokens a jwt_authn step verified and removed (its provider does not forward them): no later step saw them.
    private var removedByJwtAuthn: [(location: TokenLocation, provider: String)] {
        record.jwtAuthn.flatMap(\.tokens).compactMap { t in
            guard t.verified != nil, !(t.rule?.forwardOriginalToken ?? false) else { return nil }
            if case .cookie = t.location { return nil }  // Envoy leaves cookie tokens in place
            return (t.location, t.rule?.jwtAuthnProvider ?? "?")
        }
    }

    /// Step 1: the tokens the check found. Returns the next step number.
    private func tokens(_ effective: EffectivePolicy, out: Lines) -> Int {
        out.add("1. Token")
        let found = record.tokens
        if effective.jwtRules.isEmpty {
            // A SecurityPolicy's RequestAuthentication carries no rules for the Istio step: its own providers checked
            // the tokens in its jwt_authn step above.
            out.info(effective.requestAuthentications.isEmpty
                ? "no RequestAuthentication applies to this workload: tokens are neither looked for nor checked"
                : "no Istio RequestAuthentication applies to this workload: the Istio step looks for no token (a SecurityPolicy's "
                    + "providers verify for its own stage only, above)")
        }
        if record.corsPreflight {
            out.info("CORS preflight (OPTIONS with Origin and Access-Control-Request-Method): tokens are not checked")
        } else if found.isEmpty && !effective.jwtRules.isEmpty {
            var seen = Set<TokenLocation>()
            let locations = effective.jwtRules.flatMap(\.tokenLocations).filter { seen.insert($0).inserted }
            out.fail("no token found; looked in: " + locations.map(\.description).joined(separator: ", "))
            for removed in removedByJwtAuthn {
                out.hint("the jwt_authn step above verified and removed the token at \(removed.location) (provider "
                         + "\(removed.provider), no `forward: true`): as in Envoy's filter chain, Istio's step does not see it")
            }
            for case .header(let name, let prefix) in locations where !prefix.isEmpty {
                if let value = request.headers[name], !value.contains(prefix) {
                    let scheme = value.split(separator: " ").first.map { String($0.prefix(16)) } ?? ""
                    out.hint("header \(name) is present but has no \"\(prefix)\" prefix (it starts with \"\(scheme)\"); the prefix is case-sensitive")
                }
            }
            if let missing = record.missingToken {
                out.fail("\(missing.envoyMessage) (\(missing.reasonCode.rawValue)): \(missing.detail); rejected with 401 before AuthorizationPolicies run")
            } else {
                out.info("a request without a token is not rejected here: it has no identity, and the AuthorizationPolicies decide (403 when one requires a principal)")
            }
        }
        for (i, t) in found.enumerated() {
            out.pass("token \(found.count > 1 ? "\(i + 1) of \(found.count) " : "")found in \(t.location), \(t.byteCount) bytes")
        }
        if found.count > 1 {
            out.info("every token present must verify (as Envoy's jwt_authn under Istio); the last one found is checked first")
        }
        out.add("")
        return 2
    }

    /// How one check of a token ended, read from its outcome.
    private enum CheckState {
        case passed, failed(JWTError), notRun
    }

    private func state(_ check: TokenCheck, _ trace: TokenTrace) -> CheckState {
        guard let error = trace.error else { return .passed }
        if check < error.check { return .passed }
        return check == error.check ? .failed(error) : .notRun
    }

    /// Steps 2–7 for one token (decode, issuer, times, audience, keys and kid, signature), or one step
    /// saying it was not checked.
    private func token(_ i: Int, effective: EffectivePolicy, step: inout Int, out: Lines) {
        let trace = record.tokens[i]
        let several = record.tokens.count > 1
        let label = several ? " (token \(i + 1))" : ""
        if case .notChecked = trace.outcome {
            out.add("\(step). Token \(i + 1) — not checked")
            step += 1
            let by = record.rejectedToken.map { "token \($0 + 1) was checked before it and failed" } ?? "an earlier-checked token decided the answer"
            out.info("\(by); Warden stops at the first failed token")
            out.add("")
            return
        }

        out.add("\(step). Decoded\(label) — NOT VERIFIED, shown before any check")
        step += 1
        decoded(trace, out: out)
        out.add("")

        out.add("\(step). Issuer\(label)")
        step += 1
        issuer(trace, effective: effective, out: out)
        out.add("")

        out.add("\(step). Expiry and not-before\(label)")
        step += 1
        times(trace, out: out)
        out.add("")

        out.add("\(step). Audience\(label)")
        step += 1
        audience(trace, out: out)
        tokenPolicy(trace, effective: effective, out: out)
        out.add("")

        out.add("\(step). Key (kid)\(label)")
        step += 1
        key(trace, out: out)
        out.add("")

        out.add("\(step). Signature\(label)")
        step += 1
        signature(trace, out: out)

        if record.rejectedToken == i, let error = record.rejectedTogether {
            // Every check of this token passed; it is rejected together with the others.
            out.fail("\(error.envoyMessage): \(error.detail)")
            out.hint("give each rule its own token locations (fromHeaders, fromParams, fromCookies), or send one token")
            out.info("every token verified, but they are rejected together: the request is rejected with \(result.decision.httpStatus)")
        } else if let error = trace.error {
            if record.rejectedToken == i {
                out.info("Warden stops at the first failed check (\(Self.name(error))): the request is rejected with \(result.decision.httpStatus)")
            } else if let r = record.rejectedToken {
                out.info("this token failed (\(Self.name(error))), but token \(r + 1)'s failure is the answer: "
                         + "\"Jwt issuer is not configured\" is reported only when no other token failed (as Envoy)")
            }
        }
        out.add("")
    }

    private func decoded(_ trace: TokenTrace, out: Lines) {
        switch state(.decode, trace) {
        case .failed(let error):
            out.fail("\(error.envoyMessage): \(error.detail)")
        case .notRun:
            out.info(Self.notRun)
        case .passed:
            guard let jwt = trace.jwt else {
                if let endpoint = trace.introspectionEndpoint {
                    return out.info("not a JWT: an opaque token, sent to the introspection endpoint \(endpoint) (RFC 7662)")
                }
                return out.info("passed (the parsed token is not in the record)")
            }
            if let endpoint = jwt.introspectedBy {
                out.pass("an opaque token; the introspection endpoint \(endpoint) answered active (RFC 7662)")
                out.add("    introspection answer:")
                out.block(JSONPretty.render(.object(jwt.claims), indent: "", note: JSONPretty.timeClaimNote(now: now)))
                return
            }
            out.pass("well-formed JWS, alg \(jwt.algorithm?.rawValue ?? "?")")
            out.add("    header:")
            out.block(JSONPretty.render(.object(jwt.header.members), indent: ""))
            out.add("    payload:")
            out.block(JSONPretty.render(.object(jwt.claims), indent: "", note: JSONPretty.timeClaimNote(now: now)))
        }
    }

    /// The token's `iss` selects the rule, and that rule must read tokens from where this one was found.
    private func issuer(_ trace: TokenTrace, effective: EffectivePolicy, out: Lines) {
        switch state(.issuer, trace) {
        case .notRun:
            out.info(Self.notRun)
        case .passed:
            let iss = trace.jwt?.issuer ?? trace.rule?.issuer ?? ""
            if let rule = trace.rule {
                out.pass("iss \(quote(iss)) is configured (RequestAuthentication \(rule.source)) and reads tokens from \(trace.location)")
            } else {
                out.pass("iss \(quote(iss)) is configured and reads tokens from \(trace.location)")
            }
        case .failed(let error):
            let iss = trace.jwt?.issuer
            let configured = Array(Set(effective.jwtRules.map(\.issuer))).sorted()
            if let iss, let rule = effective.jwtRules.first(where: { $0.issuer.bytesEqual(iss) }) {
                out.fail("iss \(quote(iss)) is configured (RequestAuthentication \(rule.source)) but its rule reads tokens from "
                         + rule.tokenLocations.map(\.description).joined(separator: ", ") + ", not from \(trace.location)")
                return
            }
            if let iss {
                out.fail("iss \(quote(iss)) is not a configured issuer")
            } else if case .issuerNotConfigured(nil) = error {
                out.fail("the token has no \"iss\" claim")
            } else {
                out.fail(error.detail)
            }
            out.info("configured issuers: " + (configured.isEmpty ? "none" : configured.map(quote).joined(separator: ", ")))
            if let iss {
                for c in configured {
                    if let why = Self.nearMiss(iss, c) { out.hint("\(quote(iss)) vs \(quote(c)): \(why); issuers are compared exactly") }
                }
            }
        }
    }

    /// nbf then exp, with the boundaries the verifier uses: valid while now + skew >= nbf and now <= exp + skew.
    private func times(_ trace: TokenTrace, out: Lines) {
        let checked = state(.time, trace)
        if case .notRun = checked { return out.info(Self.notRun) }
        guard let jwt = trace.jwt else { return out.info("passed (the parsed token is not in the record)") }
        let skew = options.clockSkew
        var failure: JWTError?
        if case .failed(let e) = checked { failure = e }

        if case .notYetValid(let nbf, let at)? = failure {
            out.fail("nbf \(TimeText.rfc3339(nbf)) is \(TimeText.duration(nbf - at)) in the future (more than the \(TimeText.seconds(skew)) s skew): not yet valid")
            out.hint("a token rejected as not yet valid right after issue usually means the IdP's clock or this host's is off")
            out.info((jwt.expiresAt.map { "exp \(TimeText.rfc3339($0)): " } ?? "exp: ") + Self.notRun)
        } else {
            if let nbf = jwt.notBefore {
                out.pass("nbf \(TimeText.rfc3339(nbf)) (\(TimeText.relative(nbf, now: now)))")
            } else {
                out.info("no nbf")
            }
            switch failure {
            case .expired(let exp, let at)?:
                out.fail("exp \(TimeText.rfc3339(exp)): expired \(TimeText.duration(at - exp)) ago (beyond the \(TimeText.seconds(skew)) s skew)")
            case .missingExpiration?:
                out.fail("no exp, and --require-expiration is set")
            case let error?:
                out.fail(error.detail)
            case nil:
                if let exp = jwt.expiresAt {
                    if now > exp {
                        out.pass("exp \(TimeText.rfc3339(exp)) passed \(TimeText.duration(now - exp)) ago, within the \(TimeText.seconds(skew)) s skew")
                    } else {
                        out.pass("exp \(TimeText.rfc3339(exp)) (\(TimeText.relative(exp, now: now)))")
                    }
                } else {
                    out.info("no exp: accepted (Istio does not require one; serve --require-expiration would reject it)")
                }
            }
        }
        if let iat = jwt.issuedAt, iat > now + skew {
            out.hint("iat \(TimeText.rfc3339(iat)) is \(TimeText.duration(iat - now)) in the future: the IdP's clock and this host's disagree (iat is not enforced)")
        }
    }

    /// The rule's audiences, compared as Envoy does (scheme and trailing slash ignored).
    private func audience(_ trace: TokenTrace, out: Lines) {
        switch state(.audience, trace) {
        case .notRun:
            out.info(Self.notRun)
        case .passed:
            guard let rule = trace.rule else { return out.pass("passed") }
            if rule.audiences.isEmpty {
                out.info("the rule lists no audiences: any aud is accepted (tokens minted for other services pass too)")
            } else {
                let aud = trace.jwt?.audiences ?? []
                out.pass("aud [\(aud.map(quote).joined(separator: ", "))] includes one of [\(rule.audiences.map(quote).joined(separator: ", "))]")
            }
        case .failed(let error):
            out.fail(error.detail)
            if case .audienceMismatch(let got, let allowed) = error {
                let lowered = Set(allowed.map { $0.lowercased() })
                if got.contains(where: { lowered.contains($0.lowercased()) }) {
                    out.hint("an audience differs only in letter case; audiences are compared case-sensitively")
                }
            }
            out.info("a disallowed audience is answered with \(error.httpStatus) \"\(error.envoyMessage)\" (not 401)")
        }
    }

    /// The issuer's TokenPolicy checks (typ, required claims, subjects), shown under the audience step
    /// when a TokenPolicy applies to the issuer or one of its checks failed.
    private func tokenPolicy(_ trace: TokenTrace, effective: EffectivePolicy, out: Lines) {
        let issuer = trace.jwt?.issuer ?? trace.rule?.issuer ?? ""
        let rules = effective.tokenRulesByIssuer[ExactKey(issuer)] ?? []
        switch state(.profile, trace) {
        case .failed(let error):
            out.fail("TokenPolicy: \(error.detail)")
            out.info("policies: " + effective.tokenPolicies.filter { $0.rules.contains { $0.issuer.bytesEqual(issuer) } }
                .map { "\($0.ref) (\($0.origin))" }.joined(separator: ", "))
        case .passed where !rules.isEmpty:
            var checks: [String] = []
            if rules.contains(where: { !$0.typ.isEmpty }) { checks.append("typ \(trace.jwt?.header.typ.map(quote) ?? "(none)")") }
            let claims = rules.flatMap(\.requiredClaims).map(\.name)
            if !claims.isEmpty { checks.append("required claims [\(claims.map(quote).joined(separator: ", "))]") }
            if rules.contains(where: { $0.subjects != nil }) { checks.append("subjects") }
            if rules.contains(where: { $0.maxLifetime != nil }) { checks.append("maximum lifetime") }
            if rules.contains(where: \.senderConstrained) { checks.append("sender-constrained (checked with the signature)") }
            out.pass("TokenPolicy: " + (checks.isEmpty ? "no checks" : checks.joined(separator: ", ")) + " — passed")
        default:
            break
        }
    }

    /// The keys the check reached, and the token's kid among them.
    private func key(_ trace: TokenTrace, out: Lines) {
        let source = trace.keys?.source ?? trace.rule?.keySource(options: authz)
        switch state(.keys, trace) {
        case .notRun:
            return out.info(Self.notRun)
        case .failed(let error):
            let from = source.map(describe) ?? "this issuer"
            switch error {
            case .introspectionFailed(let why):
                out.fail("an opaque token: no usable answer from the introspection endpoint (RFC 7662): \(why)")
            case .jwksUnavailable(let why):
                out.fail("no keys for \(from): \(why)")
                out.info("serve answers 401 \"\(error.envoyMessage)\" while an issuer's keys cannot be fetched and none are cached")
            default:
                out.fail("no usable keys from \(from): \(error.detail)")
            }
            return
        case .passed:
            break
        }
        let kid = trace.jwt?.header.kid
        if let snapshot = trace.keys {
            let kids = snapshot.keys.keys.map { k in (k.kid.map(quote) ?? "(no kid)") + " " + k.kty + (k.alg.map { "/" + $0 } ?? "") }
            out.info("keys from \(source.map(describe) ?? "the issuer"): \(snapshot.keys.keys.count) key(s): " + kids.joined(separator: ", "))
        }
        switch state(.kid, trace) {
        case .notRun:
            out.info(Self.notRun)
        case .passed:
            out.pass(kid.map { "kid \(quote($0)) found" } ?? "the token has no kid; a key with a compatible alg was found")
        case .failed:
            let alg = trace.jwt?.algorithm?.rawValue ?? "?"
            let sameKid = trace.keys?.keys.keys.filter { kid != nil && $0.kid == kid } ?? []
            if let kid, !sameKid.isEmpty {
                let algs = sameKid.compactMap(\.alg)
                out.fail("a key with kid \(quote(kid)) exists but declares alg \(algs.joined(separator: "/")); the token uses \(alg)")
            } else {
                out.fail(kid.map { "kid \(quote($0)) is not in the JWKS" } ?? "the token has no kid and no key has a compatible alg")
            }
            if let source { out.hint(refetchAdvice(source)) }
        }
    }

    private func signature(_ trace: TokenTrace, out: Lines) {
        switch state(.signature, trace) {
        case .notRun:
            out.info(Self.notRun)
        case .passed:
            guard let verified = trace.verified else { return out.pass("passed") }
            if let endpoint = verified.introspectedBy {
                return out.pass("no signature: the introspection endpoint \(endpoint) vouched for the token")
            }
            let alg = verified.algorithm?.rawValue ?? "?"
            if let key = trace.keys?.keys.keys.first(where: { $0.fingerprint == verified.verifiedBy }) {
                out.pass("signature verifies with key \(key.kid.map(quote) ?? "(no kid)") (\(key.kty), \(alg))")
            } else {
                out.pass("signature verifies with the key of fingerprint \(verified.verifiedBy) (\(alg))")
            }
            if trace.fromCache {
                out.info("answered by the token cache: this token verified before with a key still in the set")
            }
        case .failed(let error):
            if case .badSignature = error {
                out.fail("\(error.detail): the token was altered, or signed by another key that reuses this kid (another environment?)")
            } else {
                out.fail(error.detail)
            }
        }
        // Sender-constrained tokens (cnf): the proof of possession, checked on every request.
        switch state(.binding, trace) {
        case .failed(let error):
            out.fail(error.detail)
        case .passed:
            if let cnf = trace.verified?.confirmation, let thumbprint = cnf.certificateThumbprint {
                out.pass("bound to the client certificate with SHA-256 thumbprint \(thumbprint) (cnf x5t#S256): the request presented it")
            }
        case .notRun:
            break
        }
    }

    /// The AuthorizationPolicies as the check evaluated them (or why it did not).
    private func authorization(_ effective: EffectivePolicy, step: Int, out: Lines) {
        out.add("\(step). Authorization")
        guard let decision = record.authorization else {
            if record.missingToken != nil {
                out.info("not evaluated: a request without a token is rejected with 401 before AuthorizationPolicies run (presence: REQUIRED)")
            } else if record.rejection != nil {
                out.info("not evaluated: a token that fails verification is rejected with \(result.decision.httpStatus) before AuthorizationPolicies run")
            } else {
                out.info("not evaluated")
            }
            return out.add("")
        }
        let identities = record.identities
        switch identities.count {
        case 0: out.info("no request principal (no verified token)")
        case 1: out.info("request principal \(quote(identities[0].principal))")
        default:
            // Every verified token's identity is evaluated, and each must be allowed on its own.
            let each = zip(identities, record.tokens.filter { $0.identity != nil }).map { "\(quote($0.principal)) (\($1.location))" }
            out.info("request principals, each evaluated and each required to be allowed: " + each.joined(separator: ", "))
        }
        let identity = identities.first
        var connection: [String] = []
        if !request.sourceIP.isEmpty { connection.append("source \(request.sourceIP)" + (request.sourcePort > 0 ? ":\(request.sourcePort)" : "")) }
        connection.append(request.sourcePrincipal.isEmpty ? "no mTLS peer" : "mTLS peer \(quote(request.sourcePrincipal))")
        if !request.destinationIP.isEmpty || request.destinationPort > 0 {
            connection.append("destination \(request.destinationIP)" + (request.destinationPort > 0 ? ":\(request.destinationPort)" : ""))
        }
        if !request.sni.isEmpty { connection.append("SNI \(quote(request.sni))") }
        if !request.metadataContext.isEmpty { connection.append("metadata \(request.metadataContext.keys.sorted().joined(separator: ", "))") }
        out.info("connection: " + connection.joined(separator: ", "))
        func list(_ name: String, _ ps: [AuthorizationPolicy]) {
            out.info("\(name): " + (ps.isEmpty ? "none" : ps.map { "\($0.ref) (\($0.origin), \($0.rules.count) rule(s))" }.joined(separator: ", ")))
        }
        list("DENY policies", effective.denyPolicies)
        list("ALLOW policies", effective.allowPolicies)
        if !effective.auditPolicies.isEmpty { list("AUDIT policies", effective.auditPolicies) }
        for stage in effective.stages.dropFirst() {
            // Envoy Gateway's RBAC filter is another filter than Istio's: both must allow.
            out.info("separate stage (\(stage.securityPolicy ?? "")): its own DENY/ALLOW policies must allow too: "
                     + (stage.denyPolicies + stage.allowPolicies).map(\.ref.description).joined(separator: ", "))
            // Its RBAC reads only what its own jwt_authn requirement verified, never the Istio token step's identity.
            let seen = record.securityPolicyIdentities[stage.securityPolicy ?? ""] ?? []
            out.info("  it sees " + (seen.isEmpty ? "no verified token of its own providers"
                : seen.map { "\($0.principal) (provider \($0.verifiedBy ?? "?"))" }.joined(separator: ", ")))
        }
        if decision.isAllowed { out.pass(decision.reason) } else { out.fail(decision.reason) }
        if case .deny(.noAllowPolicyMatched) = decision.verdict, identity == nil,
           effective.allowPolicies.contains(where: { $0.rules.contains { !$0.from.flatMap(\.requestPrincipals).isEmpty } }) {
            out.hint(removedByJwtAuthn.isEmpty ? "an ALLOW rule requires requestPrincipals, and this request has no verified token: send one"
                : "an ALLOW rule requires requestPrincipals, and the jwt_authn step removed the token it verified: set "
                    + "`forward: true` on its provider for Istio's step to see it")
        }
        for m in decision.auditMatches { out.info("audit: \(m)") }
        for d in decision.dryRun { out.info(d.description) }
        if let x = record.exchange {
            let target = (x.audiences.map { "audience \(quote($0))" } + x.resources.map { "resource \(quote($0))" }).joined(separator: ", ")
            let token = x.tokenIndex < record.tokens.count ? " the token from \(record.tokens[x.tokenIndex].location)" : " the token"
            switch x.result {
            case .exchanged(let cached):
                out.pass("token exchange (RFC 8693): \(token) exchanged at \(x.endpoint) for \(target)\(cached ? " (cached)" : ""); "
                         + "the new token goes in \(x.header) toward the upstream")
            case .refused, .unavailable, .connectionFactUnreported:
                out.fail("token exchange (RFC 8693) at \(x.endpoint) for \(target): \(x.failure ?? "")")
                if x.failure?.contains("explain works offline") == true { out.hint("pass --fetch to ask the token endpoint") }
            }
        }
        out.add("")
    }

    /// What serve would answer: the check's own decision and reason.
    private func decision(out: Lines) {
        switch result.decision {
        case .allow(let ok):
            out.add("Result: ✓ 200 allowed (\(record.reasonCode.rawValue))")
            if ok.headersToSet.isEmpty { out.info("headers set: none") }
            for h in ok.headersToSet {
                // The exchanged token is a credential: its size, never its text.
                let value = record.exchange?.header == h.name ? "<exchanged token, \(h.value.utf8.count) bytes>" : Self.shorten(h.value)
                out.info("header set: \(h.name): \(value)")
            }
            for d in record.droppedHeaders {
                out.hint("header not set: \(d.header)" + (d.claim.map { " (claim \($0))" } ?? " (payload)")
                         + ": the value \(d.problem), which no HTTP header may (\(DroppedHeader.reasonCode))")
            }
            if !ok.headersToRemove.isEmpty { out.info("headers removed: " + ok.headersToRemove.joined(separator: ", ")) }
            for h in ok.responseHeadersToAdd { out.info("response header added: \(h.name): \(h.value)") }
            if !ok.queryParametersToRemove.isEmpty { out.info("query parameters removed: " + ok.queryParametersToRemove.joined(separator: ", ")) }
            if !ok.dynamicMetadata.isEmpty { out.info("dynamic metadata: " + ok.dynamicMetadata.keys.sorted().joined(separator: ", ")) }
        case .deny(let d):
            let text = [401: "Unauthorized", 403: "Forbidden", 503: "Service Unavailable"][d.status] ?? "Denied"
            out.add("Result: ✗ \(d.status) \(text) (\(record.reasonCode.rawValue))")
            out.info("body: \(quote(d.body))")
            for h in d.headers { out.info("header: \(h.name): \(h.name == "www-authenticate" ? Self.realmWithoutQuery(h.value) : h.value)") }
        }
        out.info("reason: \(record.reason)")
    }
}
