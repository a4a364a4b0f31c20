"""AuthorizationPolicy parity, differentially: every request goes to two Envoys sharing one upstream —

- "warden": Envoy ext_authz → Warden, loaded with one ALLOW AuthorizationPolicy (one rule per case, each
  scoped to the path prefix `/c<i>/`) and a RequestAuthentication with two issuers;
- "oracle": Envoy's own jwt_authn + RBAC filters, configured the way istiod compiles the same resources
  (pilot/pkg/security/authz/model/{model,generator}.go and matcher/: request principals split at the last
  "/" into `iss`/`sub` metadata matchers, claims as `or{list one_of, string}` metadata matchers on the
  jwt_authn payload, `request.experimental.inline.headers` as the comma-list regex, hosts as case-insensitive
  `:authority` matchers, `notValues` as `not_id`).

For each request the client-visible answer (status, body, content-type) must be identical: the
expectations are Envoy 1.40's own RBAC decisions and 403 reply, not a reading of the docs.
"""
from __future__ import annotations

import json

import pytest
import yaml

from harness.idp import IdP
from harness.tokens import Minter
from harness.oracle import envoy_pair, istiod_jwt_authn
from policy_support import send

JWT_FILTER = "envoy.filters.http.jwt_authn"
PAYLOAD = "payload"


def _md(path: list[str], value: dict) -> dict:
    return {"metadata": {"filter": JWT_FILTER, "path": [{"key": k} for k in [PAYLOAD, *path]], "value": value}}


def _claim(path: list[str], string_match: dict) -> dict:
    """istiod's MetadataListValueMatcherForJWTClaims: the claim is a list holding a match, or a matching string."""
    value = {"string_match": string_match}
    return _md(path, {"or_match": {"value_matchers": [{"list_match": {"one_of": value}}, value]}})


def _request_principal(iss: dict, sub: dict) -> dict:
    return {"and_ids": {"ids": [_md(["iss"], {"string_match": iss}), _md(["sub"], {"string_match": sub})]}}


ANY = {"safe_regex": {"regex": ".+"}}


def _inline_header(name: str, literal: str) -> dict:
    r = literal  # no regex metacharacters in the test values
    return {"header": {"name": name, "safe_regex_match": {"regex": f"^{r}$|^{r},.*|.*,{r},.*|.*,{r}$"}}}


def _cases(iss: str) -> list[tuple[dict, list[dict], list[dict]]]:
    """(Istio rule fragment, extra oracle permissions, oracle principal ids) — one per `/c<i>/` prefix."""
    return [
        ({"from": [{"source": {"requestPrincipals": [f"{iss}/*"]}}]}, [],
         [_request_principal({"exact": iss}, ANY)]),
        ({"from": [{"source": {"requestPrincipals": ["*"]}}]}, [], [_request_principal(ANY, ANY)]),
        ({"from": [{"source": {"notRequestPrincipals": [f"{iss}/alice"]}}]}, [],
         [{"not_id": _request_principal({"exact": iss}, {"exact": "alice"})}]),
        ({"when": [{"key": "request.auth.claims[groups]", "values": ["admins"]}]}, [],
         [_claim(["groups"], {"exact": "admins"})]),
        ({"when": [{"key": "request.auth.claims[org][tenant]", "values": ["acme"]}]}, [],
         [_claim(["org", "tenant"], {"exact": "acme"})]),
        ({"when": [{"key": "request.auth.claims[scope]", "values": ["orders:write"]}]}, [],
         [_claim(["scope"], {"exact": "orders:write"})]),
        ({"when": [{"key": "request.auth.claims[groups]", "notValues": ["banned"]}]}, [],
         [{"not_id": _claim(["groups"], {"exact": "banned"})}]),
        ({"when": [{"key": "request.experimental.inline.headers[x-role]", "values": ["admin"]}]}, [],
         [_inline_header("x-role", "admin")]),
        ({"when": [{"key": "request.headers[x-role]", "values": ["admin"]}]}, [],
         [{"header": {"name": "x-role", "string_match": {"exact": "admin"}}}]),
        ({"to": [{"operation": {"hosts": ["API.Example.com"]}}]},
         [{"header": {"name": ":authority", "string_match": {"exact": "API.Example.com", "ignore_case": True}}}],
         [{"any": True}]),
        ({"when": [{"key": "request.auth.principal", "values": [f"{iss}/al*"]}]}, [],
         [_request_principal({"exact": iss}, {"prefix": "al"})]),
        ({"when": [{"key": "request.auth.audiences", "values": ["warden-test"]}]}, [],
         [_claim(["aud"], {"exact": "warden-test"})]),
        ({"when": [{"key": "request.auth.presenter", "values": ["web-*"]}]}, [],
         [_claim(["azp"], {"prefix": "web-"})]),
    ]


def _warden_policies(idp: IdP, cases) -> dict[str, str]:
    rules = []
    for i, (rule, _, _) in enumerate(cases):
        rule = json.loads(json.dumps(rule))
        prefix = {"paths": [f"/c{i}/*"]}
        if "to" in rule:
            rule["to"][0]["operation"].update(prefix)
        else:
            rule["to"] = [{"operation": prefix}]
        rules.append(rule)
    ra = {"apiVersion": "security.istio.io/v1", "kind": "RequestAuthentication",
          "metadata": {"name": "jwt", "namespace": "default"},
          "spec": {"jwtRules": [{"issuer": iss, "jwksUri": idp.jwks_uri, "audiences": ["warden-test"]}
                                for iss in (idp.issuer, f"{idp.issuer}/tenant")]}}
    ap = {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
          "metadata": {"name": "oracle", "namespace": "default"}, "spec": {"rules": rules}}
    return {"policies.yaml": yaml.safe_dump_all([ra, ap], sort_keys=False)}


def _oracle_filters(idp: IdP, cases) -> list[dict]:
    issuers = [idp.issuer, f"{idp.issuer}/tenant"]
    jwt = istiod_jwt_authn([{"issuer": iss, "audiences": ["warden-test"], "payload_in_metadata": PAYLOAD,
                             "normalize_payload_in_metadata": {"space_delimited_claims": ["scope", "permission"]},
                             "local_jwks": {"inline_string": json.dumps(idp.jwks())}} for iss in issuers])
    policies = {}
    for i, (_, permissions, principals) in enumerate(cases):
        path = {"url_path": {"path": {"prefix": f"/c{i}/"}}}
        policies[f"ns[default]-policy[oracle]-rule[{i}]"] = {
            "permissions": [{"and_rules": {"rules": [*permissions, path]}}],
            "principals": [{"and_ids": {"ids": principals}}]}
    rbac = {"name": "envoy.filters.http.rbac", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
        "rules": {"action": "ALLOW", "policies": policies}}}
    return [jwt, rbac]


@pytest.fixture(scope="module")
def idp():
    i = IdP()
    yield i
    i.close()


@pytest.fixture(scope="module")
def cases(idp):
    return _cases(idp.issuer)


@pytest.fixture(scope="module")
def pair(idp, cases, upstream, warden_bin, make_envoy, tmp_path_factory):
    with envoy_pair(policies=_warden_policies(idp, cases), oracle_filters=_oracle_filters(idp, cases),
                    base=tmp_path_factory.mktemp("rbac-oracle"), warden_bin=warden_bin, upstream=upstream,
                    make_envoy=make_envoy) as envoys:
        yield envoys


@pytest.fixture(scope="module")
def toks(idp):
    m = Minter(idp)
    return {
        "none": None,
        "alice": m.mint(groups=["users", "admins"], org={"tenant": "acme"}, scope="orders:read orders:write",
                        azp="web-app"),
        "bob": m.mint(sub="bob", groups="admins", org={"tenant": "globex"}, scope="orders:read", azp="cli"),
        "tenant": m.mint(iss=f"{idp.issuer}/tenant"),
        "nosub": m.mint(sub=None, groups=["banned"]),
        "subpath": m.mint(sub="team/alice"),
    }


def _view(result) -> tuple:
    return (result.status, result.text if result.status != 200 else "",
            result.headers.get("content-type") if result.status != 200 else None)


def _both(pair, upstream, target, headers=None, token=None, host=None):
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return tuple(_view(send(e.port, "GET", target, headers, host=host, upstream=upstream)) for e in pair)


@pytest.mark.parametrize("token", ["none", "alice", "bob", "tenant", "nosub", "subpath"])
def test_same_decision_as_envoy_rbac_for_every_case(pair, upstream, cases, toks, token):
    answers = {}
    for i in range(len(cases)):
        warden_view, oracle_view = _both(pair, upstream, f"/c{i}/x", token=toks[token])
        answers[i] = warden_view[0]
        assert warden_view == oracle_view, (i, cases[i][0], token)
    assert set(answers.values()) <= {200, 403}


@pytest.mark.parametrize("value", [None, "admin", "user,admin", "user, admin", "admins", "user,admin,ops"])
def test_header_conditions_as_envoy_rbac(pair, upstream, value):
    headers = {"x-role": value} if value is not None else {}
    for i in (7, 8):
        warden_view, oracle_view = _both(pair, upstream, f"/c{i}/x", headers=headers)
        assert warden_view == oracle_view, (i, value)


def test_repeated_headers_as_envoy_rbac(pair, upstream):
    for i in (7, 8):
        warden_view, oracle_view = _both(pair, upstream, f"/c{i}/x", headers=[("x-role", "user"), ("x-role", "admin")])
        assert warden_view == oracle_view, i


@pytest.mark.parametrize("host", ["api.example.com", "API.EXAMPLE.COM", "api.example.com:8080", "web.example.com"])
def test_hosts_as_envoy_rbac(pair, upstream, host):
    warden_view, oracle_view = _both(pair, upstream, "/c9/x", host=host)
    assert warden_view == oracle_view, host


def test_denial_reply_is_envoy_rbacs(pair, upstream):
    """The 403 a client sees: `RBAC: access denied`, text/plain, as Envoy's RBAC filter sends it."""
    warden_envoy, oracle = pair
    got = [send(e.port, "GET", "/c1/x", upstream=upstream) for e in pair]
    for r in got:
        assert r.status == 403 and r.text == "RBAC: access denied" and r.upstream is None, r
    names = [sorted(set(r.headers) - {"date"}) for r in got]
    assert names[0] == names[1], names
    for h in ("content-type", "content-length"):
        assert got[0].headers.get(h) == got[1].headers.get(h), h
