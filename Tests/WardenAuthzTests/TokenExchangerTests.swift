import Foundation
import Testing
import WardenJSON
import WardenJWKS
import WardenSync
@testable import WardenIntrospection

/// The token-exchange client without sockets (RFC 8693; the real endpoint, through Envoy, is in
/// test_token_exchange.py): the request's form, what an answer may carry, and how long a token is reused.
@Suite("Token exchange client (RFC 8693)")
struct TokenExchangerTests {
    typealias Scripted = IntrospectorTests.Scripted
    typealias Clock = IntrospectorTests.Clock

    static let endpoint = IntrospectionEndpoint(url: "https://idp/token", clientID: "warden", clientSecret: "s")

    static func request(_ subject: String = "user.token.sig", exp: Double? = nil, audiences: [String] = ["orders-api"],
                        margin: Double = 30) -> ExchangeRequest {
        ExchangeRequest(subjectToken: subject, subjectExpiresAt: exp, audiences: audiences, resources: ["https://orders.example/"],
                        scope: "orders:read", requestedTokenType: nil, actorTokenFile: nil,
                        actorTokenType: "urn:ietf:params:oauth:token-type:jwt", expiryMargin: margin)
    }

    static func ask(_ x: TokenExchanger, _ r: ExchangeRequest) -> ExchangeOutcome {
        let done = DispatchSemaphore(value: 0)
        let result = Locked<ExchangeOutcome?>(nil)
        x.exchange(r, at: endpoint) { o in
            result.withLock { $0 = o }
            done.signal()
        }
        done.wait()
        return result.withLock { $0! }
    }

    @Test func theRequestIsRFC8693s() {
        let t = Scripted()
        t.answer = (200, #"{"access_token":"new.tok.en","token_type":"Bearer","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","expires_in":300}"#)
        guard case .exchanged("new.tok.en", _, false) = Self.ask(TokenExchanger(transport: t), Self.request()) else {
            Issue.record("not exchanged"); return
        }
        #expect(t.calls.first?.form == "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange"
            + "&subject_token=user.token.sig&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token"
            + "&audience=orders-api&resource=https%3A%2F%2Forders.example%2F&scope=orders%3Aread")
        #expect(t.calls.first?.headers.first?.hasPrefix("Authorization: Basic ") == true)
    }

    @Test(arguments: [
        (400, #"{"error":"invalid_target","error_description":"no such audience"}"#, "refused invalid_target"),
        (400, #"{"error":"invalid_grant"}"#, "refused invalid_grant"),
        (503, #"{"error":"temporarily_unavailable"}"#, "failed"),
        (500, "oops", "failed"),
        (200, #"{"token_type":"Bearer"}"#, "failed"),
        (200, #"{"access_token":"a b"}"#, "failed"),              // not a b64token: never a header value
        (200, #"{"access_token":"tok\r\nx-evil: 1"}"#, "failed"),
    ])
    func answersAreReadStrictly(_ status: Int, _ body: String, _ expected: String) {
        let t = Scripted()
        t.answer = (status, body)
        let outcome: String
        switch Self.ask(TokenExchanger(transport: t), Self.request()) {
        case .exchanged: outcome = "exchanged"
        case .refused(let e, _): outcome = "refused \(e)"
        case .failed: outcome = "failed"
        }
        #expect(outcome == expected)
    }

    @Test func aTokenIsReusedUntilItsExpiryLessTheMarginAndNeverPastTheSubjects() {
        let t = Scripted(), clock = Clock()
        let x = TokenExchanger(transport: t, clock: { clock.now })
        t.answer = (200, #"{"access_token":"t1","expires_in":100}"#)
        _ = Self.ask(x, Self.request(margin: 30))
        clock.now += 69
        guard case .exchanged(_, _, true) = Self.ask(x, Self.request(margin: 30)) else { Issue.record("not cached"); return }
        clock.now += 2  // 71 s: past 100 − 30
        guard case .exchanged(_, _, false) = Self.ask(x, Self.request(margin: 30)) else { Issue.record("cached too long"); return }
        // A subject token expiring in 10 s caps the reuse of a 100 s exchanged token.
        let subject = Self.request("other.sub.ject", exp: clock.now + 10, margin: 0)
        _ = Self.ask(x, subject)
        clock.now += 11
        guard case .exchanged(_, _, false) = Self.ask(x, subject) else { Issue.record("reused past the subject's exp"); return }
        #expect(t.calls.count == 4)
    }

    @Test func refusalsAndFailuresAreNotCached() {
        let t = Scripted()
        let x = TokenExchanger(transport: t)
        t.answer = (400, #"{"error":"invalid_grant"}"#)
        _ = Self.ask(x, Self.request())
        t.answer = (200, #"{"access_token":"t","expires_in":300}"#)
        guard case .exchanged(_, _, false) = Self.ask(x, Self.request()) else { Issue.record("refusal cached"); return }
        #expect(x.counters.refusals == 1 && x.counters.calls == 2)
    }

    @Test(arguments: [("abc", true), ("a.b-c_d~e+f/g==", true), ("", false), ("=abc", false), ("ab=c", false), ("a,b", false)])
    func b64token(_ token: String, _ valid: Bool) {
        #expect(TokenExchanger.isB64Token(token) == valid)
    }
}
