import Dispatch
import Foundation
import Glibc
import Synchronization
import WardenProtobuf
import WardenSync
import WardenTrace

/// Exports spans over OTLP/HTTP off the request path: `submit` (on a check's thread, after it was
/// answered) appends to a bounded queue under one short lock and never blocks or grows it — a full queue
/// drops the span and counts it. One thread, `warden-otlp-export`, takes up to `maxBatch` spans when that
/// many are queued or every `flushInterval`, encodes them and POSTs them, bounded by `timeout`. A failed
/// export (no answer, or not 2xx) drops that batch and counts it; nothing is retried, and nothing about an
/// export ever reaches a decision.
public final class SpanExporter: SpanSink, @unchecked Sendable {
    public struct Options: Sendable {
        public var queueCapacity = 2048
        public var maxBatch = 512
        public var flushInterval = 1.0
        public var timeout = 5.0
        public init() {}
    }

    public let options: Options
    /// The resource's attributes: `service.name`, `service.version`, extras.
    public let resource: [SpanAttribute]
    private let poster: any OTLPPoster
    private let queue = Locked<[CheckSpan]>([])
    private let wake = DispatchSemaphore(value: 0)
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private let scopeVersion: String
    private let onFailure: @Sendable (String) -> Void

    private let exported = Atomic<Int>(0)
    private let droppedQueueFull = Atomic<Int>(0)
    private let droppedExportFailed = Atomic<Int>(0)
    private let failedExports = Atomic<Int>(0)

    /// - Parameter onFailure: told why an export failed (at most once per failure streak; the executable
    ///   logs it).
    public init(poster: any OTLPPoster, resource: [SpanAttribute], scopeVersion: String, options: Options = Options(),
                onFailure: @escaping @Sendable (String) -> Void = { _ in }) {
        self.poster = poster
        self.resource = resource
        self.scopeVersion = scopeVersion
        self.options = options
        self.onFailure = onFailure
    }

    /// Starts the export thread.
    public func start() {
        let t = Thread { [self] in run() }
        t.name = "warden-otlp-export"
        t.start()
    }

    public func submit(_ span: consuming CheckSpan) {
        // Moved into the queue, not copied (a copy retained and released each of its strings).
        var pending = Optional(span)
        let (accepted, count) = queue.withLock { q -> (Bool, Int) in
            guard q.count < options.queueCapacity, let span = pending.take() else { return (false, q.count) }
            q.append(span)
            return (true, q.count)
        }
        guard accepted else {
            droppedQueueFull.add(1, ordering: .relaxed)
            return
        }
        if count == options.maxBatch { wake.signal() }
    }

    /// Exports what is queued (bounded by the timeout per batch) and stops the thread.
    public func shutdown() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake.signal()
        _ = finished.wait(timeout: .now() + options.timeout * 2 + 1)
    }

    /// Counters for `/metrics`.
    public var statistics: Statistics {
        Statistics(exported: exported.load(ordering: .relaxed), droppedQueueFull: droppedQueueFull.load(ordering: .relaxed),
                   droppedExportFailed: droppedExportFailed.load(ordering: .relaxed), failedExports: failedExports.load(ordering: .relaxed),
                   queued: queue.withLock { $0.count })
    }

    public struct Statistics: Sendable, Equatable {
        public var exported: Int
        public var droppedQueueFull: Int
        public var droppedExportFailed: Int
        public var failedExports: Int
        public var queued: Int
    }

    private func run() {
        var failing = false
        // One writer and one body for every batch: their memory is reused (grown once to the largest batch).
        var writer = ProtobufBufferWriter(capacity: 64 * 1024)
        var body: [UInt8] = []
        var taken: [CheckSpan] = []
        while true {
            let stop = stopping.load(ordering: .acquiring)
            if !stop { _ = wake.wait(timeout: .now() + options.flushInterval) }
            // Take the whole queue at once (the buffer moves, no span is copied), then send it in batches.
            // Two buffers take turns: each keeps the capacity it grew to, so a batch's spans are queued
            // without reallocating.
            queue.withLock { swap(&$0, &taken) }
            var start = 0
            while start < taken.count {
                let end = min(start + options.maxBatch, taken.count)
                let ok = export(taken[start..<end], &writer, &body)
                if !ok, !failing { failing = true } else if ok { failing = false }
                start = end
            }
            taken.removeAll(keepingCapacity: true)
            if stop || stopping.load(ordering: .acquiring) && queue.withLock({ $0.isEmpty }) { break }
        }
        finished.signal()
    }

    /// One POST; true when the collector took the batch (2xx).
    private func export(_ batch: ArraySlice<CheckSpan>, _ writer: inout ProtobufBufferWriter, _ body: inout [UInt8]) -> Bool {
        writer.removeAll()
        OTLPTraceEncoding.exportRequest(batch, resource: resource, scopeName: "warden", scopeVersion: scopeVersion, into: &writer)
        writer.copyBytes(to: &body)
        let why: String
        do throws(OTLPPostError) {
            let status = try poster.post(body, timeout: options.timeout)
            if (200..<300).contains(status) {
                exported.add(batch.count, ordering: .relaxed)
                return true
            }
            why = "HTTP \(status)"
        } catch {
            why = error.message
        }
        failedExports.add(1, ordering: .relaxed)
        droppedExportFailed.add(batch.count, ordering: .relaxed)
        onFailure("\(batch.count) span(s) dropped: \(why)")
        return false
    }
}
