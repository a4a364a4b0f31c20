"""Byte-wise string matching through a real Envoy (issue 14), differentially (harness/oracle.py): one Envoy
asks Warden, the other runs Envoy's own jwt_authn + RBAC configured as istiod compiles the same resources.
Envoy compares bytes; Swift's `String` compares Unicode canonical equivalence and grapheme clusters, so
`café` precomposed equalled `cafe\u0301` and `/admin/*` missed `/admin/\u0301x` (the combining mark joins the
`/`). Raw UTF-8 goes into header values and token claims (Envoy refuses it in the request line); every answer
must be Envoy's.
"""
from __future__ import annotations

import json
import socket

import pytest
import yaml

from harness.idp import IdP
from harness.oracle import envoy_pair, istiod_jwt_authn
from harness.tokens import Minter

NFC = "caf\u00e9"      # café, precomposed
NFD = "cafe\u0301"     # café, decomposed: canonically equivalent, other bytes
MARK = "\u0301"        # COMBINING ACUTE ACCENT
JWT_FILTER = "envoy.filters.http.jwt_authn"


def _md(path: list[str], value: dict) -> dict:
    return {"metadata": {"filter": JWT_FILTER, "path": [{"key": k} for k in ["payload", *path]], "value": value}}


def _claim(path: list[str], string_match: dict) -> dict:
    """istiod's claim matcher: the claim is a list holding a match, or a matching string."""
    value = {"string_match": string_match}
    return _md(path, {"or_match": {"value_matchers": [{"list_match": {"one_of": value}}, value]}})


def _inline(name: str, literal: str) -> dict:
    return {"header": {"name": name, "safe_regex_match": {"regex": f"^{literal}$|^{literal},.*|.*,{literal},.*|.*,{literal}$"}}}


def _rules(iss: str) -> list[tuple[dict, dict]]:
    """(Istio DENY rule without its path, oracle principal) — rule i applies under `/r<i>/`."""
    return [
        ({}, {"any": True}),                                                                    # path only
        ({"when": [{"key": "request.headers[x-name]", "values": [NFC]}]},
         {"header": {"name": "x-name", "string_match": {"exact": NFC}}}),
        ({"when": [{"key": "request.headers[x-role]", "values": ["admin*"]}]},
         {"header": {"name": "x-role", "string_match": {"prefix": "admin"}}}),
        ({"when": [{"key": "request.experimental.inline.headers[x-role]", "values": ["admin"]}]},
         _inline("x-role", "admin")),
        ({"when": [{"key": "request.auth.claims[group]", "values": [NFC]}]}, _claim(["group"], {"exact": NFC})),
        ({"from": [{"source": {"requestPrincipals": [f"{iss}/{NFC}"]}}]},
         {"and_ids": {"ids": [_md(["iss"], {"string_match": {"exact": iss}}), _md(["sub"], {"string_match": {"exact": NFC}})]}}),
        ({"when": [{"key": "request.auth.claims[scope]", "values": ["read"]}]}, _claim(["scope"], {"exact": "read"})),
    ]


def _warden_policies(idp: IdP, iss: str) -> dict[str, str]:
    rules = []
    for i, (rule, _) in enumerate(_rules(iss)):
        rule = dict(rule)
        rule["to"] = [{"operation": {"paths": [f"/r{i}/*"]}}]
        rules.append(rule)
    ra = {"apiVersion": "security.istio.io/v1", "kind": "RequestAuthentication",
          "metadata": {"name": "jwt", "namespace": "default"},
          "spec": {"jwtRules": [{"issuer": iss, "jwks": json.dumps(idp.jwks())}]}}
    deny = {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": {"name": "deny", "namespace": "default"}, "spec": {"action": "DENY", "rules": rules}}
    return {"p.yaml": yaml.safe_dump_all([ra, deny], sort_keys=False, allow_unicode=True)}


def _oracle_filters(idp: IdP, iss: str) -> list[dict]:
    jwt = istiod_jwt_authn([{"issuer": iss, "payload_in_metadata": "payload",
                             "normalize_payload_in_metadata": {"space_delimited_claims": ["scope", "permission"]},
                             "local_jwks": {"inline_string": json.dumps(idp.jwks())}}])
    policies = {f"ns[default]-policy[deny]-rule[{i}]": {
        "permissions": [{"url_path": {"path": {"prefix": f"/r{i}/"}}}], "principals": [principal]}
        for i, (_, principal) in enumerate(_rules(iss))}
    rbac = {"name": "envoy.filters.http.rbac", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
        "rules": {"action": "DENY", "policies": policies}}}
    return [jwt, rbac]


@pytest.fixture(scope="module")
def idp():
    i = IdP()
    yield i
    i.close()


@pytest.fixture(scope="module")
def iss(idp) -> str:
    """An issuer with a precomposed é: a token naming the decomposed spelling is from another issuer."""
    return f"{idp.issuer}/{NFC}"


@pytest.fixture(scope="module")
def pair(idp, iss, upstream, warden_bin, make_envoy, tmp_path_factory):
    with envoy_pair(policies=_warden_policies(idp, iss), oracle_filters=_oracle_filters(idp, iss),
                    base=tmp_path_factory.mktemp("bytewise-oracle"), warden_bin=warden_bin, upstream=upstream,
                    make_envoy=make_envoy) as envoys:
        yield envoys


def _raw(envoy, target: str, headers: dict[str, str]) -> tuple[int, str]:
    """One HTTP/1.1 request with the target and header values sent as raw UTF-8; (status, body)."""
    lines = [f"GET {target} HTTP/1.1".encode(), b"host: example.com"]
    lines += [f"{k}: {v}".encode() for k, v in headers.items()]
    with socket.create_connection(("127.0.0.1", envoy.port), timeout=5) as s:
        s.sendall(b"\r\n".join(lines) + b"\r\nconnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body.decode(errors="replace") if status != 200 else ""


def _bearer(**claims):
    """Headers carrying a token from the configured issuer with `claims` (made per test: Minter, issuer)."""
    return lambda m, iss: {"authorization": f"Bearer {m.mint(iss=iss, **claims)}"}


# (id, target, headers (or a factory of them), the status both must give)
CASES = [
    # Envoy refuses raw UTF-8 in the request target (400) before any filter runs, and leaves `%CC%81` encoded
    # (normalize_path decodes unreserved characters only): paths and query parameters are byte-tested in
    # BytewiseMatchingTests / BytewiseCarrierTests instead.
    ("raw-utf8-path-refused-by-envoy", f"/r0/{MARK}x", {}, 400),
    ("raw-utf8-query-refused-by-envoy", f"/r9/x?access_token={MARK}abc", {}, 400),
    ("path-prefix-plain", "/r0/x", {}, 403),
    # header values: NFC does not match NFD, a prefix covers a following combining mark
    ("header-nfc", "/r1/x", {"x-name": NFC}, 403),
    ("header-nfd", "/r1/x", {"x-name": NFD}, 200),
    ("header-prefix-combining-mark", "/r2/x", {"x-role": f"admin{MARK}"}, 403),
    ("inline-header-comma-combining-mark", "/r3/x", {"x-role": f"user,admin,{MARK}x"}, 403),
    ("inline-header-nfd-element", "/r3/x", {"x-role": f"user,{NFD}"}, 200),
    # claims and principals
    ("claim-nfc", "/r4/x", _bearer(group=NFC), 403),
    ("claim-nfd", "/r4/x", _bearer(group=NFD), 200),
    ("principal-nfc", "/r5/x", _bearer(sub=NFC), 403),
    ("principal-nfd", "/r5/x", _bearer(sub=NFD), 200),
    ("scope-split-on-space-byte", "/r6/x", _bearer(scope=f"read {MARK}write"), 403),
    # the issuer is compared byte for byte: the NFD spelling is not configured
    ("issuer-nfd", "/r9/x", lambda m, iss: {"authorization": f"Bearer {m.mint(iss=iss.replace(NFC, NFD))}"}, 401),
    ("issuer-nfc", "/r9/x", _bearer(), 200),
]


@pytest.mark.parametrize("case_id", [c[0] for c in CASES])
def test_bytewise_matching_as_envoy(pair, idp, iss, case_id):
    _, target, headers, status = next(c for c in CASES if c[0] == case_id)
    if callable(headers):
        headers = headers(Minter(idp), iss)
    warden_view, oracle_view = (_raw(e, target, headers) for e in pair)
    assert warden_view == oracle_view, f"\nwarden={warden_view}\nenvoy ={oracle_view}"
    assert warden_view[0] == status, warden_view
