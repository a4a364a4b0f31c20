"""`make demo` — the five-minute tour of Warden.

Starts, all on 127.0.0.1 and all stopped at the end:
  * a small OpenID identity provider: signing keys generated on the spot, JWKS served over HTTP;
  * Warden with the demo policies (deploy/demo/policies, pointed at that IdP's JWKS);
  * an upstream app that answers with the headers it received;
  * a real Envoy in front of it, configured by deploy/envoy/envoy.yaml (ext_authz → Warden), with its
    OpenTelemetry tracer on, and a small OTLP collector that both Envoy and Warden (--otlp-endpoint) export to
    — or, with --front nginx|caddy|envoy-http|envoy-http2, the proxy of deploy/nginx/nginx.conf,
    deploy/caddy/Caddyfile, deploy/envoy/envoy-http.yaml or envoy-http2.yaml (h2c), asking Warden's HTTP front door;
then sends a handful of requests and prints, for each, the status, Warden's reason and what the app saw,
and (with Envoy) the trace tree of one request (Envoy's spans with Warden's span inside).

Usage: .venv/bin/python scripts/demo.py [--keep] [--front envoy|nginx|caddy|envoy-http|envoy-http2]
  --keep   leave everything running afterwards (Ctrl-C stops it) and print curl commands to try.
  --front  the proxy in front of the app (default envoy; `make demo FRONT=nginx`).
Needs the Warden binary: $WARDEN_BIN, else .build/release/warden (make build).
"""
from __future__ import annotations

import argparse
import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Tests" / "IntegrationTests"))

from harness import httpclient, process  # noqa: E402
from harness.deploy import MAIN as ENVOY_CONFIG  # noqa: E402
from harness.envoy import Envoy, load_for_rig  # noqa: E402
from harness.idp import IdP  # noqa: E402
from harness.otlp import Collector, add_envoy_tracing, trace_tree  # noqa: E402
from harness.policy_render import load_policy_dir, render_policies  # noqa: E402
from harness.proxies import CADDYFILE, ENVOY_HTTP, ENVOY_HTTP2, NGINX_CONF, Caddy, Nginx, envoy_http_config  # noqa: E402
from harness.tokens import Minter  # noqa: E402
from harness.upstream import EchoUpstream  # noqa: E402
from harness.warden import Warden  # noqa: E402

POLICIES = ROOT / "deploy" / "demo" / "policies"
ISSUER = "https://demo.warden.local"  # as in deploy/demo/policies/request-authentication.yaml
AUDIENCE = "orders-api"
# Headers every request carries that say nothing about Warden: left out of the printout.
NOISE = {"host", "user-agent", "content-length", "x-request-id", "x-envoy-expected-rq-timeout-ms",
         "x-forwarded-proto", "x-forwarded-for", "x-envoy-external-address", "accept", "accept-encoding",
         "traceparent", "tracestate"}


@dataclass
class Step:
    title: str
    method: str
    path: str
    token: str | None
    expect: int
    headers: dict[str, str] = field(default_factory=dict)
    note: str = ""


def warden_binary() -> str:
    path = os.environ.get("WARDEN_BIN") or str(ROOT / ".build" / "release" / "warden")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        sys.exit(f"demo: no Warden binary at {path} — run `make build` (or set WARDEN_BIN)")
    return path


def say(text: str = "") -> None:
    print(text, flush=True)


def steps(minter: Minter) -> list[Step]:
    read = minter.mint(iss=ISSUER, scope="orders:read")
    write = minter.mint(iss=ISSUER, scope="orders:read orders:write")
    return [
        Step("no token", "GET", "/orders", None, 403,
             note="the require-jwt DENY policy: every path but /healthz needs a valid token"),
        Step("valid token (scope orders:read)", "GET", "/orders", read, 200,
             note="claims become headers (outputClaimToHeaders); the token itself is stripped"),
        Step("expired token", "GET", "/orders", minter.expired(iss=ISSUER, scope="orders:read"), 401,
             note="a bad token is a 401 with Envoy jwt_authn's body and a WWW-Authenticate challenge"),
        Step("POST without the orders:write scope", "POST", "/orders", read, 403,
             note="the orders ALLOW policy wants request.auth.claims[scope] = orders:write for writes"),
        Step("POST with the orders:write scope", "POST", "/orders", write, 200),
        Step("spoofed x-jwt-sub header (valid token as alice)", "GET", "/orders", read, 200,
             headers={"x-jwt-sub": "admin"},
             note="the client's copy of an injected header is removed; the app sees the token's subject"),
    ]


def run_step(number: int, step: Step, envoy, upstream: EchoUpstream) -> bool:
    headers = dict(step.headers)
    if step.token:
        headers["authorization"] = f"Bearer {step.token}"
    upstream.clear()
    body = b'{"item": "coffee", "qty": 2}' if step.method == "POST" else None
    response = httpclient.request(step.method, envoy.url(step.path), headers=headers, body=body)
    sent = " ".join(f"-H '{k}: {v[:24] + '…' if k == 'authorization' else v}'" for k, v in headers.items())
    say(f"[{number}] {step.title}")
    say(f"    request:  {step.method} {step.path} {sent}".rstrip())
    say(f"    status:   {response.status}")
    if response.status != 200:
        say(f"    reason:   {response.text.strip() or '(empty body)'}")
        if "www-authenticate" in response.headers:
            say(f"    www-authenticate: {response.headers['www-authenticate']}")
    for name, value in sorted(response.headers.items()):
        if name.startswith("x-warden-"):
            say(f"    {name}: {value}")
    if upstream.count():
        received = [(n, v) for n, v in upstream.last()["header_list"] if n not in NOISE]
        say("    upstream received:")
        for name, value in received:
            say(f"      {name}: {value}")
        if not any(n == "authorization" for n, _ in received):
            say("      (no authorization header: Warden stripped the token)")
    else:
        say("    upstream received: nothing (the request was stopped at the proxy)")
    if step.note:
        say(f"    why: {step.note}")
    ok = response.status == step.expect
    if not ok:
        say(f"    UNEXPECTED: wanted {step.expect}")
    say()
    return ok


def add_token_exchange(policies: Path, idp: IdP, work: Path) -> None:
    """The demo's one Warden-only extra: requests to /payments get the user's token exchanged (RFC 8693) at the
    IdP's token endpoint for one minted for `payments-api`, with Warden's client recorded as the actor."""
    secret = work / "exchange-client-secret"
    secret.write_text("introspection-secret\n")  # the test IdP's client `warden`
    (policies / "token-exchange.yaml").write_text(f"""apiVersion: security.warden.io/v1alpha1
kind: TokenPolicy
metadata: {{name: payments-exchange, namespace: default}}
spec:
  tokenExchange:
  - issuer: {ISSUER}
    to: [{{operation: {{paths: ["/payments", "/payments/*"]}}}}]
    endpoint: {idp.token_endpoint}
    clientId: warden
    clientSecretFile: {secret}
    audiences: [payments-api]
""")


def show_exchange(envoy, upstream: EchoUpstream, token: str) -> bool:
    """One request to /payments: the upstream gets a token exchanged for its audience, never the user's."""
    import base64
    import json
    upstream.clear()
    response = httpclient.request("GET", envoy.url("/payments"), headers={"authorization": f"Bearer {token}"})
    say("Token exchange (RFC 8693) for GET /payments (a TokenPolicy tokenExchange rule):")
    seen = upstream.last()["headers"] if upstream.count() else {}
    auth = seen.get("authorization", "")
    if response.status != 200 or not auth.startswith("Bearer ") or token in json.dumps(seen):
        say(f"    no exchanged token: status {response.status}")
        return False
    claims = json.loads(base64.urlsafe_b64decode(auth[7:].split(".")[1] + "=="))
    say(f"    the upstream got a new token: aud {claims.get('aud')!r}, sub {claims.get('sub')!r}, act {claims.get('act')}")
    say("    why: the user's token (aud orders-api) was exchanged at the IdP's token endpoint; it never reached the upstream")
    say()
    return claims.get("aud") == "payments-api" and claims.get("act", {}).get("sub") == "warden"


def show_trace(envoy: Envoy, upstream: EchoUpstream, collector: Collector, token: str) -> bool:
    """One more allowed request, then its trace as the collector received it from Envoy and Warden."""
    upstream.clear()
    response = httpclient.request("GET", envoy.url("/orders"), headers={"authorization": f"Bearer {token}"})
    traceparent = upstream.last()["headers"].get("traceparent", "") if upstream.count() else ""
    say("Trace of GET /orders (Envoy's OpenTelemetry tracer and Warden's --otlp-endpoint, one collector):")
    if response.status != 200 or len(traceparent.split("-")) != 4:
        say(f"    no trace: status {response.status}, traceparent {traceparent!r}")
        return False
    trace_id = traceparent.split("-")[1]
    try:
        spans = collector.wait_for(lambda s: sum(x.trace_id == trace_id for x in s) >= 3, timeout=10,
                                   what="the request's spans")
    except AssertionError as error:
        say(f"    {error}")
        return False
    for line in trace_tree(spans, trace_id):
        say("    " + line)
    say("    why: Warden's span is a child of Envoy's ext_authz call (the context rides in the call's gRPC metadata)")
    say()
    return True


def next_steps(binary: str, envoy, token: str | None) -> None:
    help_text = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10).stdout
    say("What to try next:")
    if envoy and token:
        say(f"  curl -i {envoy.url('/orders')} -H 'authorization: Bearer {token}'")
    say("  make run                  Warden on deploy/demo/policies (127.0.0.1:9191), for your own Envoy")
    say("  .venv/bin/python deploy/demo/mint-token.py --scope 'orders:read orders:write'   a token for it")
    if "explain" in help_text:
        say("  warden explain --help     why a request would be allowed or denied, rule by rule")
    say("  deploy/envoy/envoy.yaml   Envoy in front of your app, asking Warden (mTLS variant beside it)")
    say("  deploy/nginx/, deploy/caddy/, deploy/envoy/envoy-http.yaml   other front doors (README: Front doors)")
    say("  kubectl apply -k deploy/kubernetes/overlays/sidecar   Warden + Envoy as sidecars of your app")
    say("  kubectl apply -k deploy/kubernetes/overlays/central   a shared Warden (mTLS, PDB, HPA) for gateways")
    say("  deploy/istio/             Warden as Istio's CUSTOM authorization provider")
    say("  deploy/container/         the container image (docker build -f deploy/container/Dockerfile .)")
    say("  deploy/README.md          what each example is (walkthrough: README.md, Deploy)")


def main() -> int:
    parser = argparse.ArgumentParser(description="Warden's five-minute tour")
    parser.add_argument("--keep", action="store_true", help="keep everything running until Ctrl-C")
    parser.add_argument("--front", choices=["envoy", "nginx", "caddy", "envoy-http", "envoy-http2"], default="envoy",
                        help="the proxy in front of the app")
    options = parser.parse_args()
    binary = warden_binary()
    work = Path(tempfile.mkdtemp(prefix="warden-demo-"))
    running: list = []

    def cleanup() -> None:
        while running:
            item = running.pop()
            try:
                item.stop() if hasattr(item, "stop") else item.close()
            except Exception:  # noqa: BLE001 - keep stopping the rest
                pass
        process.kill_all()
        if ok:
            shutil.rmtree(work, ignore_errors=True)

    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C, even when started in the background
    ok = True
    envoy = None
    token = None
    try:
        say(f"work dir   {work}  (process logs; removed at the end unless something failed)")
        idp = IdP()
        running.append(idp)
        say(f"IdP        {idp.issuer}  (JWKS {idp.jwks_uri}, RSA key generated just now)")
        upstream = EchoUpstream()
        running.append(upstream)
        say(f"upstream   {upstream.url}  (answers with the headers it received)")
        collector = Collector.start()
        running.append(collector)
        say(f"collector  OTLP/gRPC 127.0.0.1:{collector.grpc_port} (Envoy), OTLP/HTTP {collector.http_url} (Warden)")
        policies = render_policies(load_policy_dir(POLICIES), work / "policies", jwks_uri=idp.jwks_uri)
        add_token_exchange(Path(policies), idp, work)
        http = options.front != "envoy"
        warden = Warden(policies, binary=binary, work_dir=work / "warden",
                        extra_args=["--debug-headers", "--otlp-endpoint", collector.http_url],
                        http=http, http_trusted_headers="all" if http else None)
        running.append(warden)
        say(f"Warden     grpc {warden.address}, admin {warden.admin_url}"
            + (f", HTTP front door {warden.http_url}" if http else "")
            + f"  (policies: {POLICIES.relative_to(ROOT)}, keys from the IdP)")
        if options.front == "nginx":
            envoy = Nginx(work / "nginx", warden_http_port=warden.http_port, upstream_port=upstream.port)
            running.append(envoy)
            say(f"nginx      {envoy.base_url}  ({NGINX_CONF.relative_to(ROOT)}: auth_request → Warden → upstream)")
        elif options.front == "caddy":
            envoy = Caddy(work / "caddy", warden_http_port=warden.http_port, upstream_port=upstream.port)
            running.append(envoy)
            say(f"Caddy      {envoy.base_url}  ({CADDYFILE.relative_to(ROOT)}: forward_auth → Warden → upstream)")
        elif options.front in ("envoy-http", "envoy-http2"):
            h2 = options.front == "envoy-http2"
            envoy = Envoy(envoy_http_config(warden_http_port=warden.http_port, warden_admin_port=warden.admin_port,
                                            upstream_port=upstream.port, http2=h2), work_dir=work / "envoy", log_level="warn")
            running.append(envoy)
            say(f"Envoy      {envoy.base_url}  ({(ENVOY_HTTP2 if h2 else ENVOY_HTTP).relative_to(ROOT)}: ext_authz http_service"
                + (" over h2c" if h2 else "") + " → Warden → upstream)")
        else:
            envoy = Envoy(add_envoy_tracing(load_for_rig(ENVOY_CONFIG, upstream_port=upstream.port, warden_port=warden.port),
                                            collector.grpc_port),
                          work_dir=work / "envoy", log_level="warn")
            running.append(envoy)
            say(f"Envoy      {envoy.base_url}  ({ENVOY_CONFIG.relative_to(ROOT)}: ext_authz → Warden → upstream)")
        say(f"tokens     issuer {ISSUER}, audience {AUDIENCE}, subject alice")
        say()
        minter = Minter(idp, audience=AUDIENCE)
        for number, step in enumerate(steps(minter), start=1):
            ok &= run_step(number, step, envoy, upstream)
        token = minter.mint(iss=ISSUER, scope="orders:read orders:write", exp_in=3600)
        ok &= show_exchange(envoy, upstream, token)
        if options.front == "envoy":  # the HTTP front doors have no tracer in front
            ok &= show_trace(envoy, upstream, collector, token)
        say("All requests behaved as documented." if ok else "Some requests did NOT behave as documented.")
        say()
        next_steps(binary, envoy if options.keep else None, token if options.keep else None)
        if options.keep:
            say()
            say(f"Everything keeps running (logs in {work}); Ctrl-C stops it and removes them.")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        say()
    except Exception as error:  # noqa: BLE001 - say what failed, keep the logs
        ok = False
        say(f"demo failed: {error}")
        say(f"logs kept in {work}")
    finally:
        cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
