"""Istio API v1.31 additions, differentially through real Envoy (see test_policy_jwt_oracle.py for the
method): one Envoy asks Warden through ext_authz, the other runs Envoy's own jwt_authn / RBAC filters
configured the way istiod compiles the same resources.

- `jwtRules[].presence: REQUIRED` (istio/api security/v1beta1 JWTRule, CRD `presence` enum OPTIONAL/REQUIRED at
  istio/istio 86c9f01 manifests/charts/base/files/crd-all.gen.yaml): a request without a token is a 401 —
  the provider's requirement without `allow_missing` (jwt_authn answers `JwtMissed`: `Jwt is missing`).
- a jwtRule with `jwksUri` and no `issuer` (validation.go L1649-L1651 accepts it): Envoy's provider without
  `issuer`, whose locations accept every `iss` (extractor.cc `JwtIssuerChecker`: an empty issuer allows all).
- `when: source.trustDomain` and `source.trustDomains` (pilot/pkg/security/authz/model/generator.go
  L220-L241, `srcTrustDomainGenerator`): RBAC principals on the mTLS peer, `td` → prefix `spiffe://td/`,
  `*` → prefix `spiffe://`, `td-*` / `*-td` → regex `spiffe://td-[^/]*/.*` / `spiffe://[^/]*-td/.*`.
"""
from __future__ import annotations

import json
import re
import ssl

import pytest

from harness.envoy import render_config
from harness.idp import IdP
from harness.oracle import http_filters, istiod_jwt_authn
from harness.pki import PKI
from harness.tokens import Minter
from harness.warden import Warden, write_policy_dir
from policy_support import send

OTHER_HEADER = "x-other"


def _normalize(result, envoy) -> dict:
    www = result.headers.get("www-authenticate")
    if www:
        www = www.replace(f"127.0.0.1:{envoy.port}", "HOST")
    out = {"status": result.status, "www-authenticate": www}
    if result.status != 200:
        out["body"] = result.text
    out["reached_upstream"] = result.upstream is not None
    return out


# -- presence and issuer-less rules ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def idps():
    out = IdP(issuer_path="/req"), IdP(issuer_path="/opt"), IdP(issuer_path="/any")
    yield out
    for i in out:
        i.close()


def _ra(rules: str) -> dict[str, str]:
    return {"ra.yaml": f"apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n"
                       f"metadata: {{name: v131, namespace: default}}\nspec:\n  jwtRules:\n{rules}"}


def _scenarios(req: IdP, opt: IdP, anyone: IdP) -> dict[str, tuple[str, list[dict], frozenset[str]]]:
    """name → (Warden's jwtRules YAML, the oracle's providers, issuers marked REQUIRED)."""
    required = f"  - issuer: \"{req.issuer}\"\n    jwks: '{json.dumps(req.jwks())}'\n    presence: REQUIRED\n"
    optional = (f"  - issuer: \"{opt.issuer}\"\n    jwks: '{json.dumps(opt.jwks())}'\n"
                f"    fromHeaders: [{{name: {OTHER_HEADER}}}]\n    presence: OPTIONAL\n")
    issuerless = f"  - jwksUri: \"{anyone.jwks_uri}\"\n"
    p_req = {"issuer": req.issuer, "local_jwks": {"inline_string": json.dumps(req.jwks())}}
    p_opt = {"issuer": opt.issuer, "from_headers": [{"name": OTHER_HEADER}], "local_jwks": {"inline_string": json.dumps(opt.jwks())}}
    # The oracle reads the same keys inline (Envoy would need a cluster for the jwksUri; the keys are identical).
    p_any = {"local_jwks": {"inline_string": json.dumps(anyone.jwks())}}
    return {
        "required": (required, [p_req], frozenset({req.issuer})),
        "required+optional": (required + optional, [p_req, p_opt], frozenset({req.issuer})),
        "issuerless": (issuerless, [p_any], frozenset()),
    }


@pytest.fixture(scope="module")
def pairs(idps, upstream, warden_bin, make_envoy, tmp_path_factory):
    out, wardens = {}, []
    for name, (rules, providers, required) in _scenarios(*idps).items():
        base = tmp_path_factory.mktemp(f"v131-{name.replace('+', '-')}")
        w = Warden(write_policy_dir(base / "policies", _ra(rules)), binary=warden_bin, work_dir=base, debug_headers=False)
        wardens.append(w)
        warden_envoy = make_envoy(render_config(upstream_port=upstream.port, warden_port=w.port))
        config = render_config(upstream_port=upstream.port, warden_port=w.port)
        hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        hcm["http_filters"] = [istiod_jwt_authn(providers, required), hcm["http_filters"][-1]]
        hcm["route_config"]["virtual_hosts"][0]["routes"] = [{"match": {"prefix": "/"},
                                                              "route": {"cluster": "upstream", "timeout": "5s"}}]
        out[name] = (warden_envoy, make_envoy(config))
    yield out
    for w in wardens:
        w.stop()
        w.process.unregister()


def _requests(req: IdP, opt: IdP, anyone: IdP) -> dict[str, dict[str, str]]:
    r, o, a = Minter(req, audience=None), Minter(opt, audience=None), Minter(anyone, audience=None)
    return {
        "none": {},
        "required-token": {"Authorization": f"Bearer {r.mint()}"},
        "required-token-expired": {"Authorization": f"Bearer {r.expired()}"},
        "required-token-forged": {"Authorization": f"Bearer {r.wrong_key()}"},
        "optional-token": {OTHER_HEADER: o.mint()},
        "optional-token-bad": {OTHER_HEADER: o.wrong_key()},
        "wrong-scheme": {"Authorization": f"Basic {r.mint()}"},
        "any-key-foreign-iss": {"Authorization": f"Bearer {a.mint(iss='https://someone-else.example')}"},
        "any-key-no-iss": {"Authorization": f"Bearer {a.mint(iss=None)}"},
        "any-key-forged": {"Authorization": f"Bearer {a.wrong_key(iss='https://someone-else.example')}"},
        "query-token": {},
    }


@pytest.mark.parametrize("scenario", ["required", "required+optional", "issuerless"])
@pytest.mark.parametrize("case", ["none", "required-token", "required-token-expired", "required-token-forged",
                                  "optional-token", "optional-token-bad", "wrong-scheme", "any-key-foreign-iss",
                                  "any-key-no-iss", "any-key-forged", "cors-preflight", "query-token"])
def test_presence_and_issuerless_rules_as_envoy_jwt_authn(pairs, idps, upstream, scenario, case):
    headers = dict(_requests(*idps)[case]) if case != "cors-preflight" else {
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    method = "OPTIONS" if case == "cors-preflight" else "GET"
    target = "/p"
    if case == "query-token":
        target = f"/p?access_token={Minter(idps[0], audience=None).mint()}"
    warden_envoy, oracle = pairs[scenario]
    got = [_normalize(send(e.port, method, target, headers, upstream=upstream), e) for e in (warden_envoy, oracle)]
    assert got[0] == got[1], (scenario, case, got)


def test_required_rule_without_token_is_jwt_missing(pairs, upstream):
    """The answer the oracle gives is jwt_authn's JwtMissed: 401 `Jwt is missing`."""
    for e in pairs["required"]:
        r = send(e.port, "GET", "/p", upstream=upstream)
        assert (r.status, r.text, r.upstream) == (401, "Jwt is missing", None), r


# -- source.trustDomain ----------------------------------------------------------------------------------

IDENTITIES = {
    "cluster": "spiffe://cluster.local/ns/a/sa/b",
    "evil": "spiffe://cluster.local.evil/ns/a/sa/b",
    "prod": "spiffe://prod-eu/ns/a/sa/b",
    "foo-local": "spiffe://foo.local/ns/x/sa/y",
    "bare": "spiffe://cluster.local",
    "plain": None,
}

# (Istio rule fragment, the value list, negated, "from" or "when")
TD_CASES = [
    ("trustDomains", ["cluster.local"], False),
    ("trustDomain", ["prod-*"], False),
    ("trustDomain", ["*.local"], False),
    ("trustDomain", ["*"], False),
    ("trustDomain", ["cluster.local"], True),
    ("trustDomains", ["prod-*", "*.local"], True),
    ("trustDomains", ["*"], False),
]


def _quote_meta(s: str) -> str:
    """Go's regexp.QuoteMeta."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", s)


def _istiod_td_matcher(value: str) -> dict:
    """srcTrustDomainGenerator.principal (generator.go L226-L241)."""
    if value == "*":
        m = {"prefix": "spiffe://"}
    elif "*" not in value:
        m = {"prefix": f"spiffe://{value}/"}
    else:
        a, b = value.split("*", 1)
        m = {"safe_regex": {"regex": f"spiffe://{_quote_meta(a)}[^/]*{_quote_meta(b)}/.*"}}
    return {"authenticated": {"principal_name": m}}


def _td_policies() -> dict[str, str]:
    rules = []
    for i, (field, values, negated) in enumerate(TD_CASES):
        to = f"    to: [{{operation: {{paths: [\"/c{i}/*\"]}}}}]\n"
        if field == "trustDomains":
            key = "notTrustDomains" if negated else "trustDomains"
            rules.append(f"  - from: [{{source: {{{key}: {json.dumps(values)}}}}}]\n{to}")
        else:
            key = "notValues" if negated else "values"
            rules.append(f"  - when: [{{key: source.trustDomain, {key}: {json.dumps(values)}}}]\n{to}")
    return {"ap.yaml": "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
                       "metadata: {name: td, namespace: default}\nspec:\n  rules:\n" + "".join(rules)}


def _td_rbac() -> dict:
    policies = {}
    for i, (_, values, negated) in enumerate(TD_CASES):
        ids = [_istiod_td_matcher(v) for v in values]
        principal = {"or_ids": {"ids": ids}}
        if negated:
            principal = {"not_id": principal}
        policies[f"ns[default]-policy[td]-rule[{i}]"] = {
            "permissions": [{"url_path": {"path": {"prefix": f"/c{i}/"}}}],
            "principals": [principal]}
    return {"name": "envoy.filters.http.rbac", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
        "rules": {"action": "ALLOW", "policies": policies}}}


def _mtls(config: dict, server, pki) -> dict:
    chain = config["static_resources"]["listeners"][0]["filter_chains"][0]
    chain["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        "require_client_certificate": True,
        "common_tls_context": {
            "tls_certificates": [{"certificate_chain": {"filename": server.cert_path},
                                  "private_key": {"filename": server.key_path}}],
            "validation_context": {"trusted_ca": {"filename": pki.ca_path}},
        },
    }}
    return config


@pytest.fixture(scope="module")
def td_pair(upstream, warden_bin, make_envoy, tmp_path_factory):
    base = tmp_path_factory.mktemp("v131-td")
    pki = PKI(base / "pki")
    server = pki.issue("envoy", ips=["127.0.0.1"], dns=["localhost"])
    clients = {name: pki.issue(f"client-{name}", uri=uri, server=False) for name, uri in IDENTITIES.items()}
    w = Warden(write_policy_dir(base / "policies", _td_policies()), binary=warden_bin, work_dir=base, debug_headers=False)
    warden_envoy = make_envoy(_mtls(render_config(upstream_port=upstream.port, warden_port=w.port), server, pki))
    config = _mtls(render_config(upstream_port=upstream.port, warden_port=w.port), server, pki)
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["http_filters"] = [_td_rbac(), hcm["http_filters"][-1]]
    hcm["route_config"]["virtual_hosts"][0]["routes"] = [{"match": {"prefix": "/"},
                                                          "route": {"cluster": "upstream", "timeout": "5s"}}]
    oracle = make_envoy(config)

    def context(name: str) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=pki.ca_path)
        ctx.load_cert_chain(clients[name].cert_path, clients[name].key_path)
        return ctx
    yield (warden_envoy, oracle), context
    w.stop()
    w.process.unregister()


@pytest.mark.parametrize("who", list(IDENTITIES))
def test_trust_domain_as_envoy_rbac(td_pair, upstream, who):
    envoys, context = td_pair
    answers = []
    for i in range(len(TD_CASES)):
        got = [send(e.port, "GET", f"/c{i}/x", tls=context(who), upstream=upstream) for e in envoys]
        views = [(r.status, r.text if r.status != 200 else "", r.upstream is not None) for r in got]
        assert views[0] == views[1], (who, TD_CASES[i], views)
        answers.append(views[0][0])
    assert set(answers) <= {200, 403}


def test_trust_domain_cases_are_not_all_alike(td_pair, upstream):
    """The rows discriminate: some identity is allowed and some denied by each case."""
    envoys, context = td_pair
    for i in range(len(TD_CASES)):
        statuses = {send(envoys[1].port, "GET", f"/c{i}/x", tls=context(who), upstream=upstream).status for who in IDENTITIES}
        assert statuses == {200, 403}, (TD_CASES[i], statuses)
