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
    assert "trace export failed" in traced.log_text()
