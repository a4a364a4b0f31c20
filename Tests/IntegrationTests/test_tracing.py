"""OpenTelemetry spans inside Envoy's trace (issue 19), through a real Envoy with its OpenTelemetry tracer
exporting OTLP/gRPC to a test collector, and Warden exporting OTLP/HTTP (protobuf) to the same collector:
Warden's span has Envoy's trace id and Envoy's ext_authz span as parent, sampling follows Envoy's decision,
the attributes carry no secret, and a dead collector changes no decision (dropped spans are counted)."""
from __future__ import annotations

import json
import re
import time

import pytest

from harness import httpclient
from harness.envoy import render_config
from harness.otlp import Collector, add_envoy_tracing, trace_tree
from harness.ports import free_port, wait_until
from harness.tokens import Minter
from harness.warden import write_policy_dir
from opentelemetry.proto.trace.v1 import trace_pb2

REQUIRE_JWT = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: require-jwt, namespace: default}
spec:
  action: ALLOW
  rules:
  - from: [{source: {requestPrincipals: ["*"]}}]
"""


def policies(idp) -> dict[str, str]:
    ra = ("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: default}\n"
          f"spec:\n  jwtRules:\n  - issuer: {idp.issuer}\n    audiences: [warden-test]\n    jwks: '{json.dumps(idp.jwks())}'\n")
    return {"ra.yaml": ra, "ap.yaml": REQUIRE_JWT}


def traced_envoy(make_envoy, upstream, warden, collector, sampling: float = 100.0):
    return make_envoy(add_envoy_tracing(render_config(upstream_port=upstream.port, warden_port=warden.port), collector.grpc_port, sampling))


def metric(warden, family: str, **labels) -> float:
    status, text = warden.admin_status("/metrics")
    assert status == 200
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        m = re.fullmatch(re.escape(family) + (r"\{(.*)\}" if labels else r"()") + r" (\S+)", line)
        if m and m.group(1) == want:
            return float(m.group(2))
    return 0.0


@pytest.fixture
def collector():
    c = Collector.start()
    yield c
    c.close()


def test_wardens_span_is_a_child_of_envoys_ext_authz_span(module_idp, make_warden, make_envoy, upstream, collector, tmp_path):
    w = make_warden(write_policy_dir(tmp_path / "p", policies(module_idp)), debug_headers=False,
                    extra_args=["--otlp-endpoint", collector.http_url, "--otlp-resource-attribute", "deployment.environment.name=test",
                                "--redact-claims", "email", "--trace-enduser-id", "--log-format", "json", "--log-level", "debug"])
    envoy = traced_envoy(make_envoy, upstream, w, collector)
    minter = Minter(module_idp)
    good, expired = minter.mint(email="alice@example.org"), minter.mint(exp_in=-600)
    assert httpclient.request("GET", envoy.url("/orders/alice@example.org?q=secret-query"),
                              headers={"authorization": f"Bearer {good}"}).status == 200
    # No x-request-id of our own: Envoy keeps its tracing decision in the UUID it generates (a request id that
    # is no UUID is never traced).
    assert httpclient.request("GET", envoy.url("/orders/expired"), headers={"authorization": f"Bearer {expired}"}).status == 401

    spans = collector.wait_for(lambda s: len([x for x in s if x.via == "http"]) >= 2
                               and len({x.trace_id for x in s if x.via == "grpc"}) >= 2,
                               timeout=10, what="Envoy's and Warden's spans")
    warden_spans = [s for s in spans if s.via == "http"]
    envoy_spans = {s.span_id: s for s in spans if s.via == "grpc"}
    for ws in warden_spans:
        assert ws.service == "warden" and ws.resource["service.version"] and ws.resource["deployment.environment.name"] == "test"
        assert ws.span.name == "warden.check" and ws.span.kind == ws.span.SPAN_KIND_SERVER
        parent = envoy_spans.get(ws.parent_span_id)
        assert parent is not None, f"Warden's parent {ws.parent_span_id} is not one of Envoy's spans {list(envoy_spans)}"
        assert parent.trace_id == ws.trace_id and parent.service == "envoy"
        # Envoy's gRPC async client span for the ext_authz call, a child of the request's span.
        assert "Authorization" in parent.span.name or "ext_authz" in parent.span.name, parent.span.name
        assert parent.span.kind == parent.span.SPAN_KIND_CLIENT
        assert ws.span.start_time_unix_nano >= parent.span.start_time_unix_nano - 50_000_000
    by_code = {ws.attributes["warden.reason_code"]: ws for ws in warden_spans}
    ok, denied = by_code["allowed"], by_code["jwt_expired"]
    assert ok.attributes["warden.decision"] == "allow" and denied.attributes["warden.decision"] == "deny"
    assert ok.attributes["http.request.method"] == "GET" and ok.attributes["warden.policy"] == "default/require-jwt rule[0]"
    assert ok.attributes["url.path"] == "/orders/[redacted]"  # no query; the --redact-claims value cut out
    assert ok.attributes["enduser.id"] == f"{module_idp.issuer}/alice"
    assert denied.attributes["warden.status"] == 401
    tree = trace_tree(spans, ok.trace_id)  # ingress → the ext_authz call → warden.check, as the demo prints it
    assert len(tree) == 4 and tree[1].startswith("└─ ingress [envoy, SERVER]") and "warden.check [warden, SERVER]" in tree[3], tree
    # No secret anywhere in what Warden exported: tokens, the redacted claim, the query.
    raw = b"".join(s.span.SerializeToString() for s in warden_spans)
    for secret in (good, expired, "alice@example.org", "secret-query"):
        assert secret.encode() not in raw
    # The decision log joins the trace.
    lines = [json.loads(l) for l in w.log_text().splitlines() if l.startswith("{")]
    logged = {d["path"]: d for d in lines if d.get("msg") == "decision"}
    assert logged["/orders/expired"]["trace_id"] == denied.trace_id and logged["/orders/expired"]["span_id"] == denied.span_id
    wait_until(lambda: metric(w, "warden_trace_spans_exported_total") >= 2, 5, what="exported counter")


def test_sampling_follows_envoys_decision(module_idp, make_warden, make_envoy, upstream, collector, tmp_path):
    """Envoy samples nothing (random_sampling 0): its traceparent says not sampled, and Warden exports
    nothing either, even with --trace-sample-ratio 1 (which applies only to requests without a decision)."""
    w = make_warden(write_policy_dir(tmp_path / "p", policies(module_idp)),
                    extra_args=["--otlp-endpoint", collector.http_url, "--trace-sample-ratio", "1", "--log-level", "debug"])
    envoy = traced_envoy(make_envoy, upstream, w, collector, sampling=0)
    token = Minter(module_idp).mint()
    for i in range(5):
        assert httpclient.request("GET", envoy.url(f"/unsampled/{i}"), headers={"authorization": f"Bearer {token}"}).status == 200
    # A request that forces Envoy to trace (x-envoy-force-trace with a client-chosen request id) is sampled.
    assert httpclient.request("GET", envoy.url("/forced"), headers={"authorization": f"Bearer {token}",
                                                                    "x-envoy-force-trace": "1",
                                                                    "x-client-trace-id": "forced-1"}).status == 200
    def joined(spans):
        ours = [x for x in spans if x.via == "http"]
        return bool(ours) and ours[0].trace_id in {x.trace_id for x in spans if x.via == "grpc"}
    collector.wait_for(joined, timeout=10, what="the forced trace's spans from Warden and Envoy")
    time.sleep(1.5)  # one more export interval of Warden's: nothing else may arrive
    warden_spans = [s for s in collector.snapshot() if s.via == "http"]
    assert len(warden_spans) == 1 and warden_spans[0].attributes["url.path"] == "/forced"
    # Unsampled checks still carry the ids in their log line (logs and traces join either way).
    lines = [json.loads(l) for l in w.log_text().splitlines() if l.startswith("{")]
    unsampled = [d for d in lines if d.get("msg") == "decision" and d.get("path", "").startswith("/unsampled/")]
    assert len(unsampled) == 5 and all(re.fullmatch(r"[0-9a-f]{32}", d["trace_id"]) for d in unsampled)


def test_dead_collector_changes_nothing(module_idp, make_warden, make_envoy, upstream, tmp_path):
    """Nothing listens at the OTLP endpoint: every decision is the same as without tracing, answers stay fast,
    and the spans are dropped and counted."""
    dead = f"http://127.0.0.1:{free_port()}"
    directory = write_policy_dir(tmp_path / "p", policies(module_idp))
    traced = make_warden(directory, extra_args=["--otlp-endpoint", dead, "--trace-sample-ratio", "1", "--otlp-timeout", "200ms"])
    plain = make_warden(directory)
    minter = Minter(module_idp)
    tokens = [minter.mint(), minter.mint(exp_in=-600), None, minter.mint(aud="other")]
    envoys = [make_envoy(upstream_port=upstream.port, warden_port=w.port) for w in (traced, plain)]
    answers: list[list[tuple[int, bytes]]] = [[], []]
    slowest = [0.0, 0.0]
    for round_ in range(10):
        for i, envoy in enumerate(envoys):
            for t in tokens:
                headers = {"authorization": f"Bearer {t}"} if t else {}
                start = time.monotonic()
                r = httpclient.request("GET", envoy.url(f"/r/{round_}"), headers=headers)
                slowest[i] = max(slowest[i], time.monotonic() - start)
                answers[i].append((r.status, r.body if r.status != 200 else b""))
    assert answers[0] == answers[1]
    assert {s for s, _ in answers[0]} == {200, 401, 403}
    assert slowest[0] < 0.5, slowest  # no answer waited for the collector (its timeout is 200ms)
    wait_until(lambda: metric(traced, "warden_trace_spans_dropped_total", reason="export_failed") >= 40, 10,
               what="dropped spans counted")
    assert metric(traced, "warden_trace_spans_exported_total") == 0
    assert metric(traced, "warden_trace_export_failures_total") >= 1
    # One warning for the streak of failures, not one per batch (the metrics count every batch).
    assert traced.log_text().count("trace export failed") == 1


def test_status_events_and_methods_decode_with_opentelemetry_proto(idp, make_warden, make_envoy, upstream, collector, tmp_path):
    """Decoded with opentelemetry-proto's own classes: Warden's own failure (an issuer's keys unreachable: 401
    `jwt_jwks_unavailable`) is the span's Status ERROR with a fixed message (Span field 15: message 2, code 3);
    a deny about the request (an expired token) and an allow are UNSET (HTTP semantic conventions: a SERVER
    span's 4xx is no error). A token exchange (RFC 8693, at the IdP's token endpoint) is a
    `warden.token_exchange` event with its outcome and duration. A method the conventions do not know is
    `_OTHER`, the method sent in `http.request.method_original`."""
    secret = tmp_path / "client-secret"
    secret.write_text("introspection-secret\n")
    dead = f"http://127.0.0.1:{free_port()}/jwks.json"
    files = {
        "ra.yaml": ("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: default}\n"
                    f"spec:\n  jwtRules:\n  - issuer: {idp.issuer}\n    jwksUri: {idp.jwks_uri}\n"
                    f"  - issuer: https://dead.example\n    jwksUri: {dead}\n"),
        "tp.yaml": ("apiVersion: security.warden.io/v1alpha1\nkind: TokenPolicy\nmetadata: {name: exchange, namespace: default}\n"
                    f"spec:\n  tokenExchange:\n  - issuer: {idp.issuer}\n    to: [{{operation: {{paths: ['/orders*']}}}}]\n"
                    f"    endpoint: {idp.token_endpoint}\n    clientId: warden\n    clientSecretFile: {secret}\n"
                    "    audiences: [orders-api]\n"),
    }
    # One source never answers: readiness degrades after --ready-timeout instead of waiting for it.
    w = make_warden(write_policy_dir(tmp_path / "p", files), debug_headers=False,
                    extra_args=["--otlp-endpoint", collector.http_url, "--ready-timeout", "1s"])
    envoy = traced_envoy(make_envoy, upstream, w, collector)
    minter = Minter(idp)
    cases = [("GET", "/orders/1", minter.mint(), 200), ("GET", "/other", minter.mint(iss="https://dead.example"), 401),
             ("GET", "/other", minter.mint(exp_in=-600), 401), ("PROPFIND", "/other", minter.mint(), 501)]  # allowed; the test upstream does not implement PROPFIND
    for method, path, token, status in cases:
        assert httpclient.request(method, envoy.url(path), headers={"authorization": f"Bearer {token}"}).status == status, path
    spans = collector.wait_for(lambda s: len([x for x in s if x.via == "http"]) >= 4, timeout=10, what="Warden's four spans")
    ours = [s for s in spans if s.via == "http"]
    by = {(s.attributes["http.request.method"], s.attributes.get("http.request.method_original"), s.attributes["warden.reason_code"]): s
          for s in ours}
    exchanged = by[("GET", None, "allowed")]
    unavailable = by[("GET", None, "jwt_jwks_unavailable")]
    expired = by[("GET", None, "jwt_expired")]
    other = by[("_OTHER", "PROPFIND", "allowed")]
    # The Status message, as opentelemetry-proto decodes it from the bytes Warden sent.
    assert unavailable.span.status.code == trace_pb2.Status.STATUS_CODE_ERROR
    assert unavailable.span.status.message == "the issuer's keys are unavailable"
    assert unavailable.span.HasField("status")
    for s in (exchanged, expired, other):
        assert s.span.status.code == trace_pb2.Status.STATUS_CODE_UNSET and s.span.status.message == "", s.attributes
        assert not s.span.HasField("status")
    events = {e.name: e for e in exchanged.span.events}
    assert list(events) == ["warden.token_exchange"], list(events)
    event_attributes = {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in events["warden.token_exchange"].attributes}
    assert event_attributes["warden.token_exchange.outcome"] == "exchanged"
    assert event_attributes["warden.token_exchange.wait_ms"] > 0
    assert exchanged.span.start_time_unix_nano <= events["warden.token_exchange"].time_unix_nano <= exchanged.span.end_time_unix_nano
    assert not other.span.events  # no exchange on /other


def test_tracing_flags_without_an_endpoint_are_warned_about(module_idp, make_warden, tmp_path):
    """--trace-sample-ratio and --trace-enduser-id do nothing without --otlp-endpoint: Warden says so at start."""
    w = make_warden(write_policy_dir(tmp_path / "p", policies(module_idp)),
                    extra_args=["--trace-sample-ratio", "1", "--trace-enduser-id", "--log-format", "json"])
    lines = [json.loads(l) for l in w.log_text().splitlines() if l.startswith("{")]
    warnings = [d["msg"] for d in lines if d.get("level") == "warn"]
    assert "--trace-sample-ratio, --trace-enduser-id have no effect without --otlp-endpoint: tracing is off" in warnings, warnings
    plain = make_warden(write_policy_dir(tmp_path / "q", policies(module_idp)), extra_args=["--log-format", "json"])
    assert "otlp-endpoint" not in plain.log_text()
