"""`make demo` (scripts/demo.py) end to end: real IdP, Warden, Envoy and upstream; checks what it prints
and that it leaves no process behind."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from harness.kustomize import REPO_ROOT

DEMO = REPO_ROOT / "scripts" / "demo.py"


@pytest.fixture(scope="module", params=["envoy", "nginx", "caddy", "envoy-http", "envoy-http2"])
def demo(request, warden_bin):
    """The tour through Envoy (gRPC ext_authz), and through each HTTP front door (`make demo FRONT=nginx`)."""
    result = subprocess.run([sys.executable, str(DEMO), "--front", request.param], capture_output=True, text=True, timeout=90,
                            env={**os.environ, "WARDEN_BIN": warden_bin})
    result.front = request.param
    return result


def _section(output: str, number: int) -> str:
    match = re.search(rf"^\[{number}\] .*?(?=^\[{number + 1}\] |^All requests|^Some requests)", output, re.M | re.S)
    assert match, f"no section [{number}] in:\n{output}"
    return match[0]


def test_demo_succeeds(demo):
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "All requests behaved as documented." in demo.stdout


@pytest.mark.parametrize("number, title, status, lines", [
    (1, "no token", 403, ["reason:   RBAC: access denied", "upstream received: nothing"]),
    (2, "valid token", 200, ["      x-jwt-sub: alice", "      x-jwt-scope: orders:read",
                             "(no authorization header: Warden stripped the token)"]),
    (3, "expired token", 401, ["reason:   Jwt is expired", 'www-authenticate: Bearer realm="',
                               'error="invalid_token"', "upstream received: nothing"]),
    (4, "POST without the orders:write scope", 403, ["reason:   RBAC: access denied"]),
    (5, "POST with the orders:write scope", 200, ["      x-jwt-scope: orders:read orders:write"]),
    (6, "spoofed x-jwt-sub", 200, ["-H 'x-jwt-sub: admin'", "      x-jwt-sub: alice"]),
])
def test_demo_prints_status_reason_and_upstream_headers(demo, number, title, status, lines):
    section = _section(demo.stdout, number)
    assert section.splitlines()[0].startswith(f"[{number}] {title}")
    assert f"    status:   {status}\n" in section
    for line in lines:
        assert line in section, f"{line!r} not in:\n{section}"
    if number == 6:
        assert "x-jwt-sub: admin\n" not in section.split("upstream received:")[1]


def test_demo_prints_a_trace_tree(demo):
    """One request's trace as the collector got it: Envoy's request span, its ext_authz call, Warden's span.
    Through the HTTP front doors there is no tracer in front (deploy/nginx, deploy/caddy and envoy-http.yaml have
    none): no tree is printed."""
    if demo.front != "envoy":
        assert "Trace of GET /orders" not in demo.stdout
        return
    tree = demo.stdout.split("Trace of GET /orders")[1].split("All requests")[0]
    lines = [line.strip() for line in tree.splitlines() if line.strip()]
    assert re.fullmatch(r"trace [0-9a-f]{32}", lines[1]), lines
    assert re.match(r"└─ \S+ \[envoy, SERVER\]", lines[2]), lines
    assert re.match(r"└─ async envoy.service.auth.v3.Authorization.Check egress \[envoy, CLIENT\]", lines[3]), lines
    assert re.match(r"└─ warden.check \[warden, SERVER\] [\d.]+ ms  decision=allow status=200 reason_code=allowed", lines[4]), lines


def test_demo_ends_with_what_to_try_next(demo):
    tail = demo.stdout.split("What to try next:")[1]
    for hint in ("make run", "mint-token.py", "deploy/envoy/envoy.yaml", "deploy/kubernetes/overlays/sidecar",
                 "deploy/istio/", "deploy/README.md"):
        assert hint in tail


def test_demo_leaves_no_process_and_no_files_behind(demo):
    work = re.search(r"^work dir\s+(\S+)", demo.stdout, re.M)[1]
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, timeout=10).stdout
    assert work not in ps
    assert not os.path.exists(work)


def test_demo_shows_one_exchanged_request(demo):
    """Issue 18: the tour ends with a request whose token is exchanged (RFC 8693) for the upstream's audience."""
    part = demo.stdout.split("Token exchange (RFC 8693) for GET /payments")[1]
    assert "the upstream got a new token: aud 'payments-api', sub 'alice', act {'sub': 'warden'}" in part
