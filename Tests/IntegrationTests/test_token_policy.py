"""TokenPolicy (security.warden.io/v1alpha1) through a real Envoy (issue 17, "Access-token profile and
stricter claims"). `subjects` and `maxLifetime` are Envoy jwt_authn's own `subjects` and `max_lifetime`:
Warden must answer exactly as that filter does (status, body, WWW-Authenticate), compared side by side. The
RFC 9068 `typ`, required claims and `senderConstrained` have no Envoy counterpart: checked on their own."""
from __future__ import annotations

import json
import time

import pytest

from harness import httpclient
from harness.oracle import envoy_pair, istiod_jwt_authn
from harness.tokens import Minter


def token_policy(issuer: str, rule: str) -> str:
    return ("apiVersion: security.warden.io/v1alpha1\nkind: TokenPolicy\nmetadata: {name: strict, namespace: default}\n"
            f"spec:\n  jwtRules:\n  - issuer: {issuer}\n{rule}\n")


def request_authentication(idp) -> str:
    return ("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: default}\n"
            f"spec:\n  jwtRules:\n  - issuer: {idp.issuer}\n    jwks: '{json.dumps(idp.jwks())}'\n")


def answer(envoy, token: str) -> tuple[int, bytes, str | None]:
    r = httpclient.request("GET", envoy.url("/data"), headers={"authorization": f"Bearer {token}"})
    www = r.headers.get("www-authenticate")
    return r.status, (r.body if r.status != 200 else b""), www and www.replace(str(envoy.port), "PORT")


def test_subjects_and_max_lifetime_answer_as_envoys_jwt_authn(module_idp, upstream, warden_bin, make_envoy, tmp_path):
    rule = '    subjects: {prefix: "spiffe://"}\n    maxLifetime: 600s'
    provider = {"issuer": module_idp.issuer, "local_jwks": {"inline_string": json.dumps(module_idp.jwks())},
                "subjects": {"prefix": "spiffe://"}, "max_lifetime": "600s"}
    oracle = istiod_jwt_authn([provider])
    oracle["typed_config"]["rules"][0]["requires"] = {"provider_name": "origins-0"}  # a token is required on both sides
    policies = {"ra.yaml": request_authentication(module_idp), "tp.yaml": token_policy(module_idp.issuer, rule),
                "require.yaml": "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: req, namespace: default}\n"
                                "spec:\n  rules: [{from: [{source: {requestPrincipals: ['*']}}]}]\n"}
    m = Minter(module_idp)
    now = int(time.time())
    cases = {
        "subject matches": m.mint(sub="spiffe://cluster.local/ns/a/sa/b"),
        "subject does not": m.mint(sub="alice"),
        "lifetime within": m.mint(sub="spiffe://x", exp_in=300),
        "lifetime beyond": m.mint(sub="spiffe://x", exp_in=3600),
        "issued long ago, expiring soon (exp − now counts)": m.mint(sub="spiffe://x", iat=now - 7200, exp_in=300),
        "no exp": m.mint(sub="spiffe://x", exp_in=None),
    }
    with envoy_pair(policies=policies, oracle_filters=[oracle], base=tmp_path, warden_bin=warden_bin, upstream=upstream,
                    make_envoy=make_envoy) as (warden_envoy, oracle_envoy):
        for name, token in cases.items():
            assert answer(warden_envoy, token) == answer(oracle_envoy, token), name
        assert answer(warden_envoy, cases["subject does not"])[:2] == (401, b"Jwt verification fails")
        assert answer(warden_envoy, cases["subject matches"])[0] == 200


@pytest.fixture
def warden_envoy(module_idp, make_warden, make_envoy, upstream, tmp_path):
    def start(rule: str):
        from harness.warden import write_policy_dir
        w = make_warden(write_policy_dir(tmp_path / "p", {"ra.yaml": request_authentication(module_idp),
                                                           "tp.yaml": token_policy(module_idp.issuer, rule)}))
        start.warden = w
        return make_envoy(upstream_port=upstream.port, warden_port=w.port)
    return start


@pytest.mark.parametrize("typ, status", [("JWT", 401), (None, 401), ("at+jwt", 200), ("application/at+jwt", 200)])
def test_only_access_tokens_rfc9068(warden_envoy, module_idp, typ, status):
    """`typ: [at+jwt]`: an ID token (typ JWT, or none) is not accepted as an access token (RFC 9068 §4)."""
    envoy = warden_envoy("    typ: [at+jwt]")
    token = Minter(module_idp).mint(header={"typ": typ})  # None: no typ member at all
    assert (typ is None) == ('"typ"' not in __import__("base64").urlsafe_b64decode(token.split(".")[0] + "==").decode())
    status_got, body, www = answer(envoy, token)
    assert status_got == status, body
    if status == 401:
        assert body == b"Jwt type is not allowed" and 'error="invalid_token"' in www


def test_required_claims_and_sender_constraint(warden_envoy, module_idp):
    envoy = warden_envoy("    requiredClaims: [{name: client_id}, {name: acr, values: [mfa]}]\n    senderConstrained: true")
    dump = json.loads(warden_envoy.warden.admin_status("/config_dump")[1])
    rule = dump["token_policies"][0]["jwt_rules"][0]
    assert rule["sender_constrained"] and rule["required_claims"][1] == {"name": "acr", "values": "<1 value(s)>"}
    m = Minter(module_idp)
    assert answer(envoy, m.mint())[:2] == (401, b"Jwt is missing a required claim")
    assert answer(envoy, m.mint(client_id="web", acr="pwd"))[:2] == (401, b"Jwt claim value is not allowed")
    assert answer(envoy, m.mint(client_id="web", acr="mfa"))[:2] == (401, b"Jwt must be sender-constrained")
