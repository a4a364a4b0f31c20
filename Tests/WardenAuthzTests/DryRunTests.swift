import Foundation
import Testing
@testable import WardenAuthz
import WardenIntrospection
import WardenJSON
import WardenJWKS
import WardenJWT
import WardenPolicy
import WardenSync

/// `istio.io/dry-run` on RequestAuthentication and TokenPolicy (a Warden extension): evaluated on every
/// request, never enforced; what Warden would have answered is in `DecisionRecord.dryRun`, the decision log
/// line, `warden_dry_run_decisions_total` and `explain`. Socket-free, through `CheckService`.
@Suite("Dry-run token resources")
struct DryRunTests {
    static func requestAuthentication(audience: String = "api", dryRun: String? = "\"true\"", name: String = "jwt",
                                      presence: String? = nil) -> String {
        """
        apiVersion: security.istio.io/v1
        kind: RequestAuthentication
        metadata:
          name: \(name)
          namespace: default
        \(dryRun.map { "  annotations: {istio.io/dry-run: \($0)}" } ?? "")
        spec:
          jwtRules:
          - issuer: "\(issuer)"
            audiences: [\(audience)]
            jwks: '\(jwks)'
        \(presence.map { "    presence: \($0)" } ?? "")
        """
    }

    /// An Envoy jwt_authn document requiring a token of `issuer` on every path: it runs before the Istio
    /// resources and is never dry-run.
    static let jwtAuthnRequired = jwtAuthn(forward: false)

    /// `forward: false` (Envoy's default) removes the verified token: the Istio step, dry-run or not, never sees it.
    static func jwtAuthn(forward: Bool) -> String {
        """
        name: envoy.filters.http.jwt_authn
        typed_config:
          providers:
            a:
              issuer: "\(issuer)"
              local_jwks: {inline_string: '\(jwks)'}
              forward: \(forward)
          rules:
          - match: {prefix: /}
            requires: {provider_name: a}
        """
    }

    static func tokenPolicy(_ rule: String, dryRun: Bool = true) -> String {
        """
        apiVersion: security.warden.io/v1alpha1
        kind: TokenPolicy
        metadata:
          name: strict
          namespace: default
        \(dryRun ? "  annotations: {istio.io/dry-run: \"true\"}" : "")
        spec:
          jwtRules:
          - issuer: "\(issuer)"
            \(rule)
        """
    }

    static let allowAlice = """
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata: {name: only-alice, namespace: default}
        spec:
          action: ALLOW
          rules:
          - from:
            - source: {requestPrincipals: ["\(issuer)/alice"]}
        """

    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var yaml: [String]
        var claims: [String: JSONValue] = [:]
        var sendToken = true
        /// The enforced answer.
        var status: Int
        var reason: ReasonCode
        /// What the dry-run resources would have answered; nil: no dry-run resource in scope.
        var would: (label: String, reason: ReasonCode)?
        var resources: [String] = ["RequestAuthentication/default/jwt"]
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(name: "dry-run RA, matching audience: allowed, would allow", yaml: [requestAuthentication()],
            status: 200, reason: .allowed, would: ("allow", .allowed)),
        Row(name: "dry-run RA, wrong audience: allowed, would deny 403", yaml: [requestAuthentication(audience: "other")],
            status: 200, reason: .allowed, would: ("deny_403", .jwtAudienceMismatch)),
        Row(name: "dry-run RA, expired token: allowed, would deny 401", yaml: [requestAuthentication()],
            claims: ["exp": .number(testNow - 3600)], status: 200, reason: .allowed, would: ("deny_401", .jwtExpired)),
        Row(name: "dry-run RA, no token: allowed, would allow (no token passes a RequestAuthentication)",
            yaml: [requestAuthentication(audience: "other")], sendToken: false, status: 200, reason: .allowed, would: ("allow", .allowed)),
        Row(name: "dry-run RA + ALLOW on its principal: denied now (no identity), would allow",
            yaml: [requestAuthentication(), allowAlice], status: 403, reason: .noAllowPolicyMatched, would: ("allow", .allowed)),
        Row(name: "annotation removed: the wrong audience is enforced", yaml: [requestAuthentication(audience: "other", dryRun: nil)],
            status: 403, reason: .jwtAudienceMismatch, would: nil),
        Row(name: "annotation \"false\": enforced", yaml: [requestAuthentication(audience: "other", dryRun: "\"false\"")],
            status: 403, reason: .jwtAudienceMismatch, would: nil),
        Row(name: "enforced RA + dry-run TokenPolicy requiring a claim: allowed, would deny 401",
            yaml: [requestAuthentication(dryRun: nil), tokenPolicy("requiredClaims: [{name: client_id}]")],
            status: 200, reason: .allowed, would: ("deny_401", .jwtRequiredClaim), resources: ["TokenPolicy/default/strict"]),
        Row(name: "enforced RA + dry-run TokenPolicy satisfied: allowed, would allow",
            yaml: [requestAuthentication(dryRun: nil), tokenPolicy("requiredClaims: [{name: client_id}]")],
            claims: ["client_id": .string("web")], status: 200, reason: .allowed, would: ("allow", .allowed),
            resources: ["TokenPolicy/default/strict"]),
        Row(name: "enforced RA rejects, dry-run TokenPolicy: the dry-run check includes the enforced rules",
            yaml: [requestAuthentication(audience: "other", dryRun: nil), tokenPolicy("requiredClaims: [{name: client_id}]")],
            status: 403, reason: .jwtAudienceMismatch, would: ("deny_403", .jwtAudienceMismatch), resources: ["TokenPolicy/default/strict"]),
        // presence: REQUIRED (Istio API v1.31): enforced, no token is 401 `Jwt is missing`; dry-run, it would be.
        Row(name: "dry-run RA with presence: REQUIRED, no token: allowed, would deny 401 (Jwt is missing)",
            yaml: [requestAuthentication(presence: "REQUIRED")], sendToken: false, status: 200, reason: .allowed,
            would: ("deny_401", .jwtMissing)),
        Row(name: "dry-run RA with presence: REQUIRED, valid token: allowed, would allow",
            yaml: [requestAuthentication(presence: "REQUIRED")], status: 200, reason: .allowed, would: ("allow", .allowed)),
        Row(name: "RA with presence: REQUIRED enforced, no token: 401", yaml: [requestAuthentication(dryRun: nil, presence: "REQUIRED")],
            sendToken: false, status: 401, reason: .jwtMissing, would: nil),
        Row(name: "enforced RA + dry-run RA with presence: REQUIRED, no token: allowed, would deny 401",
            yaml: [requestAuthentication(dryRun: nil, name: "base"), requestAuthentication(presence: "REQUIRED")], sendToken: false,
            status: 200, reason: .allowed, would: ("deny_401", .jwtMissing)),
        // A jwt_authn failure answers first, enforced or not: the would-be answer is that failure too.
        Row(name: "jwt_authn requires a token, none sent, dry-run RA: 401 now, would deny 401 (jwt_authn answers first)",
            yaml: [jwtAuthnRequired, requestAuthentication(audience: "other")], sendToken: false, status: 401, reason: .jwtMissing,
            would: ("deny_401", .jwtMissing)),
        Row(name: "jwt_authn passes and forwards the token, dry-run RA with the wrong audience: allowed, would deny 403",
            yaml: [jwtAuthn(forward: true), requestAuthentication(audience: "other")], status: 200, reason: .allowed,
            would: ("deny_403", .jwtAudienceMismatch)),
        // One filter chain: the jwt_authn filter removed the token it verified before Istio's filter runs.
        Row(name: "jwt_authn passes and removes the token, dry-run RA with the wrong audience: allowed, would allow",
            yaml: [jwtAuthnRequired, requestAuthentication(audience: "other")], status: 200, reason: .allowed,
            would: ("allow", .allowed)),
        Row(name: "TokenPolicy without the annotation: enforced",
            yaml: [requestAuthentication(dryRun: nil), tokenPolicy("requiredClaims: [{name: client_id}]", dryRun: false)],
            status: 401, reason: .jwtRequiredClaim, would: nil),
    ]

    @Test(arguments: rows)
    func dryRun(_ row: Row) throws {
        let set = try PolicySet.parse(yaml: row.yaml.joined(separator: "\n---\n"))
        // Twice: the second check answers from the token cache (claims and dry-run still evaluated).
        let p = pipeline(set, tokenCache: (100, 1 << 20))
        let r = request(headers: row.sendToken ? ["authorization": "Bearer \(token(row.claims))"] : [:])
        for round in 1...2 {
            let result = p.decide(r)
            #expect(result.decision.httpStatus == row.status, "round \(round)")
            #expect(result.reasonCode == row.reason, "round \(round)")
            guard let would = row.would else {
                #expect(result.record.dryRun == nil)
                #expect(p.metrics.dryRunDecisions.samples.isEmpty)
                continue
            }
            let d = try #require(result.record.dryRun)
            #expect(d.would == would.label)
            #expect(d.reasonCode == would.reason)
            #expect(d.resources == row.resources)
            for resource in row.resources {
                #expect(p.metrics.dryRunDecisions.value([resource, would.label]) == round)
            }
            #expect(p.metrics.dryRunDecisions.samples.count == row.resources.count)
        }
    }

    /// What a dry-run resource would have answered is what it answers once enforced: each row with dry-run
    /// resources is run again with every `istio.io/dry-run` annotation set to "false", and the enforced
    /// status and reason code are the dry-run's (the rows need no key fetch, introspection or exchange,
    /// which a dry-run check never waits for).
    @Test(arguments: rows.filter { $0.would != nil })
    func wouldIsWhatEnforcementAnswers(_ row: Row) throws {
        let r = request(headers: row.sendToken ? ["authorization": "Bearer \(token(row.claims))"] : [:])
        let shadow = pipeline(try PolicySet.parse(yaml: row.yaml.joined(separator: "\n---\n"))).decide(r)
        let d = try #require(shadow.record.dryRun)
        let enforcedYAML = row.yaml.map { $0.replacingOccurrences(of: "istio.io/dry-run: \"true\"", with: "istio.io/dry-run: \"false\"") }
        #expect(enforcedYAML != row.yaml)
        let enforced = pipeline(try PolicySet.parse(yaml: enforcedYAML.joined(separator: "\n---\n"))).decide(r)
        #expect(enforced.record.dryRun == nil)
        #expect(enforced.decision.httpStatus == d.status)
        #expect(enforced.reasonCode == d.reasonCode)
        #expect(enforced.record.reason == d.record.reason)
    }

    /// A replay store that counts the times it is asked: it remembers proofs (a `ReplayCache`), or cannot
    /// answer at all (`down`).
    final class CountingReplayStore: ReplayStore, @unchecked Sendable {
        let cache = ReplayCache(capacity: 100)
        let down: Bool
        let asked = Locked(0)
        init(down: Bool) { self.down = down }
        func firstUse(of key: String, expires: Double, now: Double) -> ReplayVerdict {
            asked.withLock { $0 += 1 }
            return down ? .unavailable("connection refused") : cache.firstUse(of: key, expires: expires, now: now)
        }
    }

    struct DPoPRow: Sendable, CustomTestStringConvertible {
        var name: String
        var storeDown = false
        /// The same request (token and proof) sent this many times; the last answer is checked.
        var sends: Int
        var status: Int
        var reason: ReasonCode
        var would: (label: String, reason: ReasonCode)
        var testDescription: String { name }
    }

    /// DPoP (RFC 9449 §11.1): the dry-run check never asks the replay store (asking uses the proof up); it
    /// takes the enforced check's verdict, so a replayed proof (401) or a store that cannot answer (503,
    /// fail closed) is what it would answer too, and what the same resource answers once enforced. Before,
    /// the dry-run judged every proof unseen: it would allow what enforcement refuses. The proof and token are
    /// `DPoPNonceCheckTests`' fixtures (ES256 proof for GET http://api.example.com/data, `cnf.jkt` token).
    static let dpopRows: [DPoPRow] = [
        DPoPRow(name: "first use: allowed, would allow; the store is asked once", sends: 1, status: 200, reason: .allowed,
                would: ("allow", .allowed)),
        DPoPRow(name: "replayed proof: 401, would deny 401", sends: 2, status: 401, reason: .jwtDPoPProofInvalid,
                would: ("deny_401", .jwtDPoPProofInvalid)),
        DPoPRow(name: "replay store down: 503, would deny 503", storeDown: true, sends: 1, status: 503, reason: .jwtDPoPReplayUnavailable,
                would: ("deny_503", .jwtDPoPReplayUnavailable)),
    ]

    @Test(arguments: dpopRows)
    func dpopReplayIsTheEnforcedVerdict(_ row: DPoPRow) throws {
        let yaml = [Self.requestAuthentication(dryRun: nil), Self.tokenPolicy("requiredClaims: [{name: sub}]")]
        let r = request("GET", "/data", headers: ["authorization": "DPoP \(DPoPNonceCheckTests.boundToken)", "dpop": DPoPNonceCheckTests.withoutNonce])
        func last(_ yaml: [String]) throws -> (CheckResult, asked: Int) {
            let store = CountingReplayStore(down: row.storeDown)
            let p = CheckService(policies: try PolicySet.parse(yaml: yaml.joined(separator: "\n---\n")), scope: WorkloadScope(),
                                 keyStore: JWKSStore(), replayStore: store, clock: { testNow })
            var result: CheckResult?
            for _ in 1...row.sends { result = p.decide(r) }
            return (try #require(result), store.asked.withLock { $0 })
        }
        let (result, asked) = try last(yaml)
        #expect(result.decision.httpStatus == row.status)
        #expect(result.reasonCode == row.reason)
        #expect(asked == row.sends)  // once per check: never by the dry-run check
        let d = try #require(result.record.dryRun)
        #expect(d.would == row.would.label)
        #expect(d.reasonCode == row.would.reason)
        #expect(d.record.reason == result.record.reason)
        // Enforced, the TokenPolicy answers what its dry-run said.
        let (enforced, _) = try last(yaml.map { $0.replacingOccurrences(of: "istio.io/dry-run: \"true\"", with: "istio.io/dry-run: \"false\"") })
        #expect(enforced.record.dryRun == nil)
        #expect(enforced.decision.httpStatus == d.status)
        #expect(enforced.reasonCode == d.reasonCode)
    }

    /// The dry-run check's answer is its status alone: an allow's output headers are not rendered (a claim
    /// that is no valid header value would be noted as a dropped header on the dry-run record if they were).
    @Test func dryRunBuildsNoAllowAnswer() throws {
        let ra = Self.requestAuthentication().replacingOccurrences(of: "    jwks: '\(jwks)'", with: "    jwks: '\(jwks)'\n    outputClaimToHeaders: [{header: x-team, claim: team}]")
        #expect(ra.contains("outputClaimToHeaders"))
        let p = pipeline(try PolicySet.parse(yaml: ra))
        let result = p.decide(request(headers: ["authorization": "Bearer \(token(["team": .string("a\nb")]))"]))
        let d = try #require(result.record.dryRun)
        #expect(d.would == "allow" && d.status == 200)
        #expect(d.record.droppedHeaders.isEmpty)
    }

    /// The log line carries what the dry-run would have answered, at info when it would deny.
    @Test func decisionLogLine() throws {
        let set = try PolicySet.parse(yaml: Self.requestAuthentication(audience: "other"))
        let p = pipeline(set)
        let r = request(headers: ["authorization": "Bearer \(token())"])
        let result = p.decide(r)
        let fields = DecisionLog(logger: Logger(level: .debug, format: .json)).fields(result, request: r)
        let dry = try #require(fields.first { $0.0 == "dry_run" }?.1.objectValue)
        #expect(dry["would"]?.stringValue == "deny_403")
        #expect(dry["status"] == .number(403))
        #expect(dry["reason_code"]?.stringValue == "jwt_audience_mismatch")
        #expect(dry["resources"] == .array([.string("RequestAuthentication/default/jwt")]))
        #expect(fields.first { $0.0 == "decision" }?.1.stringValue == "allow")
    }

    /// A dry-run rule whose keys are not at hand is answered at once (never waits): its source is cold.
    @Test func coldDryRunSourceNeverWaits() throws {
        let yaml = Self.requestAuthentication().replacingOccurrences(of: "jwks: '\(jwks)'", with: "jwksUri: https://127.0.0.1:1/jwks")
        let p = pipeline(try PolicySet.parse(yaml: yaml))
        let result = p.decide(request(headers: ["authorization": "Bearer \(token())"]))  // decide() requires a synchronous answer
        #expect(result.decision.httpStatus == 200)
        #expect(result.record.dryRun?.would == "deny_401")
        #expect(result.record.dryRun?.reasonCode == .jwtJWKSUnavailable)
    }

    /// An introspection endpoint answers a dry-run check only from the introspector's cache: the dry-run
    /// check never waits and never calls, so an opaque token no enforced check introspected is unanswered.
    @Test func dryRunIntrospectionNeverWaits() throws {
        final class Counting: IntrospectionTransport, @unchecked Sendable {
            let calls = Locked(0)
            func post(_ request: FetchRequest, form: [UInt8], headers: [String]) throws(FetchError) -> FetchedDocument {
                calls.withLock { $0 += 1 }
                return FetchedDocument(status: 200, body: Array(#"{"active":true,"sub":"alice","aud":"api","exp":1767225900}"#.utf8))
            }
        }
        let secret = FileManager.default.temporaryDirectory.appendingPathComponent("warden-dry-run-secret-\(UUID().uuidString)")
        try "s3cret\n".write(to: secret, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: secret) }
        let tp = """
            apiVersion: security.warden.io/v1alpha1
            kind: TokenPolicy
            metadata: {name: opaque, namespace: default}
            spec:
              jwtRules:
              - issuer: "\(issuer)"
                introspection: {endpoint: "https://idp.example/introspect", clientId: warden, clientSecretFile: "\(secret.path)"}
            """
        let set = try PolicySet.parse(yaml: Self.requestAuthentication() + "\n---\n" + tp)
        let transport = Counting()
        let p = CheckService(policies: set, scope: WorkloadScope(), keyStore: JWKSStore(), introspectionTransport: transport,
                             clock: { testNow })
        let r = request(headers: ["authorization": "Bearer opaque-token-123"])
        let first = p.decide(r)  // decide() requires the answer on this thread: the dry-run check did not wait
        #expect(first.decision.httpStatus == 200)
        #expect(first.record.dryRun?.would == "deny_401")
        #expect(first.record.dryRun?.reasonCode == .tokenIntrospectionFailed)
        #expect(transport.calls.withLock { $0 } == 0)
    }

    /// Warden accepts the annotation on a RequestAuthentication, which Istio's validation refuses: an
    /// explicit extension (README "Deliberately differs"), pinned here so a stricter validator keeps it.
    @Test(arguments: [("\"true\"", true), ("\"false\"", false), ("\"1\"", true)])
    func annotationIsAcceptedOnRequestAuthentication(_ value: String, _ expected: Bool) throws {
        let set = try PolicySet.parse(yaml: Self.requestAuthentication(dryRun: value))
        #expect(set.requestAuthentications.first?.dryRun == expected)
        #expect(set.effective(for: WorkloadScope()).dryRunRequestAuthentications.count == (expected ? 1 : 0))
    }

    @Test func annotationMustBeBoolean() {
        #expect(throws: PolicyLoadFailure.self) { try PolicySet.parse(yaml: Self.requestAuthentication(dryRun: "\"maybe\"")) }
        #expect(throws: PolicyLoadFailure.self) { try PolicySet.parse(yaml: Self.tokenPolicy("typ: [at+jwt]").replacingOccurrences(of: "\"true\"", with: "yes-please")) }
    }
}
