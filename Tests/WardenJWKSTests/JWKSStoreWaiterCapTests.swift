import Dispatch
import Foundation
import Testing
import WardenJWKS
import WardenSync

/// A fetcher whose GETs block until the test opens the gate (then fail), so waiters can be counted.
private final class GateFetcher: JWKSFetcher {
    private let gate = DispatchSemaphore(value: 0)
    private let started = Locked(0)

    var fetchesStarted: Int { started.withLock { $0 } }
    func open(_ fetches: Int) { for _ in 0..<fetches { gate.signal() } }

    func get(_ request: FetchRequest) throws(FetchError) -> FetchedDocument {
        started.withLock { $0 += 1 }
        gate.wait()
        throw .timedOut
    }
}

/// Collects completions of `keys(for:)` without awaiting each.
private final class Completions: Sendable {
    private let count = Locked(0)
    var done: Int { count.withLock { $0 } }
    func record(_ snapshot: KeySnapshot?) { count.withLock { $0 += 1 } }
}

/// Checks waiting for keys hold gRPC call slots, so their number is capped: a dead or slow issuer must not
/// park every call Warden can take (issue 14, "Waiting"). Beyond the caps a caller is answered at once
/// from the keys at hand (none when cold); a cancelled caller leaves the queue at once.
@Suite("JWKS store waiter caps and cancellation")
struct JWKSStoreWaiterCapTests {
    let slow = JWKSSource.remote(uri: "http://slow.test/jwks.json")
    let other = JWKSSource.remote(uri: "http://other.test/jwks.json")

    private func store(perSource: Int, total: Int, fetcher: GateFetcher) -> JWKSStore {
        JWKSStore(configuration: JWKSStoreConfiguration(fetchTimeout: 30, maxWaitersPerSource: perSource, maxWaiters: total,
                                                        logger: { _ in }),
                  fetcher: fetcher)
    }

    @Test func callersBeyondTheSourceCapAreAnsweredAtOnce() async throws {
        let fetcher = GateFetcher()
        let store = store(perSource: 3, total: 100, fetcher: fetcher)
        store.register(slow)
        let completions = Completions()
        for _ in 0..<5 { store.keys(for: slow) { completions.record($0) } }
        #expect(completions.done == 2, "the two callers over the cap of 3 are answered at once")
        let status = try #require(store.status(for: slow))
        #expect(status.waiting == 3)
        #expect(status.waitersRefused == 2)
        #expect(await eventually(timeout: 2) { fetcher.fetchesStarted == 1 }, "one fetch, whatever the caps")

        fetcher.open(1)
        #expect(await eventually(timeout: 2) { completions.done == 5 })
        #expect(store.status(for: slow)?.waiting == 0)
    }

    @Test func theTotalCapSpansSources() async throws {
        let fetcher = GateFetcher()
        let store = store(perSource: 10, total: 4, fetcher: fetcher)
        store.register(slow)
        store.register(other)
        let completions = Completions()
        for _ in 0..<4 { store.keys(for: slow) { completions.record($0) } }
        store.keys(for: other) { completions.record($0) }
        #expect(completions.done == 1, "the fifth waiter, of another source, is over the total cap")
        #expect(store.status(for: other)?.waitersRefused == 1)
        // Over the cap, a cold source's fetch still starts, so later callers find keys.
        #expect(await eventually(timeout: 2) { fetcher.fetchesStarted == 2 })
        fetcher.open(2)
        #expect(await eventually(timeout: 2) { completions.done == 5 })
    }

    @Test func aCancelledCallerLeavesTheQueueAtOnce() async throws {
        let fetcher = GateFetcher()
        let store = store(perSource: 2, total: 100, fetcher: fetcher)
        store.register(slow)
        let completions = Completions()
        let cancellation = Cancellation()
        store.keys(for: slow, cancellation: cancellation) { completions.record($0) }
        store.keys(for: slow) { completions.record($0) }
        #expect(store.status(for: slow)?.waiting == 2)
        cancellation.cancel()
        #expect(completions.done == 1, "the cancelled caller completes on the cancelling thread")
        #expect(store.status(for: slow)?.waiting == 1)
        // Its place is free again.
        store.keys(for: slow) { completions.record($0) }
        #expect(store.status(for: slow)?.waiting == 2)
        #expect(store.status(for: slow)?.waitersRefused == 0)
        fetcher.open(1)
        #expect(await eventually(timeout: 2) { completions.done == 3 })
    }

    @Test func unknownKidRefetchWaitersAreCappedToo() async throws {
        let fetcher = GateFetcher()
        let store = store(perSource: 1, total: 100, fetcher: fetcher)
        store.register(slow)
        let completions = Completions()
        for kid in ["a", "b", "c"] { store.refetchForUnknownKid(slow, kid: kid) { completions.record($0) } }
        // One waits on the refetch; the rate limit or the cap answers the others at once.
        #expect(completions.done == 2)
        #expect(store.status(for: slow)?.waiting == 1)
        fetcher.open(1)
        #expect(await eventually(timeout: 2) { completions.done == 3 })
    }
}
