import WardenAuthz
import WardenJSON
import WardenOTLP
import WardenTrace

extension SpanExporter {
    /// The exporter `warden serve` runs for `--otlp-endpoint`: resource `service.name` (default `warden`),
    /// `service.version`, then the `--otlp-resource-attribute` extras (a later key replaces an earlier one).
    /// Export failures are logged at warn at most one line a minute, however exports fare in between (the
    /// metrics count every one); the end of a run of failures that was logged, at info. The queue holds at
    /// most `--otlp-queue-size` spans and 2 KiB per span of that bound in bytes (4 MiB by default, at least
    /// 64 KiB), queued or being exported.
    static func forServe(url: String, options: ServeOptions, log: Logger) -> SpanExporter {
        var resource = [SpanAttribute("service.name", "warden"), SpanAttribute("service.version", WardenCommand.version)]
        for (key, value) in options.otlpResourceAttributes {
            resource.removeAll { $0.key == key }
            resource.append(SpanAttribute(key, value))
        }
        var o = SpanExporter.Options(queueSize: options.otlpQueueSize)
        o.timeout = options.otlpTimeout
        return SpanExporter(poster: CurlOTLPPoster(url: url), resource: resource, scopeVersion: WardenCommand.version, options: o,
                            onFailure: { why in log.warn("trace export failed", [("reason", .string(why))]) },
                            onRecovery: { what in log.info("trace export recovered", [("reason", .string(what))]) })
    }

    /// `warden_trace_spans_exported_total`, `warden_trace_spans_dropped_total{reason}`,
    /// `warden_trace_export_failures_total`, `warden_trace_queue_spans`.
    func renderMetrics(into out: inout PrometheusText) {
        let s = statistics
        out.family("warden_trace_spans_exported_total", "counter", "Spans the OTLP collector accepted.")
        out.sample("warden_trace_spans_exported_total", s.exported)
        out.family("warden_trace_spans_dropped_total", "counter",
                   "Spans dropped: queue_full (the export queue was full) or export_failed (the collector did not accept the batch).")
        out.sample("warden_trace_spans_dropped_total", s.droppedQueueFull, labels: [("reason", "queue_full")])
        out.sample("warden_trace_spans_dropped_total", s.droppedExportFailed, labels: [("reason", "export_failed")])
        out.family("warden_trace_export_failures_total", "counter", "OTLP export requests that failed (no answer, or not 2xx).")
        out.sample("warden_trace_export_failures_total", s.failedExports)
        out.family("warden_trace_queue_spans", "gauge", "Spans held for export: queued, or being exported (at most --otlp-queue-size).")
        out.sample("warden_trace_queue_spans", s.queued)
        out.family("warden_trace_queue_bytes", "gauge", "Approximate bytes of the spans held for export (at most 2 KiB x --otlp-queue-size, or 64 KiB if that is more).")
        out.sample("warden_trace_queue_bytes", s.queuedBytes)
    }
}
