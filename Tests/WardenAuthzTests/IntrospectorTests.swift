import Foundation
import Testing
import WardenJSON
import WardenJWKS
import WardenSync
@testable import WardenIntrospection

/// The introspection client without sockets: a scripted transport stands in for the endpoint (the real one,
/// through Envoy, is in test_introspection.py). RFC 7662 §2.1 (request), §2.2 (answer), §4 (caching).
@Suite("Introspection client (RFC 7662)")
struct IntrospectorTests {
    final class Scripted: IntrospectionTransport, @unchecked Sendable {
        let lock = NSLock()
        var answer: (Int, String) = (200, #"{"active":true,"sub":"alice"}"#)
        var calls: [(form: String, headers: [String])] = []
        var gate: DispatchSemaphore?

        func post(_ request: FetchRequest, form: [UInt8], headers: [String]) throws(FetchError) -> FetchedDocument {
            gate?.wait()
            lock.lock()
            defer { lock.unlock() }
            calls.append((String(decoding: form, as: UTF8.self), headers))
            if answer.0 < 0 { throw .couldNotConnect("refused") }
            return FetchedDocument(status: answer.0, body: Array(answer.1.utf8))
        }
    }

    final class Clock: @unchecked Sendable {
        var now: Double = 1_000_000
    }

    static let endpoint = IntrospectionEndpoint(url: "https://idp/introspect", clientID: "warden id", clientSecret: "s3cr:t&",
                                                cacheDuration: 60, negativeCacheDuration: 5)

    /// Runs one introspection and waits for its answer.
    static func ask(_ i: Introspector, _ token: String, _ endpoint: IntrospectionEndpoint = endpoint) -> IntrospectionOutcome {
        let done = DispatchSemaphore(value: 0)
        let result = Locked<IntrospectionOutcome?>(nil)
        i.introspect(token, at: endpoint) { outcome in
            result.withLock { $0 = outcome }
            done.signal()
        }
        done.wait()
        return result.withLock { $0! }
    }

    @Test func requestIsAFormPostWithBasicCredentialsFormEncoded() {
        let t = Scripted()
        guard case .active(let claims, _, false) = Self.ask(Introspector(transport: t), "tok en+/=") else { Issue.record("not active"); return }
        #expect(claims["sub"] == .string("alice") && claims["active"] == nil)
        #expect(t.calls.first?.form == "token=tok%20en%2B%2F%3D&token_type_hint=access_token")
        // RFC 6749 §2.3.1: id and secret form-encoded, then "id:secret" in base64.
        #expect(t.calls.first?.headers == ["Authorization: Basic " + Data("warden%20id:s3cr%3At%26".utf8).base64EncodedString()])
    }

    @Test func clientSecretPostPutsCredentialsInTheBody() {
        let t = Scripted()
        let post = IntrospectionEndpoint(url: "https://idp/i", clientID: "w", clientSecret: "s", clientAuth: .post)
        _ = Self.ask(Introspector(transport: t), "abc", post)
        #expect(t.calls.first?.form == "token=abc&token_type_hint=access_token&client_id=w&client_secret=s")
        #expect(t.calls.first?.headers == [])
    }

    @Test(arguments: [
        ("{\"active\":\"true\"}", "no boolean"), ("[true]", "not a JSON object"), ("{\"sub\":\"a\"}", "no boolean"), ("active", "not JSON"),
    ])
    func malformedAnswersFail(_ body: String, _ why: String) {
        let t = Scripted()
        t.answer = (200, body)
        guard case .failed(.malformed(let text)) = Self.ask(Introspector(transport: t), "x") else { Issue.record("accepted \(body)"); return }
        #expect(text.contains(why))
    }

    @Test func errorStatusAndTransportFailuresFailAndAreNotCached() {
        let t = Scripted()
        let i = Introspector(transport: t)
        t.answer = (401, #"{"error":"invalid_client"}"#)
        guard case .failed(.status(401)) = Self.ask(i, "x") else { Issue.record("not a status failure"); return }
        t.answer = (-1, "")
        guard case .failed(.transport) = Self.ask(i, "x") else { Issue.record("not a transport failure"); return }
        t.answer = (200, #"{"active":true}"#)
        guard case .active(_, _, false) = Self.ask(i, "x") else { Issue.record("a failure was cached"); return }
        #expect(t.calls.count == 3 && i.counters.failures == 2)
    }

    @Test func activeAnswersAreCachedUntilTheEarlierOfTTLAndExp() {
        let t = Scripted(), clock = Clock()
        let i = Introspector(transport: t, clock: { clock.now })
        t.answer = (200, "{\"active\":true,\"exp\":\(Int(clock.now) + 30)}")
        _ = Self.ask(i, "a")
        clock.now += 29
        guard case .active(_, _, true) = Self.ask(i, "a") else { Issue.record("not from the cache"); return }
        clock.now += 2  // past exp (30 s), though the TTL is 60 s
        guard case .active(_, _, false) = Self.ask(i, "a") else { Issue.record("cached past exp"); return }
        #expect(t.calls.count == 2)
    }

    @Test func inactiveAnswersAreCachedBriefly() {
        let t = Scripted(), clock = Clock()
        let i = Introspector(transport: t, clock: { clock.now })
        t.answer = (200, #"{"active":false}"#)
        guard case .inactive(false) = Self.ask(i, "a") else { Issue.record("not inactive"); return }
        guard case .inactive(true) = Self.ask(i, "a") else { Issue.record("not cached"); return }
        clock.now += 6
        guard case .inactive(false) = Self.ask(i, "a") else { Issue.record("cached past negativeCacheDuration"); return }
    }

    @Test func concurrentChecksOfOneTokenShareOneCall() {
        let t = Scripted()
        t.gate = DispatchSemaphore(value: 0)
        let i = Introspector(transport: t)
        let group = DispatchGroup()
        let actives = Locked(0)
        for _ in 0..<10 {
            group.enter()
            i.introspect("same", at: Self.endpoint) { outcome in
                if case .active = outcome { actives.withLock { $0 += 1 } }
                group.leave()
            }
        }
        t.gate?.signal()
        #expect(group.wait(timeout: .now() + 5) == .success)
        #expect(actives.withLock { $0 } == 10 && t.calls.count == 1)
    }

    @Test func callsInFlightAreBoundedAndTheRestRefusedAtOnce() {
        let t = Scripted()
        t.gate = DispatchSemaphore(value: 0)
        let i = Introspector(transport: t, maxInFlight: 2)
        let group = DispatchGroup()
        for token in ["a", "b"] {
            group.enter()
            i.introspect(token, at: Self.endpoint) { _ in group.leave() }
        }
        guard case .failed(.busy) = Self.ask(i, "c") else { Issue.record("a third call was started"); return }
        t.gate?.signal()
        t.gate?.signal()
        #expect(group.wait(timeout: .now() + 5) == .success)
        #expect(i.counters.refused == 1)
    }

    @Test func anUnreadableSecretFailsWithoutACall() {
        let t = Scripted()
        let e = IntrospectionEndpoint(url: "https://idp/i", clientID: "w", clientSecret: nil, secretError: "cannot read the client secret file /x")
        guard case .failed(.secret) = Self.ask(Introspector(transport: t), "a", e) else { Issue.record("no secret failure"); return }
        #expect(t.calls.isEmpty)
    }

    @Test func theCacheIsBounded() {
        let t = Scripted()
        let i = Introspector(transport: t, capacity: 4)
        for n in 0..<20 { _ = Self.ask(i, "t\(n)") }
        _ = Self.ask(i, "t19")  // the newest is kept
        #expect(t.calls.count == 20)
    }
}
