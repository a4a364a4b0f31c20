import Foundation
import WardenSync
import WardenAuthz
import WardenJSON
import WardenJWKS
import WardenJWT
import WardenPolicy

/// `warden explain`: decides one request offline through the real `CheckPipeline` (the verdict and
/// the exit status come from it) and walks the 401 flowchart with the same pieces to say why.
struct ExplainCommand {
    let options: ExplainOptions

    private final class Lines {
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

    /// How the walk ended, to compare with the pipeline's verdict.
    private enum WalkVerdict { case tokenRejected(status: Int), authorized(Bool) }

    func run() -> Int32 {
        let policies: PolicySet
        do throws(PolicyLoadFailure) {
            policies = try PolicySource(paths: options.policyPaths).load()
        } catch {
            for e in error.errors { printErr("error: \(e)") }
            printErr("warden: policies not loaded (\(error.errors.count) error(s)); run `warden validate` for details")
            return 2
        }
        var jwksBytes: [UInt8]?
        if let file = options.jwksFile {
            guard let data = FileManager.default.contents(atPath: file) else {
                printErr("warden: cannot read --jwks \(file)")
                return 2
            }
            jwksBytes = [UInt8](data)
        }
        let now = options.now ?? Date().timeIntervalSince1970
        let store = JWKSStore(configuration: JWKSStoreConfiguration(fetchTimeout: 5, logger: { _ in }),
                              fetcher: options.fetch ? nil : OfflineJWKSFetcher(jwks: jwksBytes))
        var authz = AuthzOptions()
        authz.clockSkew = options.clockSkew
        authz.requireExpiration = options.requireExpiration
        authz.maxTokenBytes = options.maxTokenBytes
        authz.numTrustedProxies = options.numTrustedProxies
        authz.debugHeaders = options.debugHeaders
        let scope = options.scope
        let pipeline = CheckService(policies: policies, scope: scope, keyStore: store, options: authz, clock: { now })

        var request = RequestAttributes()
        request.method = options.method
        request.path = options.path
        request.host = options.host
        request.scheme = options.scheme
        for (name, value) in options.headers {
            request.headers[name] = request.headers[name].map { $0 + "," + value } ?? value
        }
        request.sourcePrincipal = options.sourcePrincipal
        request.sourceIP = options.sourceIP

        // The verdict: the real pipeline, exactly as serve runs it.
        let done = DispatchSemaphore(value: 0)
        let result = Locked<CheckResult?>(nil)
        pipeline.check(request) { outcome in
            result.withLock { $0 = outcome }
            done.signal()
        }
        done.wait()
        let outcome = result.withLock { $0 }!

        let out = Lines()
        let effective = policies.effective(for: scope)
        let walk = narrate(request: request, effective: effective, policies: policies, pipeline: pipeline, store: store, now: now, out: out)
        finish(outcome, walk: walk, out: out)
        print(out.text.joined(separator: "\n"))
        return outcome.decision.isAllowed ? 0 : 1
    }

    // MARK: the walk

    private func narrate(request: RequestAttributes, effective: EffectivePolicy, policies: PolicySet, pipeline: CheckService,
                         store: JWKSStore, now: Double, out: Lines) -> WalkVerdict {
        out.add("warden explain: \(request.method) \(request.path) (host \(request.host))")
        let labels = options.workloadLabels.keys.sorted().map { "\($0)=\(options.workloadLabels[$0]!)" }.joined(separator: ",")
        out.add("Scope: namespace \(options.namespace)" + (labels.isEmpty ? "" : ", labels \(labels)") + ", root namespace \(options.rootNamespace)")
        out.add("Policies: \(effective.requestAuthentications.count) of \(policies.requestAuthentications.count) RequestAuthentication(s) and "
                + "\(effective.allowPolicies.count + effective.denyPolicies.count + effective.auditPolicies.count + effective.customPolicies.count + effective.dryRunPolicies.count) "
                + "of \(policies.authorizationPolicies.count) AuthorizationPolicy(ies) apply")
        for note in policies.notes + effective.notes { out.hint(note.description) }
        out.add("Time: \(TimeText.rfc3339(now))" + (options.now != nil ? " (--now)" : "") + ", clock skew \(TimeText.seconds(options.clockSkew)) s")
        out.add("")

        // 1. Token present?
        out.add("1. Token")
        let tokens = pipeline.extractTokens(from: request)
        let extractor = pipeline.plan.tokenExtractor(for: effective.scope)
        var seen = Set<TokenLocation>()
        let locations = effective.jwtRules.flatMap(\.tokenLocations).filter { seen.insert($0).inserted }
        if effective.jwtRules.isEmpty {
            out.info("no RequestAuthentication applies to this workload: tokens are neither looked for nor checked")
        }
        if request.isCORSPreflight {
            out.info("CORS preflight (OPTIONS with Origin and Access-Control-Request-Method): tokens are not checked")
        }
        if tokens.isEmpty {
            if !effective.jwtRules.isEmpty {
                out.fail("no token found; looked in: " + locations.map(\.description).joined(separator: ", "))
                for case .header(let name, let prefix) in locations where !prefix.isEmpty {
                    if let value = request.headers[name], !value.contains(prefix) {
                        let scheme = value.split(separator: " ").first.map { String($0.prefix(16)) } ?? ""
                        out.hint("header \(name) is present but has no \"\(prefix)\" prefix (it starts with \"\(scheme)\"); the prefix is case-sensitive")
                    }
                }
                out.info("a request without a token is not rejected here: it has no identity, and the AuthorizationPolicies decide (403 when one requires a principal)")
            }
            out.add("")
            return authorize(request: request, effective: effective, identity: nil, step: 2, out: out)
        }
        for (i, t) in tokens.enumerated() {
            out.pass("token \(tokens.count > 1 ? "\(i + 1) of \(tokens.count) " : "")found in \(t.location), \(t.token.utf8.count) bytes")
        }
        if tokens.count > 1 { out.info("every token present must verify (as Envoy's jwt_authn under Istio)") }
        out.add("")

        var identity: RequestIdentity?
        var step = 2
        for (i, t) in tokens.enumerated() {
            let label = tokens.count > 1 ? " (token \(i + 1))" : ""
            switch verify(t, label: label, extractor: extractor, effective: effective, store: store, now: now, step: &step, out: out) {
            case .failure(let status):
                out.add("\(step). Authorization")
                out.info("not evaluated: a token that fails verification is rejected with \(status) before AuthorizationPolicies run")
                out.add("")
                return .tokenRejected(status: status)
            case .success(let jwt):
                if identity == nil {
                    identity = RequestIdentity(issuer: jwt.issuer ?? "", subject: jwt.subject ?? "", audiences: jwt.audiences,
                                               presenter: jwt.presenter, claims: jwt.claims)
                }
            }
        }
        return authorize(request: request, effective: effective, identity: identity, step: step, out: out)
    }

    private enum TokenResult { case success(UnverifiedJWT), failure(Int) }

    /// Steps 2–7 for one token: decode, issuer, times, audience, kid, signature. Every check is shown,
    /// even after a failure (Warden itself stops at the first one, which is marked).
    private func verify(_ t: ExtractedToken, label: String, extractor: TokenExtractor, effective: EffectivePolicy,
                        store: JWKSStore, now: Double, step: inout Int, out: Lines) -> TokenResult {
        var firstFailure: (step: String, status: Int)?
        func failed(_ name: String, _ status: Int = 401) { if firstFailure == nil { firstFailure = (name, status) } }

        out.add("\(step). Decoded\(label) — NOT VERIFIED, shown before any check")
        step += 1
        let jwt: UnverifiedJWT
        do throws(JWTError) {
            jwt = try UnverifiedJWT.parse(t.token, maxBytes: options.maxTokenBytes)
        } catch {
            out.fail("\(error.envoyMessage): \(error.detail)")
            out.add("")
            return .failure(error.httpStatus)
        }
        out.pass("well-formed JWS, alg \(jwt.algorithm.rawValue)")
        out.add("    header:")
        out.block(JSONPretty.render(.object(jwt.header.members), indent: ""))
        out.add("    payload:")
        out.block(JSONPretty.render(.object(jwt.claims), indent: "", note: JSONPretty.timeClaimNote(now: now)))
        out.add("")

        // Issuer: the location must be declared by a rule for this issuer (Envoy's provider selection).
        out.add("\(step). Issuer\(label)")
        step += 1
        let configured = Array(Set(effective.jwtRules.map(\.issuer))).sorted()
        let allowedHere = extractor.issuers(at: t.location)
        let rule = effective.jwtRules.first { $0.issuer == (jwt.issuer ?? "") }
        if let iss = jwt.issuer, allowedHere.contains(iss), let rule {
            out.pass("iss \(quote(iss)) is configured (RequestAuthentication \(rule.source)) and reads tokens from \(t.location)")
        } else if let iss = jwt.issuer, let rule {
            out.fail("iss \(quote(iss)) is configured (RequestAuthentication \(rule.source)) but its rule reads tokens from "
                     + rule.tokenLocations.map(\.description).joined(separator: ", ") + ", not from \(t.location)")
            failed("issuer")
        } else {
            out.fail(jwt.issuer.map { "iss \(quote($0)) is not a configured issuer" } ?? "the token has no \"iss\" claim")
            out.info("configured issuers: " + (configured.isEmpty ? "none" : configured.map(quote).joined(separator: ", ")))
            if let iss = jwt.issuer {
                for c in configured { if let why = Self.nearMiss(iss, c) { out.hint("\(quote(iss)) vs \(quote(c)): \(why); issuers are compared exactly") } }
            }
            failed("issuer")
        }
        out.add("")

        // Times, with the exact boundaries the verifier uses: valid while now + skew >= nbf and now <= exp + skew.
        out.add("\(step). Expiry and not-before\(label)")
        step += 1
        let skew = options.clockSkew
        if let nbf = jwt.notBefore {
            if now + skew < nbf {
                out.fail("nbf \(TimeText.rfc3339(nbf)) is \(TimeText.duration(nbf - now)) in the future (more than the \(TimeText.seconds(skew)) s skew): not yet valid")
                out.hint("a token rejected as not yet valid right after issue usually means the IdP's clock or this host's is off")
                failed("nbf")
            } else {
                out.pass("nbf \(TimeText.rfc3339(nbf)) (\(TimeText.relative(nbf, now: now)))")
            }
        } else {
            out.info("no nbf")
        }
        if let exp = jwt.expiresAt {
            if now > exp + skew {
                out.fail("exp \(TimeText.rfc3339(exp)): expired \(TimeText.duration(now - exp)) ago (beyond the \(TimeText.seconds(skew)) s skew)")
                failed("exp")
            } else if now > exp {
                out.pass("exp \(TimeText.rfc3339(exp)) passed \(TimeText.duration(now - exp)) ago, within the \(TimeText.seconds(skew)) s skew")
            } else {
                out.pass("exp \(TimeText.rfc3339(exp)) (\(TimeText.relative(exp, now: now)))")
            }
        } else if options.requireExpiration {
            out.fail("no exp, and --require-expiration is set")
            failed("exp")
        } else {
            out.info("no exp: accepted (Istio does not require one; serve --require-expiration would reject it)")
        }
        if let iat = jwt.issuedAt, iat > now + skew {
            out.hint("iat \(TimeText.rfc3339(iat)) is \(TimeText.duration(iat - now)) in the future: the IdP's clock and this host's disagree (iat is not enforced)")
        }
        out.add("")

        // Audience: the same check the verifier runs (scheme and trailing slash ignored, as Envoy).
        out.add("\(step). Audience\(label)")
        step += 1
        if let rule {
            if rule.audiences.isEmpty {
                out.info("the rule lists no audiences: any aud is accepted (tokens minted for other services pass too)")
            } else {
                do throws(JWTError) {
                    try jwt.checkClaims(JWTRequirements(issuer: nil, audiences: rule.audiences, clockSkew: .infinity), now: now)
                    out.pass("aud [\(jwt.audiences.map(quote).joined(separator: ", "))] includes one of [\(rule.audiences.map(quote).joined(separator: ", "))]")
                } catch {
                    out.fail(error.detail)
                    let lowered = Set(rule.audiences.map { $0.lowercased() })
                    if jwt.audiences.contains(where: { lowered.contains($0.lowercased()) }) {
                        out.hint("an audience differs only in letter case; audiences are compared case-sensitively")
                    }
                    out.info("a disallowed audience is answered with 403 \"Audiences in Jwt are not allowed\" (not 401)")
                    failed("aud", 403)
                }
            }
        } else {
            out.info("not checked: no rule for this issuer")
        }
        out.add("")

        // Keys: kid lookup and signature, against the keys the store holds for the rule's source.
        out.add("\(step). Key (kid)\(label)")
        step += 1
        let sigStep = step
        step += 1
        guard let rule else {
            out.info("not checked: no rule for this issuer, so no keys to look in")
            out.add("")
            out.add("\(sigStep). Signature\(label)")
            out.info("not checked")
            out.add("")
            return report(firstFailure, out: out)
        }
        let source = rule.keySource
        let snapshot = keys(for: source, store: store)
        let kid = jwt.header.kid
        var signatureLine: (Bool, String)?
        if let snapshot {
            let kids = snapshot.keys.keys.map { k in (k.kid.map(quote) ?? "(no kid)") + " " + k.kty + (k.alg.map { "/" + $0 } ?? "") }
            out.info("keys from \(describe(source)): \(snapshot.keys.keys.count) key(s): " + kids.joined(separator: ", "))
            do throws(JWTError) {
                let key = try jwt.verifySignature(with: snapshot.keys)
                out.pass(kid.map { "kid \(quote($0)) found" } ?? "the token has no kid; a key with a compatible alg was found")
                signatureLine = (true, "signature verifies with key \(key.kid.map(quote) ?? "(no kid)") (\(key.kty), \(jwt.algorithm.rawValue))")
            } catch .unknownKid {
                if let kid, snapshot.keys.keys.contains(where: { $0.kid == kid }) {
                    let algs = snapshot.keys.keys.filter { $0.kid == kid }.compactMap(\.alg)
                    out.fail("a key with kid \(quote(kid)) exists but declares alg \(algs.joined(separator: "/")); the token uses \(jwt.algorithm.rawValue)")
                } else {
                    out.fail(kid.map { "kid \(quote($0)) is not in the JWKS" } ?? "the token has no kid and no key has a compatible alg")
                }
                out.hint(refetchAdvice(source))
                failed("kid")
                signatureLine = nil
            } catch {
                out.pass(kid.map { "kid \(quote($0)) found" } ?? "a key with a compatible alg was found")
                signatureLine = (false, "\(error.detail): the token was altered, or signed by another key that reuses this kid (another environment?)")
            }
        } else {
            let why = store.status(for: source)?.lastError?.description ?? "no keys fetched"
            out.fail("no keys for \(describe(source)): \(why)")
            out.info("serve answers 401 \"Jwks remote fetch is failed\" while an issuer's keys cannot be fetched and none are cached")
            failed("keys")
        }
        out.add("")
        out.add("\(sigStep). Signature\(label)")
        switch signatureLine {
        case (true, let s)?: out.pass(s)
        case (false, let s)?: out.fail(s); failed("signature")
        case nil: out.info("not checked: no key to check it with")
        }
        out.add("")
        if firstFailure == nil { return .success(jwt) }
        return report(firstFailure, out: out)
    }

    private func report(_ failure: (step: String, status: Int)?, out: Lines) -> TokenResult {
        guard let failure else { return .failure(401) }
        if out.text.last == "" { out.text.removeLast() }
        out.info("Warden stops at the first failed check (\(failure.step)): the request is rejected with \(failure.status)")
        out.add("")
        return .failure(failure.status)
    }

    private func authorize(request: RequestAttributes, effective: EffectivePolicy, identity: RequestIdentity?, step: Int, out: Lines) -> WalkVerdict {
        out.add("\(step). Authorization")
        out.info(identity.map { "request principal \(quote($0.principal))" } ?? "no request principal (no verified token)")
        func list(_ name: String, _ ps: [AuthorizationPolicy]) {
            out.info("\(name): " + (ps.isEmpty ? "none" : ps.map { "\($0.ref) (\($0.origin), \($0.rules.count) rule(s))" }.joined(separator: ", ")))
        }
        list("DENY policies", effective.denyPolicies)
        list("ALLOW policies", effective.allowPolicies)
        if !effective.auditPolicies.isEmpty { list("AUDIT policies", effective.auditPolicies) }
        let decision = AuthorizationEvaluator.evaluate(effective, request: request, identity: identity,
                                                       options: EvaluationOptions(numTrustedProxies: options.numTrustedProxies))
        if decision.isAllowed { out.pass(decision.reason) } else { out.fail(decision.reason) }
        if case .deny(.noAllowPolicyMatched) = decision.verdict, identity == nil,
           effective.allowPolicies.contains(where: { $0.rules.contains { !$0.from.flatMap(\.requestPrincipals).isEmpty } }) {
            out.hint("an ALLOW rule requires requestPrincipals, and this request has no verified token: send one")
        }
        for m in decision.auditMatches { out.info("audit: \(m)") }
        for d in decision.dryRun { out.info(d.description) }
        out.add("")
        return .authorized(decision.isAllowed)
    }

    // MARK: result

    private func finish(_ outcome: CheckResult, walk: WalkVerdict, out: Lines) {
        switch outcome.decision {
        case .allow(let ok):
            out.add("Result: ✓ 200 allowed (\(outcome.record.reasonCode.rawValue))")
            if ok.headersToSet.isEmpty { out.info("headers set: none") }
            for h in ok.headersToSet { out.info("header set: \(h.name): \(Self.shorten(h.value))") }
            if !ok.headersToRemove.isEmpty { out.info("headers removed: " + ok.headersToRemove.joined(separator: ", ")) }
            if !ok.queryParametersToRemove.isEmpty { out.info("query parameters removed: " + ok.queryParametersToRemove.joined(separator: ", ")) }
            if !ok.dynamicMetadata.isEmpty { out.info("dynamic metadata: " + ok.dynamicMetadata.keys.sorted().joined(separator: ", ")) }
        case .deny(let d):
            out.add("Result: ✗ \(d.status) \(d.status == 401 ? "Unauthorized" : "Forbidden") (\(outcome.record.reasonCode.rawValue))")
            out.info("body: \(quote(d.body))")
            for h in d.headers { out.info("header: \(h.name): \(h.value)") }
        }
        out.info("reason: \(outcome.record.reason)")
        let expected: Int
        switch walk {
        case .tokenRejected(let s): expected = s
        case .authorized(let ok): expected = ok ? 200 : 403
        }
        if expected != outcome.decision.httpStatus {
            out.hint("the step-by-step walk expected \(expected); the pipeline's answer above is what serve returns")
        }
    }

    // MARK: helpers

    private func keys(for source: JWKSSource, store: JWKSStore) -> KeySnapshot? {
        if let s = store.snapshot(for: source) { return s }
        let done = DispatchSemaphore(value: 0)
        let box = Locked<KeySnapshot?>(nil)
        store.keys(for: source) { s in
            box.withLock { $0 = s }
            done.signal()
        }
        done.wait()
        return box.withLock { $0 }
    }

    private func describe(_ source: JWKSSource) -> String {
        switch source {
        case .inline: return "the rule's inline jwks"
        case .file(let path): return "file \(path)"
        case .remote(let uri):
            if let f = options.jwksFile { return "--jwks \(f) (standing in for \(uri))" }
            return uri
        case .discovery(let issuer):
            if let f = options.jwksFile { return "--jwks \(f) (standing in for discovery from \(issuer))" }
            return "discovery from \(issuer)"
        }
    }

    private func refetchAdvice(_ source: JWKSSource) -> String {
        switch source {
        case .inline: return "inline keys change only with the policy: a refetch cannot help; add the key to the rule's jwks"
        case .file: return "file keys are re-read on the refresh schedule: add the key to the file"
        case .remote, .discovery:
            if options.fetch {
                return "these keys were just fetched from the IdP: a refetch would not help; the IdP does not publish this kid (token from another IdP or environment, or a retired key)"
            }
            if options.jwksFile != nil {
                return "serve refetches once on an unknown kid (at most every 30 s per source): if the IdP publishes this kid now, serve recovers by itself; check with --fetch"
            }
            return "no keys were given: pass --jwks FILE or --fetch"
        }
    }

    /// Why two issuers that differ look alike: trailing slash, scheme, realm path, letter case.
    static func nearMiss(_ actual: String, _ expected: String) -> String? {
        func trimSlash(_ s: String) -> String { var v = s; while v.hasSuffix("/") { v.removeLast() }; return v }
        func split(_ s: String) -> (scheme: String, host: String, path: String)? {
            guard let r = s.range(of: "://") else { return nil }
            let rest = s[r.upperBound...]
            let slash = rest.firstIndex(of: "/") ?? rest.endIndex
            return (String(s[..<r.lowerBound]).lowercased(), String(rest[..<slash]).lowercased(), trimSlash(String(rest[slash...])))
        }
        if actual == expected { return nil }
        if trimSlash(actual) == trimSlash(expected) { return "they differ only by a trailing slash" }
        if actual.lowercased() == expected.lowercased() { return "they differ only in letter case" }
        guard let a = split(actual), let e = split(expected) else { return nil }
        if a.host == e.host && a.path == e.path && a.scheme != e.scheme { return "they differ in the scheme (\(a.scheme) vs \(e.scheme))" }
        guard a.host == e.host else {
            if a.path == e.path && !a.path.isEmpty { return "same path on a different host (\(a.host) vs \(e.host))" }
            return nil
        }
        let schemeNote = a.scheme != e.scheme ? " and the scheme (\(a.scheme) vs \(e.scheme))" : ""
        if a.path.replacingAll("/auth/realms/", with: "/realms/") == e.path.replacingAll("/auth/realms/", with: "/realms/") {
            return "the realm path differs (\(a.path) vs \(e.path): Keycloak before 17 served /auth/realms/…, later versions /realms/…)" + schemeNote
        }
        let aLast = a.path.split(separator: "/").last, eLast = e.path.split(separator: "/").last
        if aLast != nil, aLast == eLast { return "same host and realm name, different path (\(a.path) vs \(e.path))" + schemeNote }
        return "same host, different path (\(a.path.isEmpty ? "/" : a.path) vs \(e.path.isEmpty ? "/" : e.path)): another realm or tenant?" + schemeNote
    }

    private func quote(_ s: String) -> String {
        var out = "\""
        for u in (s.count > 200 ? String(s.prefix(200)) + "…" : s).unicodeScalars {
            if u.value < 0x20 || u == "\"" || u == "\\" { out += "\\u{\(String(u.value, radix: 16))}" } else { out.unicodeScalars.append(u) }
        }
        return out + "\""
    }

    static func shorten(_ s: String) -> String { s.count > 100 ? String(s.prefix(97)) + "… (\(s.utf8.count) bytes)" : s }
}
