"""Several valid tokens from different rules, through a real Envoy (issue 14), beside Envoy's own jwt_authn +
RBAC configured as istiod compiles the same resources (harness/oracle.py).

Two rules, issuers `…/a` and `…/b`, in three layouts: `disjoint` (A reads `Authorization: Bearer`, B the
cookie `session`), `partial` (B reads both) and `shared` (both read both). A DENY policy names A's `alice`
under `/deny-a/` and B's `mallory` under `/deny-b/`. Each placement of tokens is sent in both orders (which
token is in the header, which in the cookie).

What Envoy does (istiod's requirement `any{P0, P1, all{any{P0, allow_missing}, any{P1, allow_missing}}}`, one
`payload` metadata key for every provider):
- a provider verifies every token at its own locations and fails on another issuer's, so with shared
  locations and a token of each issuer, every branch fails: 401 `Jwt issuer is not configured`;
- otherwise the first provider (by issuer) whose tokens verify ends the `any`: only its payload reaches RBAC,
  so a DENY on the other token's principal is skipped (200), and a token at a location only the other rule
  reads is never verified.

Warden answers as Envoy except where Envoy is not secure: it evaluates every verified identity (the skipped
DENY is a 403) and verifies every token present (a token of A in B's cookie is a 401), as listed in README
"Where Warden deliberately differs".
"""
from __future__ import annotations

import json

import pytest
import yaml

from harness.idp import IdP
from harness.oracle import envoy_pair, istiod_jwt_authn
from harness.tokens import Minter
from policy_support import send

JWT_FILTER = "envoy.filters.http.jwt_authn"
HEADER = {"fromHeaders": [{"name": "authorization", "prefix": "Bearer "}]}
COOKIE = {"fromCookies": ["session"]}
LAYOUTS = {
    "disjoint": (HEADER, COOKIE),
    "partial": (HEADER, HEADER | COOKIE),
    "shared": (HEADER | COOKIE, HEADER | COOKIE),
}
# (header token, cookie token): A = a/alice, B = b/mallory, Abob = a/bob; each pair also swapped
PLACEMENTS = [("A", None), (None, "B"), ("A", "B"), ("B", "A"), ("A", "Abob"), ("Abob", "A")]
PATHS = ["/deny-a/x", "/deny-b/x", "/other"]

# Envoy lets the request through with only the first verified provider's payload in RBAC's metadata: the DENY
# on the other token's principal is skipped. Warden evaluates every identity: 403.
DENY_SKIPPED_BY_ENVOY = {
    ("disjoint", "/deny-b/x", ("A", "B")), ("partial", "/deny-b/x", ("A", "B")),
    ("shared", "/deny-a/x", ("Abob", "A")),
}


def _unverified_by_envoy(layout: str, placement) -> bool:
    """A's token in the cookie that only B's rule reads: Envoy never verifies it (A's provider already
    passed); Warden verifies every token present and rejects A's issuer there (401)."""
    return layout in ("disjoint", "partial") and "Abob" in placement


def _md(path, value):
    return {"metadata": {"filter": JWT_FILTER, "path": [{"key": k} for k in ["payload", *path]], "value": value}}


def _principal(iss, sub):
    return {"and_ids": {"ids": [_md(["iss"], {"string_match": {"exact": iss}}), _md(["sub"], {"string_match": {"exact": sub}})]}}


def _envoy_locations(loc: dict) -> dict:
    out = {}
    if "fromHeaders" in loc:
        out["from_headers"] = [{"name": h["name"], "value_prefix": h["prefix"]} for h in loc["fromHeaders"]]
    if "fromCookies" in loc:
        out["from_cookies"] = loc["fromCookies"]
    return out


@pytest.fixture(scope="module")
def idp():
    i = IdP()
    yield i
    i.close()


def _issuers(idp):
    return f"{idp.issuer}/a", f"{idp.issuer}/b"


def _warden_policies(idp, layout):
    a, b = _issuers(idp)
    la, lb = LAYOUTS[layout]
    ra = {"apiVersion": "security.istio.io/v1", "kind": "RequestAuthentication",
          "metadata": {"name": "jwt", "namespace": "default"},
          "spec": {"jwtRules": [{"issuer": a, "jwks": json.dumps(idp.jwks()), **la},
                                {"issuer": b, "jwks": json.dumps(idp.jwks()), **lb}]}}
    deny = {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": {"name": "deny", "namespace": "default"},
            "spec": {"action": "DENY", "rules": [
                {"from": [{"source": {"requestPrincipals": [f"{a}/alice"]}}], "to": [{"operation": {"paths": ["/deny-a/*"]}}]},
                {"from": [{"source": {"requestPrincipals": [f"{b}/mallory"]}}], "to": [{"operation": {"paths": ["/deny-b/*"]}}]},
            ]}}
    # A JSON round trip unshares the layout dicts, which PyYAML would otherwise write as aliases.
    return {"p.yaml": yaml.safe_dump_all(json.loads(json.dumps([ra, deny])), sort_keys=False)}


def _oracle_filters(idp, layout):
    a, b = _issuers(idp)
    la, lb = LAYOUTS[layout]
    jwt = istiod_jwt_authn([{"issuer": iss, "payload_in_metadata": "payload",
                             "local_jwks": {"inline_string": json.dumps(idp.jwks())}, **_envoy_locations(loc)}
                            for iss, loc in ((a, la), (b, lb))])
    policies = {
        "ns[default]-policy[deny]-rule[0]": {"permissions": [{"url_path": {"path": {"prefix": "/deny-a/"}}}],
                                             "principals": [_principal(a, "alice")]},
        "ns[default]-policy[deny]-rule[1]": {"permissions": [{"url_path": {"path": {"prefix": "/deny-b/"}}}],
                                             "principals": [_principal(b, "mallory")]},
    }
    rbac = {"name": "envoy.filters.http.rbac", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
        "rules": {"action": "DENY", "policies": policies}}}
    return [jwt, rbac]


@pytest.fixture(scope="module", params=list(LAYOUTS))
def layout_pair(request, idp, upstream, warden_bin, make_envoy, tmp_path_factory):
    layout = request.param
    with envoy_pair(policies=_warden_policies(idp, layout), oracle_filters=_oracle_filters(idp, layout),
                    base=tmp_path_factory.mktemp(f"several-{layout}"), warden_bin=warden_bin, upstream=upstream,
                    make_envoy=make_envoy) as pair:
        yield layout, pair


@pytest.fixture(scope="module")
def tokens(idp):
    a, b = _issuers(idp)
    m = Minter(idp)
    return {"A": m.mint(iss=a, sub="alice"), "B": m.mint(iss=b, sub="mallory"), "Abob": m.mint(iss=a, sub="bob")}


def _view(result) -> tuple[int, str]:
    return result.status, result.text if result.status != 200 else ""


@pytest.mark.parametrize("placement", PLACEMENTS, ids=lambda p: f"{p[0] or '-'}-in-header+{p[1] or '-'}-in-cookie")
def test_several_tokens_as_envoy_or_stricter(layout_pair, tokens, placement):
    layout, pair = layout_pair
    in_header, in_cookie = placement
    headers = {}
    if in_header:
        headers["Authorization"] = f"Bearer {tokens[in_header]}"
    if in_cookie:
        headers["Cookie"] = f"session={tokens[in_cookie]}"
    for path in PATHS:
        warden_view, oracle_view = (_view(send(e.port, "GET", path, headers)) for e in pair)
        where = (layout, path, placement, f"warden={warden_view}", f"envoy={oracle_view}")
        if (layout, path, placement) in DENY_SKIPPED_BY_ENVOY:
            assert oracle_view[0] == 200, where
            assert warden_view == (403, "RBAC: access denied"), where
        elif _unverified_by_envoy(layout, placement):
            assert warden_view == (401, "Jwt issuer is not configured"), where
        else:
            assert warden_view == oracle_view, where
