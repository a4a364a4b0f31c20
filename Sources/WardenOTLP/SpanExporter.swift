import Dispatch
import Foundation
import Glibc
import Synchronization
import WardenProtobuf
import WardenSync
import WardenTrace

/// Exports spans over OTLP/HTTP off the request path: `submit` (on a check's thread, after it was
/// answered) appends to a bounded queue under one short lock and never blocks — when the spans held (queued,
/// or taken by the export thread and not yet sent) are at `queueCapacity` or their bytes would pass
/// `queueBytes`, the span is dropped and counted. One thread, `warden-otlp-export`, takes the queue when
/// `maxBatch` spans are queued or every `flushInterval`, and sends it in batches of up to `maxBatch`, each
/// POST bounded by `timeout`; a batch's spans are released once it is sent, and only then stop counting
/// against the bounds (so the spans alive never pass them). A failed export
/// (no answer, or not 2xx) drops that batch and counts it; nothing is retried, and nothing about an export
/// ever reaches a decision.
public final class SpanExporter: SpanSink, @unchecked Sendable {
    public struct Options: Sendable {
        /// Spans held at once, queued or being exported.
        public var queueCapacity = 2048
        /// Bytes of span data (`CheckSpan.approximateBytes`) held at once, queued or being exported.
        public var queueBytes = 2048 * 2048
        public var maxBatch = 512
        public var flushInterval = 1.0
        public var timeout = 5.0
        /// While exports keep failing, `onFailure` is told at most once per this many seconds (the first
        /// failure of a streak always).
        public var failureReportInterval = 60.0
        public init() {}

        /// The least `queueBytes` of `init(queueSize:)`: room for about ten spans at the attribute bounds (five
        /// strings of `CheckSpan.maxAttributeBytes` and a `tracestate`: about 6 KB each), so a small queue
        /// size does not drop every large span.
        public static let minQueueBytes = 64 * 1024

        /// The bounds for `--otlp-queue-size n`: `n` spans, and 2 KiB per span of that in bytes (an ordinary
        /// span is a few hundred bytes) but at least `minQueueBytes`; batches of up to 512 spans.
        public init(queueSize n: Int) {
            queueCapacity = n
            queueBytes = max(Self.minQueueBytes, n.multipliedReportingOverflow(by: 2048).overflow ? Int.max : n * 2048)
            maxBatch = max(1, min(512, n))
        }
    }

    public let options: Options
    /// The resource's attributes: `service.name`, `service.version`, extras.
    public let resource: [SpanAttribute]
    private let poster: any OTLPPoster
    /// The spans queued, their sizes, and the count and bytes of every span held (queued or being exported).
    private struct Held {
        var queue: [CheckSpan] = []
        var sizes: [Int] = []
        var count = 0
        var bytes = 0
    }
    private let held = Locked(Held())
    private let wake = DispatchSemaphore(value: 0)
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private let scopeVersion: String
    private let onFailure: @Sendable (String) -> Void
    private let onRecovery: @Sendable (String) -> Void

    private let exported = Atomic<Int>(0)
    private let droppedQueueFull = Atomic<Int>(0)
    private let droppedExportFailed = Atomic<Int>(0)
    private let failedExports = Atomic<Int>(0)

    /// - Parameters:
    ///   - onFailure: told why an export failed: on the first failure, then at most once per
    ///     `failureReportInterval` however exports fare in between, with the failures not told summed up (the
    ///     executable logs it at warn).
    ///   - onRecovery: told when an export succeeds after failures `onFailure` was told about (the executable
    ///     logs it at info).
    public init(poster: any OTLPPoster, resource: [SpanAttribute], scopeVersion: String, options: Options = Options(),
                onFailure: @escaping @Sendable (String) -> Void = { _ in }, onRecovery: @escaping @Sendable (String) -> Void = { _ in }) {
        self.poster = poster
        self.resource = resource
        self.scopeVersion = scopeVersion
        self.options = options
        self.onFailure = onFailure
        self.onRecovery = onRecovery
    }

    /// Starts the export thread.
    public func start() {
        let t = Thread { [self] in run() }
        t.name = "warden-otlp-export"
        t.start()
    }

    public func submit(_ span: consuming CheckSpan) {
        let size = span.approximateBytes
        // Moved into the queue, not copied (a copy retained and released each of its strings).
        var pending = Optional(span)
        let queued = held.withLock { h -> Int? in
            guard h.count < options.queueCapacity, h.bytes + size <= options.queueBytes, let span = pending.take() else { return nil }
            h.queue.append(span)
            h.sizes.append(size)
            h.count += 1
            h.bytes += size
            return h.queue.count
        }
        guard let queued else {
            droppedQueueFull.add(1, ordering: .relaxed)
            return
        }
        if queued == options.maxBatch { wake.signal() }
    }

    /// Exports what is queued (bounded by the timeout per batch) and stops the thread.
    public func shutdown() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake.signal()
        _ = finished.wait(timeout: .now() + options.timeout * 2 + 1)
    }

    /// Counters for `/metrics`.
    public var statistics: Statistics {
        let (count, bytes) = held.withLock { ($0.count, $0.bytes) }
        return Statistics(exported: exported.load(ordering: .relaxed), droppedQueueFull: droppedQueueFull.load(ordering: .relaxed),
                          droppedExportFailed: droppedExportFailed.load(ordering: .relaxed),
                          failedExports: failedExports.load(ordering: .relaxed), queued: count, queuedBytes: bytes)
    }

    public struct Statistics: Sendable, Equatable {
        public var exported: Int
        public var droppedQueueFull: Int
        public var droppedExportFailed: Int
        public var failedExports: Int
        /// Spans held: queued, or taken by the export thread and not yet sent.
        public var queued: Int
        /// Their bytes (`CheckSpan.approximateBytes`).
        public var queuedBytes: Int
    }

    /// Failed exports, for `onFailure`'s rate limit.
    private struct FailureReports {
        /// Monotonic nanoseconds of the last `onFailure`; nil: never told.
        var toldAt: UInt64?
        /// Failed exports and spans dropped since the last `onFailure`, not yet told (across successes).
        var untoldExports = 0
        var untoldSpans = 0
        /// The current run of failures (since the last success), and whether `onFailure` was told in it.
        var streakExports = 0
        var streakSpans = 0
        var streakTold = false
    }

    private func run() {
        var reports = FailureReports()
        // One writer and one body for every batch: their memory is reused (grown once to the largest batch).
        var writer = ProtobufBufferWriter(capacity: 64 * 1024)
        var body: [UInt8] = []
        var taken: [CheckSpan] = [], sizes: [Int] = []
        while true {
            let stop = stopping.load(ordering: .acquiring)
            if !stop { _ = wake.wait(timeout: .now() + options.flushInterval) }
            // Take the whole queue at once (the buffer moves, no span is copied), then send it in batches.
            // Two buffers take turns: each keeps the capacity it grew to, so a batch's spans are queued
            // without reallocating. The taken spans still count as held until their batch is sent.
            held.withLock {
                swap(&$0.queue, &taken)
                swap(&$0.sizes, &sizes)
            }
            while !taken.isEmpty {
                let n = min(options.maxBatch, taken.count)
                let failure = export(taken.prefix(n), &writer, &body)
                let bytes = sizes.prefix(n).reduce(0, +)
                // The sent spans are released before they stop counting: the spans alive (queued, or taken and
                // not yet sent) never pass the bounds, over any number of batches (moving the rest forward
                // moves them, it copies no span).
                taken.removeFirst(n)
                sizes.removeFirst(n)
                held.withLock {
                    $0.count -= n
                    $0.bytes -= bytes
                }
                report(failure, spans: n, &reports)
            }
            if stop || stopping.load(ordering: .acquiring) && held.withLock({ $0.queue.isEmpty }) { break }
        }
        finished.signal()
    }

    /// Tells `onFailure` at most once per `failureReportInterval`, whether or not exports succeeded in
    /// between (a collector failing every other batch is told once a minute, not per batch), with the
    /// failures not told since; and `onRecovery` when a run of failures that was told about ends (a run
    /// that was not told about ends silently: its failures are summed into the next report and counted in
    /// the metrics).
    private func report(_ failure: String?, spans: Int, _ r: inout FailureReports) {
        guard let failure else {
            if r.streakTold {
                onRecovery("exports succeed again after \(r.streakExports) failed export(s), \(r.streakSpans) span(s) dropped")
            }
            r.streakTold = false
            r.streakExports = 0
            r.streakSpans = 0
            return
        }
        let now = DispatchTime.now().uptimeNanoseconds
        r.streakExports += 1
        r.streakSpans += spans
        let due = r.toldAt.map { Double(now &- $0) / 1e9 >= options.failureReportInterval } ?? true
        guard due else {
            r.untoldExports += 1
            r.untoldSpans += spans
            return
        }
        let earlier = r.untoldExports > 0
            ? " (and \(r.untoldExports) earlier failed export(s), \(r.untoldSpans) span(s), since the last report)" : ""
        onFailure("\(spans) span(s) dropped: \(failure)\(earlier)")
        r.toldAt = now
        r.streakTold = true
        r.untoldExports = 0
        r.untoldSpans = 0
    }

    /// One POST; nil when the collector took the batch (2xx), else why not.
    private func export(_ batch: ArraySlice<CheckSpan>, _ writer: inout ProtobufBufferWriter, _ body: inout [UInt8]) -> String? {
        writer.removeAll()
        OTLPTraceEncoding.exportRequest(batch, resource: resource, scopeName: "warden", scopeVersion: scopeVersion, into: &writer)
        writer.copyBytes(to: &body)
        let why: String
        do throws(OTLPPostError) {
            let status = try poster.post(body, timeout: options.timeout)
            if (200..<300).contains(status) {
                exported.add(batch.count, ordering: .relaxed)
                return nil
            }
            why = "HTTP \(status)"
        } catch {
            why = error.message
        }
        failedExports.add(1, ordering: .relaxed)
        droppedExportFailed.add(batch.count, ordering: .relaxed)
        return why
    }
}
