"""The documented decisions of the orders-API example policies (deploy/kubernetes/base/policies and
deploy/istio/warden-policies), checked through a real Envoy in front of Warden. deploy/README.md shows the
same table: keep them in step."""
from __future__ import annotations

from dataclasses import dataclass, field

from . import httpclient
from .tokens import Minter

ISSUER = "https://idp.example.com"
AUDIENCE = "orders-api"


@dataclass
class Case:
    name: str
    method: str
    path: str
    token: str | None  # a Minter scenario: "read", "write", "expired", "wrong-aud", "other-issuer", "admin", …
    status: int
    body: str | None = None  # expected response body (Warden's reason) for denials
    headers: dict[str, str] = field(default_factory=dict)  # extra request headers
    upstream_headers: dict[str, str] = field(default_factory=dict)  # headers the app must see
    challenge: bool = False  # a token failure: WWW-Authenticate: Bearer realm="…", error="invalid_token"


COMMON = [
    Case("health needs no token", "GET", "/healthz", None, 200),
    Case("no token", "GET", "/orders", None, 403, "RBAC: access denied"),
    Case("valid token reads", "GET", "/orders", "read", 200,
         upstream_headers={"x-jwt-sub": "alice", "x-jwt-scope": "orders:read"}),
    Case("expired token", "GET", "/orders", "expired", 401, "Jwt is expired", challenge=True),
    # Envoy jwt_authn answers a wrong audience with 403 (every other token failure is a 401).
    Case("wrong audience", "GET", "/orders", "wrong-aud", 403, "Audiences in Jwt are not allowed", challenge=True),
    Case("unknown issuer", "GET", "/orders", "other-issuer", 401, "Jwt issuer is not configured", challenge=True),
    Case("write without scope", "POST", "/orders", "read", 403, "RBAC: access denied"),
    Case("write with scope", "POST", "/orders", "write", 200),
    Case("delete one with scope", "DELETE", "/orders/42", "write", 200),
    Case("write elsewhere", "POST", "/payments", "write", 403, "RBAC: access denied"),
    Case("spoofed subject header", "GET", "/orders", "read", 200, headers={"x-jwt-sub": "mallory"},
         upstream_headers={"x-jwt-sub": "alice"}),
]
ISTIO_EXTRA = [
    Case("admin path without group", "GET", "/admin/stats", "write", 403, "RBAC: access denied"),
    Case("admin path, other group", "GET", "/admin/stats", "dev", 403, "RBAC: access denied"),
    Case("admin path, admin group", "GET", "/admin/stats", "admin", 200),
]


def token_for(minter: Minter, scenario: str | None) -> str | None:
    if scenario is None:
        return None
    base = {"iss": ISSUER, "scope": "orders:read"}
    if scenario == "read":
        return minter.mint(**base)
    if scenario == "write":
        return minter.mint(**{**base, "scope": "orders:read orders:write"})
    if scenario == "expired":
        return minter.expired(**base)
    if scenario == "wrong-aud":
        return minter.mint(**{**base, "aud": "billing-api"})
    if scenario == "other-issuer":
        return minter.mint(**{**base, "iss": "https://evil.example.com"})
    if scenario in ("admin", "dev"):
        return minter.mint(**{**base, "groups": [scenario]})
    raise ValueError(scenario)


def check(case: Case, base_url: str, minter: Minter, upstream) -> None:
    """Sends the case's request through Envoy and asserts what the client and the app saw."""
    headers = dict(case.headers)
    token = token_for(minter, case.token)
    if token:
        headers["authorization"] = f"Bearer {token}"
    upstream.clear()
    response = httpclient.request(case.method, base_url + case.path, headers=headers)
    assert response.status == case.status, f"{case.name}: {response.status} {response.text!r}"
    if case.status == 200:
        seen = upstream.last()
        assert "authorization" not in seen["headers"], f"{case.name}: the token reached the app"
        for name, value in case.upstream_headers.items():
            values = [v for n, v in seen["header_list"] if n == name]
            assert values == [value], f"{case.name}: app saw {name}={values}"
        return
    assert upstream.count() == 0, f"{case.name}: a denied request reached the app"
    if case.body is not None:
        assert response.text == case.body, f"{case.name}: body {response.text!r}"
    challenge = response.headers.get("www-authenticate", "")
    if case.challenge:
        assert challenge.startswith('Bearer realm="') and challenge.endswith(', error="invalid_token"'), challenge
    else:
        assert not challenge, f"{case.name}: a policy denial carries no challenge: {challenge}"
