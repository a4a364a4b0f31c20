"""Token carriers through a real Envoy (issue 14): a token in a second `Cookie` line is found and verified,
never passed through unverified; one location with two different tokens is a 401 `Found multiple Jwt
tokens` (the application might read the other one). Needs WARDEN_BIN."""
from __future__ import annotations

import pytest

from harness.tokens import Minter
from harness.warden import Warden, write_policy_dir
from test_bad_input import _raw_http

MULTIPLE = b"Found multiple Jwt tokens"


@pytest.fixture(scope="module")
def carrier_warden(warden_bin, module_idp, tmp_path_factory):
    base = tmp_path_factory.mktemp("carriers")
    policies = {
        "ra.yaml": f"""
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: jwt, namespace: default}}
spec:
  jwtRules:
  - issuer: {module_idp.issuer}
    jwksUri: {module_idp.jwks_uri}
    fromHeaders: [{{name: authorization, prefix: "Bearer "}}]
    fromParams: [access_token]
    fromCookies: [session]
""",
        "authz.yaml": """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: require-jwt, namespace: default}
spec:
  action: ALLOW
  rules:
  - from: [{source: {requestPrincipals: ["*"]}}]
""",
    }
    w = Warden(write_policy_dir(base / "policies", policies), binary=warden_bin, work_dir=base)
    yield w
    w.stop()
    w.process.unregister()


@pytest.fixture(scope="module")
def carrier_envoy(make_envoy, upstream, carrier_warden):
    return make_envoy(upstream_port=upstream.port, warden_port=carrier_warden.port)


@pytest.fixture(scope="module")
def mint(module_idp) -> Minter:
    return Minter(module_idp)


def test_envoy_cookie_carriers(carrier_envoy, upstream, mint):
    good, other = mint.mint(), mint.mint(sub="mallory")
    host = b"host: example.com"
    # A token in the second Cookie line is verified (allowed with its principal; no principal would be 403).
    status, body = _raw_http(carrier_envoy, [b"GET /data HTTP/1.1", host, b"cookie: theme=dark", f"cookie: session={good}".encode()])
    assert status == 200, body
    # An invalid token there is a 401, never passed through.
    upstream.clear()
    status, _ = _raw_http(carrier_envoy, [b"GET /data HTTP/1.1", host, b"cookie: theme=dark", b"cookie: session=not.a.jwt"])
    assert status == 401 and upstream.count() == 0
    # Two different tokens under one cookie name: ambiguous, 401.
    status, body = _raw_http(carrier_envoy, [b"GET /data HTTP/1.1", host, f"cookie: session={good}; session={other}".encode()])
    assert status == 401 and body == MULTIPLE
    status, body = _raw_http(carrier_envoy, [b"GET /data HTTP/1.1", host, f"cookie: session={good}".encode(), f"cookie: session={other}".encode()])
    assert status == 401 and body == MULTIPLE
    assert upstream.count() == 0


@pytest.mark.parametrize("query, status", [("access_token={a}&access_token={b}", 401), ("access_token={a}&access_token={a}", 200)],
                         ids=["two-different", "same-twice"])
def test_envoy_repeated_query_token(carrier_envoy, mint, query, status):
    a, b = mint.mint(), mint.mint(sub="mallory")
    got, body = _raw_http(carrier_envoy, [f"GET /data?{query.format(a=a, b=b)} HTTP/1.1".encode(), b"host: example.com"])
    assert got == status, body
    if status == 401:
        assert body == MULTIPLE
