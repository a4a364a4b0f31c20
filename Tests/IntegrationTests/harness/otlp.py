"""A small OpenTelemetry collector for the tests, on the official `opentelemetry-proto` definitions: OTLP/gRPC
(`TraceService/Export`, what Envoy's OpenTelemetry tracer sends) and OTLP/HTTP with a protobuf body
(`POST /v1/traces`, what Warden sends) on two ports of 127.0.0.1. Every span received is kept, decoded, with
the resource attributes of its batch and the transport it came by."""
from __future__ import annotations

import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from .ports import LOCALHOST


def any_value(v: common_pb2.AnyValue):
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


def attributes(kvs) -> dict:
    return {kv.key: any_value(kv.value) for kv in kvs}


@dataclass
class ReceivedSpan:
    span: trace_pb2.Span
    resource: dict
    via: str  # "grpc" or "http"
    scope: str = ""

    @property
    def trace_id(self) -> str:
        return self.span.trace_id.hex()

    @property
    def span_id(self) -> str:
        return self.span.span_id.hex()

    @property
    def parent_span_id(self) -> str:
        return self.span.parent_span_id.hex()

    @property
    def attributes(self) -> dict:
        return attributes(self.span.attributes)

    @property
    def service(self) -> str:
        return self.resource.get("service.name", "")


@dataclass
class Collector:
    """Start with `Collector.start()`; `grpc_port` for Envoy, `http_url` for Warden's `--otlp-endpoint`."""
    spans: list[ReceivedSpan] = field(default_factory=list)
    http_requests: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    grpc_port: int = 0
    http_port: int = 0

    @classmethod
    def start(cls) -> "Collector":
        c = cls()
        c._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(c), c._grpc)
        c.grpc_port = c._grpc.add_insecure_port(f"{LOCALHOST}:0")
        c._grpc.start()
        c._http = ThreadingHTTPServer((LOCALHOST, 0), _http_handler(c))
        c._http.daemon_threads = True
        c.http_port = c._http.server_address[1]
        c._thread = threading.Thread(target=c._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        c._thread.start()
        return c

    @property
    def http_url(self) -> str:
        return f"http://{LOCALHOST}:{self.http_port}"

    def add(self, request: trace_service_pb2.ExportTraceServiceRequest, via: str) -> None:
        with self.lock:
            for rs in request.resource_spans:
                resource = attributes(rs.resource.attributes)
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        self.spans.append(ReceivedSpan(s, resource, via, ss.scope.name))

    def snapshot(self) -> list[ReceivedSpan]:
        with self.lock:
            return list(self.spans)

    def wait_for(self, predicate, timeout: float = 10.0, what: str = "spans") -> list[ReceivedSpan]:
        """Polls until `predicate(spans)` holds (bounded); returns the spans."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.snapshot()
            if predicate(spans):
                return spans
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; have {[(s.via, s.service, s.span.name) for s in spans]}, "
                                     f"HTTP requests {self.http_requests}")
            time.sleep(0.05)

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._grpc.stop(grace=0).wait(2)


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, collector: Collector):
        self.collector = collector

    def Export(self, request, context):  # noqa: N802 - gRPC method name
        self.collector.add(request, "grpc")
        return trace_service_pb2.ExportTraceServiceResponse()


def _http_handler(collector: Collector):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with collector.lock:
                collector.http_requests.append({"path": self.path, "content-type": self.headers.get("content-type"), "bytes": len(body)})
            if self.path != "/v1/traces" or self.headers.get("content-type") != "application/x-protobuf":
                self.send_response(404 if self.path != "/v1/traces" else 415)
                self.send_header("content-length", "0")
                self.end_headers()
                return
            collector.add(trace_service_pb2.ExportTraceServiceRequest.FromString(body), "http")
            out = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass

    return Handler


def envoy_tracing(collector_port: int, sampling: float = 100.0) -> tuple[dict, dict]:
    """(HCM `tracing`, the `otel` cluster) for Envoy's OpenTelemetry tracer exporting to the collector."""
    tracing = {
        "random_sampling": {"value": sampling},
        "provider": {
            "name": "envoy.tracers.opentelemetry",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig",
                "grpc_service": {"envoy_grpc": {"cluster_name": "otel"}, "timeout": "1s"},
                "service_name": "envoy",
            },
        },
    }
    cluster = {
        "name": "otel", "type": "STATIC", "connect_timeout": "0.25s",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
        "load_assignment": {"cluster_name": "otel", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
            "socket_address": {"address": LOCALHOST, "port_value": collector_port}}}}]}]},
    }
    return tracing, cluster


HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


def add_envoy_tracing(config: dict, collector_port: int, sampling: float = 100.0) -> dict:
    """Turns on Envoy's OpenTelemetry tracer in every HTTP connection manager of `config` (in place), with the
    `otel` cluster and a 200 ms flush interval (runtime `tracing.opentelemetry.flush_interval_ms`; the default,
    5 s, would make every test wait)."""
    tracing, cluster = envoy_tracing(collector_port, sampling)

    def walk(node):
        if isinstance(node, dict):
            if node.get("@type") == HCM_TYPE:
                node["tracing"] = tracing
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(config["static_resources"]["listeners"])
    config["static_resources"]["clusters"].append(cluster)
    layers = config.setdefault("layered_runtime", {}).setdefault("layers", [])
    layers.insert(0, {"name": "otel-flush", "static_layer": {"tracing.opentelemetry.flush_interval_ms": 200}})
    return config


def trace_tree(spans: list[ReceivedSpan], trace_id: str) -> list[str]:
    """The spans of one trace as an indented tree: name, service, kind, duration, and Warden's attributes."""
    mine = [s for s in spans if s.trace_id == trace_id]
    ids = {s.span_id for s in mine}
    children: dict[str, list[ReceivedSpan]] = {}
    for s in mine:
        children.setdefault(s.parent_span_id if s.parent_span_id in ids else "", []).append(s)
    kinds = {1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
    lines = [f"trace {trace_id}"]

    def show(span: ReceivedSpan, prefix: str, last: bool):
        ms = (span.span.end_time_unix_nano - span.span.start_time_unix_nano) / 1e6
        extra = ""
        if span.service == "warden":
            a = span.attributes
            keys = ("warden.decision", "warden.status", "warden.reason_code", "warden.policy")
            extra = "  " + " ".join(f"{k.removeprefix('warden.')}={a[k]}" for k in keys if k in a)
        lines.append(f"{prefix}{'└─ ' if last else '├─ '}{span.span.name} [{span.service}, {kinds.get(span.span.kind, '?')}] "
                     f"{ms:.2f} ms{extra}")
        kids = sorted(children.get(span.span_id, []), key=lambda x: x.span.start_time_unix_nano)
        for i, kid in enumerate(kids):
            show(kid, prefix + ("   " if last else "│  "), i == len(kids) - 1)
    roots = sorted(children.get("", []), key=lambda x: x.span.start_time_unix_nano)
    for i, root in enumerate(roots):
        show(root, "", i == len(roots) - 1)
    return lines
