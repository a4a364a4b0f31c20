"""The Envoy half of the rig, without Warden: Envoy starts from the template, proxies to the upstream where
ext_authz is disabled, and fails closed where the authorization server cannot be reached."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from harness import httpclient
from harness.envoy import Route
from harness.ports import LOCALHOST, free_port

ROUTES = [
    Route(path="/healthz", ext_authz=False),
    Route(prefix="/tenant", context_extensions={"tenant": "acme"}),
    Route(prefix="/"),
]


@pytest.fixture(scope="module")
def dead_port() -> int:
    """A port nothing listens on (connection refused)."""
    return free_port()


@pytest.fixture(scope="module")
def envoy(make_envoy, upstream, dead_port):
    """One Envoy for the module: ext_authz → a port where nothing listens."""
    return make_envoy(upstream_port=upstream.port, warden_port=dead_port, routes=ROUTES)


class BlackHole:
    """Accepts TCP connections and never answers: an authorization server that hangs."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind((LOCALHOST, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
                self.conns.append(conn)
            except OSError:
                continue

    def close(self):
        self._stop = True
        for c in self.conns:
            c.close()
        self.sock.close()


def test_envoy_is_live_and_listener_bound(envoy):
    assert envoy.admin_get("/ready").strip() == "LIVE"
    assert envoy.port > 0 and envoy.port != envoy.admin_port


def test_route_with_ext_authz_disabled_reaches_upstream(envoy, upstream):
    upstream.clear()
    response = httpclient.get(envoy.url("/healthz?probe=1"), headers={"x-probe": "yes"})
    assert response.status == 200
    echo = response.json()
    assert echo["method"] == "GET"
    assert echo["path"] == "/healthz?probe=1"
    assert echo["headers"]["x-probe"] == "yes"
    assert echo["headers"]["x-forwarded-proto"] == "http"
    assert "x-request-id" in echo["headers"]
    assert upstream.count() == 1


@pytest.mark.parametrize("method,path", [("GET", "/"), ("POST", "/orders"), ("GET", "/tenant/x"),
                                          ("GET", "/healthz/extra")])
def test_fails_closed_when_authorization_server_is_down(envoy, upstream, method, path):
    """failure_mode_allow: false and no status_on_error: Envoy 1.40 answers 403 with an empty body
    (content-length 0, no content-type) and never calls the upstream."""
    upstream.clear()
    before = envoy.stats("http.ingress.ext_authz.").get("http.ingress.ext_authz.error", 0)
    response = httpclient.request(method, envoy.url(path), body=b"x" if method == "POST" else None)
    assert response.status == 403
    assert response.body == b""
    assert response.headers["content-length"] == "0"
    assert "content-type" not in response.headers
    assert response.headers["server"] == "envoy"
    assert upstream.count() == 0
    assert envoy.stats("http.ingress.ext_authz.")["http.ingress.ext_authz.error"] == before + 1


def test_hanging_authorization_server_times_out_closed(make_envoy, upstream):
    """A server that accepts but never answers: after the 1s ext_authz timeout Envoy answers 403."""
    hole = BlackHole()
    try:
        envoy = make_envoy(upstream_port=upstream.port, warden_port=hole.port, routes=ROUTES)
        upstream.clear()
        started = time.monotonic()
        response = httpclient.get(envoy.url("/slow"), timeout=10)
        elapsed = time.monotonic() - started
        assert response.status == 403
        assert response.body == b""
        assert 0.9 <= elapsed < 5
        assert upstream.count() == 0
        assert httpclient.get(envoy.url("/healthz")).status == 200
    finally:
        hole.close()


def test_status_on_error_is_configurable(make_envoy, upstream, dead_port):
    envoy = make_envoy(upstream_port=upstream.port, warden_port=dead_port, routes=ROUTES, status_on_error=503)
    response = httpclient.get(envoy.url("/"))
    assert response.status == 503
    assert response.body == b""
