"""End to end: client → real Envoy (ext_authz) → Warden → echo upstream (needs WARDEN_BIN)."""
from __future__ import annotations

import pytest

from harness import httpclient
from harness.envoy import Route

ROUTES = [
    Route(path="/healthz", ext_authz=False),
    Route(prefix="/tenant", context_extensions={"tenant": "acme"}),
    Route(prefix="/"),
]


@pytest.fixture(scope="module")
def envoy(make_envoy, upstream, warden):
    return make_envoy(upstream_port=upstream.port, warden_port=warden.port, routes=ROUTES)


@pytest.mark.parametrize("method,path", [("GET", "/"), ("GET", "/orders?id=7"), ("POST", "/orders"),
                                          ("GET", "/tenant/42")])
def test_request_is_authorized_through_warden(envoy, upstream, method, path):
    upstream.clear()
    response = httpclient.request(method, envoy.url(path), headers={"x-client": "e2e"},
                                  body=b"{}" if method == "POST" else None)
    assert response.status == 200, response.text
    echo = response.json()
    assert echo["method"] == method
    assert echo["path"] == path
    assert echo["headers"]["x-warden-decision"] == "allow"
    assert echo["headers"]["x-client"] == "e2e"
    assert upstream.count() == 1
    assert envoy.stats("http.ingress.ext_authz.").get("http.ingress.ext_authz.ok", 0) >= 1


def test_route_with_ext_authz_disabled_skips_warden(envoy, upstream):
    upstream.clear()
    response = httpclient.get(envoy.url("/healthz"))
    assert response.status == 200
    assert "x-warden-decision" not in response.json()["headers"]


def test_envoy_fails_closed_when_warden_stops(make_envoy, make_warden, upstream):
    w = make_warden()
    envoy = make_envoy(upstream_port=upstream.port, warden_port=w.port, routes=ROUTES)
    assert httpclient.get(envoy.url("/before")).status == 200
    assert w.stop() == 0
    upstream.clear()
    response = httpclient.get(envoy.url("/after"))
    assert response.status == 403
    assert response.body == b""
    assert upstream.count() == 0
