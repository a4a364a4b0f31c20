"""Warden's HTTP front door spoken to directly (no proxy): endpoints by path, size bounds, malformed
requests, keep-alive, a check that waits for cold keys, and the drain on SIGTERM."""
from __future__ import annotations

import http.client
import socket
import threading
import time

from harness import httpclient
from harness.ports import LOCALHOST, wait_until
from harness.tokens import Minter
from harness.warden import write_policy_dir

FORWARDED = {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/orders", "X-Forwarded-Host": "shop.example"}


def _jwt_policies(idp) -> dict[str, str]:
    return {"jwt.yaml": f"""\
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: idp, namespace: default}}
spec:
  jwtRules:
  - issuer: "{idp.issuer}"
    jwksUri: "{idp.jwks_uri}"
    audiences: [warden-test]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: require-jwt, namespace: default}}
spec:
  rules:
  - from: [{{source: {{requestPrincipals: ["*"]}}}}]
"""}


def test_endpoints_are_chosen_by_path(make_warden):
    w = make_warden(http=True)
    assert httpclient.get(w.http_url + "/forward-auth", headers=FORWARDED).status == 200
    assert httpclient.get(w.http_url + "/envoy/orders", headers={"Host": "shop.example"}).status == 200
    r = httpclient.get(w.http_url + "/orders", headers=FORWARDED)
    assert r.status == 404
    assert "x-forwarded-uri" not in r.text.lower()


def test_malformed_and_oversized_requests_are_not_checked(make_warden):
    w = make_warden(http=True, extra_args=["--http-max-header-bytes", "8192"])
    r = httpclient.get(w.http_url + "/forward-auth", headers={**FORWARDED, "X-Forwarded-Uri": "/a%2Fb"})
    assert r.status == 400 and "escaped slash" in r.text
    r = httpclient.get(w.http_url + "/forward-auth", headers={"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/"})
    assert r.status == 400 and "x-forwarded-host" in r.text
    r = httpclient.get(w.http_url + "/forward-auth", headers={**FORWARDED, "X-Big": "a" * 16384})
    assert r.status == 431
    _, metrics = w.admin_status("/metrics")
    assert "warden_invalid_requests_total 2" in metrics
    assert 'warden_front_door_checks_total{front_door="forward_auth",decision="allowed"}' not in metrics


def test_keep_alive_serves_many_checks_on_one_connection(make_warden):
    w = make_warden(http=True)
    conn = http.client.HTTPConnection(LOCALHOST, w.http_port, timeout=5)
    try:
        for _ in range(20):
            conn.request("GET", "/forward-auth", headers=FORWARDED)
            response = conn.getresponse()
            response.read()
            assert response.status == 200
        local = conn.sock.getsockname()
        conn.request("GET", "/forward-auth", headers=FORWARDED)
        conn.getresponse().read()
        assert conn.sock.getsockname() == local
    finally:
        conn.close()


def test_a_check_waiting_for_cold_keys_is_answered_later(make_warden, idp, tmp_path):
    """The IdP answers its first JWKS fetch after 1 s: the check waits (its connection suspended, no
    thread held), other checks are answered meanwhile, then it is allowed."""
    idp.delay = 1.0
    w = make_warden(write_policy_dir(tmp_path / "p", _jwt_policies(idp)), http=True, wait_ready=False,
                    extra_args=["--default-deadline", "3s", "--threads", "1"])
    wait_until(lambda: _accepts(w.http_port), 10, what="front door listening")
    token = Minter(idp).mint()
    results = {}

    def slow():
        results["slow"] = httpclient.get(w.http_url + "/forward-auth", headers={**FORWARDED, "Authorization": f"Bearer {token}"})
    t = threading.Thread(target=slow)
    started = time.monotonic()
    t.start()
    time.sleep(0.1)
    fast = httpclient.get(w.http_url + "/forward-auth", headers=FORWARDED)  # no token: denied at once
    assert fast.status == 403
    assert t.is_alive(), "the waiting check blocks nothing on the one polling thread"
    t.join(timeout=5)
    assert results["slow"].status == 200, results["slow"].text
    assert time.monotonic() - started >= 0.3


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((LOCALHOST, port)) == 0


def test_drain_keeps_answering_then_closes(make_warden):
    w = make_warden(http=True, extra_args=["--drain-delay", "1.5"])
    assert httpclient.get(w.http_url + "/forward-auth", headers=FORWARDED).status == 200
    w.terminate()
    time.sleep(0.5)
    assert w.admin_status("/readyz")[0] == 503
    assert httpclient.get(w.http_url + "/forward-auth", headers=FORWARDED).status == 200  # still deciding
    assert w.wait(timeout=15) == 0
    with socket.socket() as s:
        assert s.connect_ex((LOCALHOST, w.http_port)) != 0
