"""`when` keys on `experimental.envoy.filters.*`, through the real Envoy, against Envoy's own RBAC.

Both Envoys run `header_to_metadata` first, which turns request headers into dynamic metadata under the
namespace `envoy.filters.http.header_to_metadata` (strings, numbers, and — as base64 protobuf Values —
lists). Then:

- "warden": ext_authz with `metadata_context_namespaces: [envoy.filters.http.header_to_metadata]` → Warden,
  loaded with a DENY and an ALLOW AuthorizationPolicy whose conditions read that metadata;
- "oracle": two RBAC filters (DENY, then ALLOW) holding what istiod compiles from the same conditions
  (`envoyFilterGenerator.extendedPermission` in pilot/pkg/security/authz/model/generator.go: filter = the
  key up to its first `[`, one path segment = the rest without the last `]`, values `or_match` of
  `string_match` / `list_match.one_of` for `[v]`, `notValues` as `not_rule`).

Where the namespace was sent, every answer must equal Envoy's. Where it was not (no metadata header, or
no `metadata_context_namespaces`), Warden cannot know the value and fails closed where Envoy's RBAC,
seeing an absent value, would not: a deliberate difference, asserted as such.
"""
from __future__ import annotations

import base64
import json

import pytest
import yaml
from google.protobuf import json_format, struct_pb2

from harness.oracle import envoy_pair, http_filters
from harness.envoy import render_config
from harness.ports import wait_until
from harness.warden import Warden, write_policy_dir
from policy_support import send

NS = "envoy.filters.http.header_to_metadata"
KEY = f"experimental.{NS}"


def _h2m_rule(header: str, key: str, kind: str = "STRING") -> dict:
    pair = {"metadata_namespace": NS, "key": key, "type": kind}
    if kind == "PROTOBUF_VALUE":
        pair["encode"] = "BASE64"
    return {"header": header, "on_header_present": pair, "remove": True}


HEADER_TO_METADATA = {
    "name": "envoy.filters.http.header_to_metadata",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.header_to_metadata.v3.Config",
        "request_rules": [
            _h2m_rule("x-md-role", "role"),
            _h2m_rule("x-md-groups", "groups", "PROTOBUF_VALUE"),
            _h2m_rule("x-md-table", "db.table", "PROTOBUF_VALUE"),
            _h2m_rule("x-md-ab", "a][b"),
            _h2m_rule("x-md-num", "num", "NUMBER"),
            _h2m_rule("x-md-other", "other"),
        ],
    },
}


def pb(value) -> str:
    """A JSON-like Python value as header_to_metadata's PROTOBUF_VALUE: a base64 serialized protobuf Value."""
    v = json_format.Parse(json.dumps(value), struct_pb2.Value())
    return base64.b64encode(v.SerializeToString()).decode()


# (field as written between the brackets, values, notValues) — one per `/d<i>/` (DENY) or `/a<i>/` (ALLOW).
DENY_CASES = [
    ("role", ["admin"], []),
    ("role", ["adm*"], []),
    ("groups", ["[admins]"], []),
    ("role", [], ["user"]),
    ("db.table", ["[update]"], []),
    ("a][b", ["x"], []),            # the key `…[a][b]`: one field `a][b`, as istiod splits it
    ("num", ["42"], []),            # a number never matches a string matcher
    ("role", ["*"], []),
    ("groups", ["admins"], []),     # a string matcher never matches a list
]
ALLOW_CASES = [
    ("role", ["admin"], []),
    ("groups", ["[admins]", "ops"], []),
    ("role", [], ["banned"]),
    ("groups", ["[*]"], []),
]

# Requests that make header_to_metadata write the namespace (at least one key).
SENT = [
    {"x-md-role": "admin"},
    {"x-md-role": "administrator"},
    {"x-md-role": "user"},
    {"x-md-role": "banned"},
    {"x-md-groups": pb(["users", "admins"])},
    {"x-md-groups": pb("admins")},
    {"x-md-groups": pb("ops")},
    {"x-md-role": "admin", "x-md-groups": pb(["ops"])},
    {"x-md-table": pb(["select", "update"])},
    {"x-md-table": pb("update")},
    {"x-md-ab": "x"},
    {"x-md-num": "42"},
    {"x-md-other": "1"},
]


def _condition(field: str, values: list[str], not_values: list[str]) -> dict:
    c: dict = {"key": f"{KEY}[{field}]"}
    if values:
        c["values"] = values
    if not_values:
        c["notValues"] = not_values
    return c


def _rules(cases, prefix: str) -> list[dict]:
    return [{"to": [{"operation": {"paths": [f"/{prefix}{i}/*"]}}], "when": [_condition(*c)]} for i, c in enumerate(cases)]


def _policies() -> dict[str, str]:
    deny = {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": {"name": "deny-md", "namespace": "default"},
            "spec": {"action": "DENY", "rules": _rules(DENY_CASES, "d")}}
    allow = {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
             "metadata": {"name": "allow-md", "namespace": "default"},
             "spec": {"rules": [{"to": [{"operation": {"paths": ["/d*"]}}]}, *_rules(ALLOW_CASES, "a")]}}
    return {"policies.yaml": yaml.safe_dump_all([deny, allow], sort_keys=False)}


def _istiod_string(v: str) -> dict:
    """matcher.StringMatcher: `*` → regex `.+`, `*x` suffix, `x*` prefix, else exact."""
    if v == "*":
        return {"safe_regex": {"regex": ".+"}}
    if v.startswith("*"):
        return {"suffix": v[1:]}
    if v.endswith("*"):
        return {"prefix": v[:-1]}
    return {"exact": v}


def _istiod_metadata(field: str, values: list[str]) -> dict:
    matchers = []
    for v in values:
        if v.startswith("[") and v.endswith("]"):
            matchers.append({"list_match": {"one_of": {"string_match": _istiod_string(v.strip("[]"))}}})
        else:
            matchers.append({"string_match": _istiod_string(v)})
    # matcher.OrMatcher: a single matcher stands alone (Envoy's or_match needs two or more).
    value = matchers[0] if len(matchers) == 1 else {"or_match": {"value_matchers": matchers}}
    return {"metadata": {"filter": NS, "path": [{"key": field}], "value": value}}


def _oracle_policies(cases, prefix: str) -> dict:
    out = {}
    for i, (field, values, not_values) in enumerate(cases):
        rules = [{"url_path": {"path": {"prefix": f"/{prefix}{i}/"}}}]
        if values:
            rules.append(_istiod_metadata(field, values))
        if not_values:
            rules.append({"not_rule": _istiod_metadata(field, not_values)})
        out[f"ns[default]-policy[{prefix}]-rule[{i}]"] = {"permissions": [{"and_rules": {"rules": rules}}],
                                                          "principals": [{"any": True}]}
    return out


def _oracle_filters() -> list[dict]:
    rbac = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
    allow = _oracle_policies(ALLOW_CASES, "a")
    allow["ns[default]-policy[allow-md]-rule[d]"] = {"permissions": [{"url_path": {"path": {"prefix": "/d"}}}],
                                                     "principals": [{"any": True}]}
    return [
        {"name": "envoy.filters.http.rbac.deny", "typed_config": {
            "@type": rbac, "rules": {"action": "DENY", "policies": _oracle_policies(DENY_CASES, "d")}}},
        {"name": "envoy.filters.http.rbac.allow", "typed_config": {
            "@type": rbac, "rules": {"action": "ALLOW", "policies": allow}}},
    ]


PATHS = [f"/d{i}/x" for i in range(len(DENY_CASES))] + [f"/a{i}/x" for i in range(len(ALLOW_CASES))]


@pytest.fixture(scope="module")
def pair(upstream, warden_bin, make_envoy, tmp_path_factory):
    with envoy_pair(policies=_policies(), oracle_filters=_oracle_filters(), base=tmp_path_factory.mktemp("md-oracle"),
                    warden_bin=warden_bin, upstream=upstream, make_envoy=make_envoy,
                    prefix_filters=[HEADER_TO_METADATA], ext_authz_config={"metadata_context_namespaces": [NS]}) as envoys:
        yield envoys


def _view(result) -> tuple:
    return (result.status, result.text if result.status != 200 else "")


@pytest.mark.parametrize("headers", SENT, ids=lambda h: ",".join(f"{k}={v}" for k, v in h.items()))
def test_same_decision_as_envoy_rbac_when_the_namespace_is_sent(pair, upstream, headers):
    answers = {}
    for path in PATHS:
        warden_view, oracle_view = (_view(send(e.port, "GET", path, headers, upstream=upstream)) for e in pair)
        assert warden_view == oracle_view, (path, headers)
        answers[path] = warden_view[0]
    assert set(answers.values()) <= {200, 403}


def test_the_oracle_sees_both_outcomes(pair, upstream):
    """The table is not vacuous: each case both matches and fails for some request — except the number,
    which no string matcher ever matches."""
    for path in PATHS:
        seen = {send(pair[1].port, "GET", path, h, upstream=upstream).status for h in SENT}
        assert seen == ({200} if path == "/d6/x" else {200, 403}), (path, seen)


def test_namespace_not_sent_fails_closed_where_envoy_rbac_would_not(pair, upstream):
    """No metadata header: header_to_metadata writes nothing, so the namespace is absent. Envoy's RBAC
    sees an unset value (values fail, notValues pass); Warden cannot know the value and fails closed:
    every DENY rule matches and no ALLOW rule does (an ALLOW `notValues` included)."""
    warden_envoy, oracle = pair
    for path in PATHS:
        assert send(warden_envoy.port, "GET", path, upstream=upstream).status == 403, path
    istio = {path: send(oracle.port, "GET", path, upstream=upstream).status for path in PATHS}
    # Envoy: only the `notValues` rules see the absent value as "not banned" (DENY d3 denies, ALLOW a2 allows).
    assert [p for p, s in istio.items() if s == 403] == ["/d3/x", "/a0/x", "/a1/x", "/a3/x"], istio


def test_without_metadata_context_namespaces_a_deny_fails_closed_and_says_why(upstream, warden_bin, make_envoy, tmp_path):
    """An Envoy whose ext_authz filter lists no metadata_context_namespaces sends no metadata at all: a DENY
    on it matches (even for a request the sent value would let through), and the decision log names the
    reason code and the namespace to configure."""
    w = Warden(write_policy_dir(tmp_path / "policies", _policies()), binary=warden_bin, work_dir=tmp_path / "warden",
               debug_headers=False)
    try:
        config = render_config(upstream_port=upstream.port, warden_port=w.port)
        http_filters(config)[:0] = [HEADER_TO_METADATA]
        envoy = make_envoy(config)
        r = send(envoy.port, "GET", "/d0/x", {"x-md-role": "user"}, upstream=upstream)
        assert (r.status, r.text, r.upstream) == (403, "RBAC: access denied", None)
        assert send(envoy.port, "GET", "/a0/x", {"x-md-role": "admin"}, upstream=upstream).status == 403

        def logged():
            lines = [json.loads(line) for line in w.log_text().splitlines()
                     if line.startswith("{") and '"msg":"decision"' in line]
            return next((line for line in lines if line.get("reason_code") == "policy_denied_metadata_not_sent"), None)

        line = wait_until(logged, 5, what="a policy_denied_metadata_not_sent decision line")
        assert f"metadata namespace {NS} not sent by Envoy" in line["reason"], line
        assert "metadata_context_namespaces" in line["reason"], line
    finally:
        w.stop()
        w.process.unregister()
