import Foundation
import Testing
import WardenOTLP
import WardenTrace

/// The export queue: bounded, drops and counts when full, batches, counts failed exports; `submit` never
/// waits for the collector.
@Suite("Span exporter")
struct SpanExporterTests {
    /// Answers with `status` (or fails; settable), after `delay`; remembers the bodies and counts the posts begun.
    /// `script`, when set, answers the first posts in order (then `status`); `during` runs inside each post
    /// (on the export thread), told the post's number from 1.
    final class Poster: OTLPPoster, @unchecked Sendable {
        let lock = NSLock()
        var bodies: [[UInt8]] = []
        private var _status: Int?
        private var begun = 0
        let delay: Double
        var script: [Int?] = []
        var during: (@Sendable (Int) -> Void)?
        init(status: Int?, delay: Double = 0) { _status = status; self.delay = delay }
        func post(_ body: [UInt8], timeout: Double) throws(OTLPPostError) -> Int {
            let (number, during) = lock.withLock { begun += 1; return (begun, self.during) }
            if delay > 0 { Thread.sleep(forTimeInterval: delay) }
            during?(number)
            let status = lock.withLock { bodies.append(body); return script.isEmpty ? _status : script.removeFirst() }
            guard let status else { throw OTLPPostError("Couldn't connect to server") }
            return status
        }
        var posts: Int { lock.withLock { bodies.count } }
        var postsBegun: Int { lock.withLock { begun } }
        var status: Int? {
            get { lock.withLock { _status } }
            set { lock.withLock { _status = newValue } }
        }
    }

    final class Lines: @unchecked Sendable {
        let lock = NSLock()
        var items: [String] = []
        func add(_ s: String) { lock.withLock { items.append(s) } }
        var all: [String] { lock.withLock { items } }
    }

    static func span(_ i: Int) -> CheckSpan {
        CheckSpan(traceID: TraceID(high: 1, low: UInt64(i))!, spanID: SpanID(UInt64(i))!, parentSpanID: nil, traceState: "",
                  startUnixNanos: 1, endUnixNanos: 2, method: "GET", path: "/", serverAddress: "", serverPort: nil, allowed: true,
                  status: 200, reasonCode: "allowed", policy: nil, generation: 1)
    }

    /// `flushInterval` is long where a test counts batches: a slow (sanitized, loaded) submitter must not see a
    /// partial batch cut by the timer.
    static func options(capacity: Int, batch: Int, flushInterval: Double = 0.05) -> SpanExporter.Options {
        var o = SpanExporter.Options()
        o.queueCapacity = capacity
        o.maxBatch = batch
        o.flushInterval = flushInterval
        o.timeout = 1
        return o
    }

    @Test func exportsInBatches() {
        let poster = Poster(status: 200)
        let e = SpanExporter(poster: poster, resource: [], scopeVersion: "t", options: Self.options(capacity: 100, batch: 10, flushInterval: 30))
        // Queued before the thread starts: it takes all 25 at once (started first, it could wake at the 10th and
        // take 12, which makes a batch of 2 — right, but not the count asserted here).
        for i in 1...25 { e.submit(Self.span(i)) }
        e.start()
        e.shutdown()
        let s = e.statistics
        #expect(s.exported == 25 && s.droppedQueueFull == 0 && s.droppedExportFailed == 0 && s.failedExports == 0 && s.queued == 0)
        #expect(poster.posts == 3)
    }

    /// A collector that is down: every batch is dropped and counted, and submitting stays immediate.
    @Test func deadCollectorDropsAndCounts() {
        let poster = Poster(status: nil)
        final class Failures: @unchecked Sendable { let lock = NSLock(); var items: [String] = [] }
        let failures = Failures()
        let e = SpanExporter(poster: poster, resource: [], scopeVersion: "t", options: Self.options(capacity: 100, batch: 10, flushInterval: 30),
                             onFailure: { why in failures.lock.withLock { failures.items.append(why) } })
        for i in 1...20 { e.submit(Self.span(i)) }
        e.start()
        e.shutdown()
        let s = e.statistics
        #expect(s.exported == 0 && s.droppedExportFailed == 20 && s.failedExports == 2)
        #expect(failures.lock.withLock { failures.items.first?.contains("Couldn't connect") } == true)
    }

    @Test func notTwoHundredIsAFailure() {
        let e = SpanExporter(poster: Poster(status: 503), resource: [], scopeVersion: "t", options: Self.options(capacity: 10, batch: 10))
        e.start()
        e.submit(Self.span(1))
        e.shutdown()
        #expect(e.statistics.droppedExportFailed == 1)
    }

    /// A slow collector: the queue fills to its bound and the rest are dropped at once, never waited for.
    @Test func fullQueueDropsWithoutWaiting() {
        let poster = Poster(status: 200, delay: 0.3)
        let e = SpanExporter(poster: poster, resource: [], scopeVersion: "t", options: Self.options(capacity: 8, batch: 4))
        e.start()
        let start = Date()
        for i in 1...200 { e.submit(Self.span(i)) }
        #expect(Date().timeIntervalSince(start) < 0.1)
        e.shutdown()
        let s = e.statistics
        // At most 8 held at once, queued or being sent (the first batch takes 0.3 s: none was sent meanwhile).
        #expect(s.droppedQueueFull >= 200 - 8)
        #expect(s.exported + s.droppedQueueFull == 200)
    }

    /// The spans the export thread took and has not sent yet still count against the bound: while a slow
    /// POST is under way, a full bound drops every new span (before, the queue refilled: up to twice the bound
    /// was held).
    @Test func spansBeingExportedCountAgainstTheBound() {
        let poster = Poster(status: 200, delay: 0.5)
        let e = SpanExporter(poster: poster, resource: [], scopeVersion: "t", options: Self.options(capacity: 8, batch: 4, flushInterval: 0.01))
        e.start()
        for i in 1...8 { e.submit(Self.span(i)) }
        for _ in 0..<200 where poster.postsBegun == 0 { Thread.sleep(forTimeInterval: 0.005) }
        #expect(poster.postsBegun == 1)
        for i in 9...28 { e.submit(Self.span(i)) }
        let during = e.statistics
        #expect(during.droppedQueueFull == 20)
        #expect(during.queued == 8)
        #expect(during.queuedBytes == 8 * Self.span(1).approximateBytes)
        e.shutdown()
        let s = e.statistics
        #expect(s.exported == 8 && s.queued == 0 && s.queuedBytes == 0)
    }

    /// The bytes held are bounded too: a span past the byte bound is dropped though the count bound has room.
    @Test func bytesAreBounded() {
        let size = Self.span(1).approximateBytes
        var o = Self.options(capacity: 100, batch: 10, flushInterval: 30)
        o.queueBytes = 3 * size
        let e = SpanExporter(poster: Poster(status: 200), resource: [], scopeVersion: "t", options: o)
        for i in 1...5 { e.submit(Self.span(i)) }
        #expect(e.statistics.queued == 3 && e.statistics.queuedBytes == 3 * size && e.statistics.droppedQueueFull == 2)
        var big = Self.span(6)
        big.path = String(repeating: "p", count: 1024)
        #expect(big.approximateBytes > size + 1000)
        let f = SpanExporter(poster: Poster(status: 200), resource: [], scopeVersion: "t", options: o)
        f.submit(big)
        f.submit(Self.span(7))
        f.submit(Self.span(8))
        #expect(f.statistics.queued == 2 && f.statistics.droppedQueueFull == 1)
        e.start()
        e.shutdown()
        #expect(e.statistics.exported == 3)
    }

    /// A streak of failed exports is told once (then at most once per interval, with what was not told), and
    /// its end once: a dead collector does not write a line per batch.
    @Test func failuresAreToldOncePerStreak() {
        let poster = Poster(status: nil)
        let failures = Lines(), recoveries = Lines()
        let e = SpanExporter(poster: poster, resource: [], scopeVersion: "t", options: Self.options(capacity: 100, batch: 2, flushInterval: 30),
                             onFailure: failures.add, onRecovery: recoveries.add)
        for i in 1...6 { e.submit(Self.span(i)) }
        e.start()
        for _ in 0..<400 where poster.posts < 3 { Thread.sleep(forTimeInterval: 0.005) }
        #expect(poster.posts == 3)
        #expect(failures.all.count == 1)
        #expect(failures.all.first?.hasPrefix("2 span(s) dropped: Couldn't connect") == true)
        poster.status = 200
        for i in 7...8 { e.submit(Self.span(i)) }
        e.shutdown()
        #expect(e.statistics.failedExports == 3 && e.statistics.exported == 2)
        #expect(failures.all.count == 1)
        #expect(recoveries.all == ["exports succeed again after 3 failed export(s), 6 span(s) dropped"])
    }

    /// With a zero interval every failure is told, each naming none left untold.
    @Test func failureReportsAreRateLimitedByTheInterval() {
        let failures = Lines()
        var o = Self.options(capacity: 100, batch: 2, flushInterval: 30)
        o.failureReportInterval = 0
        let e = SpanExporter(poster: Poster(status: 503), resource: [], scopeVersion: "t", options: o, onFailure: failures.add)
        for i in 1...6 { e.submit(Self.span(i)) }
        e.start()
        e.shutdown()
        #expect(failures.all == Array(repeating: "2 span(s) dropped: HTTP 503", count: 3))
    }

    /// A span's `waits` array, shared with the test: while the exporter holds the span, the array's buffer
    /// has two owners, so writing to the probe's copy copies it (its address changes). One look per probe:
    /// after a look that found the span alive, the probe has a buffer of its own.
    final class Probe: @unchecked Sendable {
        var waits: [CheckSpan.Wait]
        init(_ i: Int) { waits = [CheckSpan.Wait(exchange: .cached, unixNanos: UInt64(i), milliseconds: 0)] }
        /// A span with the probe's array.
        func span(_ i: Int) -> CheckSpan {
            var s = SpanExporterTests.span(i)
            s.waits = waits
            return s
        }
        /// Whether the exporter still holds the span (someone besides the probe owns the buffer).
        func spanIsAlive() -> Bool {
            let before = waits.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
            let after = waits.withUnsafeMutableBufferPointer { UInt(bitPattern: $0.baseAddress) }
            return before != after
        }
    }

    /// The spans alive never pass the bound, over several batches: a sent batch's spans are released before
    /// they stop counting. 8 spans are taken at once and sent as two batches of 4; during the second POST 4
    /// more are queued (the first 4 no longer count). Before, the first batch's spans stayed alive until the
    /// whole take was sent: 12 spans alive under a bound of 8.
    @Test func sentSpansAreReleasedBeforeTheyStopCounting() {
        let poster = Poster(status: 200)
        let e = SpanExporter(poster: poster, resource: [], scopeVersion: "t", options: Self.options(capacity: 8, batch: 4, flushInterval: 30))
        let probes = (1...12).map(Probe.init)
        final class Seen: @unchecked Sendable { var alive: [Int] = []; var queued: [Int] = [] }
        let seen = Seen()
        poster.during = { number in
            seen.queued.append(e.statistics.queued)
            guard number == 2 else { return }
            for i in 9...12 { e.submit(probes[i - 1].span(i)) }
            seen.queued.append(e.statistics.queued)
            seen.alive = probes.indices.filter { probes[$0].spanIsAlive() }.map { $0 + 1 }
        }
        for i in 1...8 { e.submit(probes[i - 1].span(i)) }
        e.start()
        for _ in 0..<400 where poster.posts < 2 { Thread.sleep(forTimeInterval: 0.005) }
        e.shutdown()
        // The closure holds the exporter, which holds the poster: break the cycle (LeakSanitizer reports it).
        poster.during = nil
        #expect(seen.alive == Array(5...12))
        #expect(seen.queued == [8, 4, 8, 4])
        let s = e.statistics
        #expect(s.exported == 12 && s.droppedQueueFull == 0 && s.queued == 0 && s.queuedBytes == 0)
        #expect(poster.posts == 3)
    }

    /// Failures are told at most once per interval whatever happens in between: a collector that fails
    /// every other batch is told once (not a warn and a recovery per batch), its recovery once, and the
    /// failures not told are summed into the next report. Before, every success ended the streak, so each
    /// failure was told as the first of a new one.
    @Test func alternatingFailuresAreToldOncePerInterval() {
        let poster = Poster(status: nil)
        poster.script = [nil, 200, nil, 200, nil, 200]
        let failures = Lines(), recoveries = Lines()
        var o = Self.options(capacity: 100, batch: 1, flushInterval: 30)
        o.failureReportInterval = 1
        let e = SpanExporter(poster: poster, resource: [], scopeVersion: "t", options: o, onFailure: failures.add, onRecovery: recoveries.add)
        for i in 1...6 { e.submit(Self.span(i)) }
        e.start()
        for _ in 0..<400 where poster.posts < 6 { Thread.sleep(forTimeInterval: 0.005) }
        #expect(poster.posts == 6)
        #expect(failures.all == ["1 span(s) dropped: Couldn't connect to server"])
        #expect(recoveries.all == ["exports succeed again after 1 failed export(s), 1 span(s) dropped"])
        Thread.sleep(forTimeInterval: 1.1)
        e.submit(Self.span(7))
        e.shutdown()
        #expect(failures.all == ["1 span(s) dropped: Couldn't connect to server",
                                 "1 span(s) dropped: Couldn't connect to server (and 2 earlier failed export(s), 2 span(s), since the last report)"])
        #expect(recoveries.all.count == 1)
        #expect(e.statistics.failedExports == 4 && e.statistics.exported == 3)
    }

    /// `--otlp-queue-size n`: n spans and 2 KiB × n bytes, but at least 64 KiB, so a small queue still takes
    /// spans at the attribute bounds (about 6 KB each; 2 KiB × 1 dropped every one).
    @Test(arguments: [(1, 65536, 1), (16, 65536, 16), (32, 65536, 32), (33, 67584, 33), (2048, 4 << 20, 512), (1_000_000, 2_048_000_000, 512)])
    func queueSizeBounds(_ n: Int, _ bytes: Int, _ batch: Int) {
        let o = SpanExporter.Options(queueSize: n)
        #expect(o.queueCapacity == n && o.queueBytes == bytes && o.maxBatch == batch)
    }

    @Test func aSmallQueueTakesASpanAtTheAttributeBounds() {
        var big = Self.span(1)
        let long = String(repeating: "x", count: CheckSpan.maxAttributeBytes)
        (big.path, big.serverAddress, big.methodOriginal, big.policy, big.endUserID, big.traceState) = (long, long, long, long, long, String(repeating: "t", count: 512))
        big.error = "replay store unavailable"
        #expect(big.approximateBytes > 5 * 1024)
        var o = SpanExporter.Options(queueSize: 2)
        o.flushInterval = 30
        let e = SpanExporter(poster: Poster(status: 200), resource: [], scopeVersion: "t", options: o)
        e.submit(big)
        e.submit(big)
        #expect(e.statistics.queued == 2 && e.statistics.droppedQueueFull == 0)
        e.start()
        e.shutdown()
        #expect(e.statistics.exported == 2)
    }
}
