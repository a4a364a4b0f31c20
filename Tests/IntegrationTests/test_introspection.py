"""Opaque tokens by introspection (RFC 7662) through a real Envoy (issue 17). Envoy's jwt_authn cannot check
a token that is not a JWT at all; Warden sends it to the issuer's introspection endpoint (named in a
TokenPolicy rule for an issuer a RequestAuthentication declares) and treats an active answer's claims like a
JWT's: the same audience check, request principal, `when` claims and output headers.

RFC 7662 §2.1: POST `token` (form-encoded) with client authentication; §2.2: `active` is REQUIRED, the other
members optional; §2.3: the protected resource authenticates itself. §4: cache answers no longer than the
token lives. The test IdP (harness/idp.py) implements the endpoint and records what it received."""
from __future__ import annotations

import json
import time
import urllib.request

import pytest

from harness import httpclient
from harness.tokens import Minter
from harness.warden import write_policy_dir


def policies(idp, secret_file, *, auth_method: str = "client_secret_basic", audiences=None, extra_rule: str = "",
             cache: str = "5m", negative: str = "10s", introspect_jwts: bool = False) -> dict[str, str]:
    aud = f"    audiences: {json.dumps(audiences)}\n" if audiences else ""
    ra = ("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: default}\n"
          f"spec:\n  jwtRules:\n  - issuer: {idp.issuer}\n    jwksUri: {idp.jwks_uri}\n{aud}"
          "    outputClaimToHeaders: [{header: x-user, claim: sub}, {header: x-scope, claim: scope}]\n")
    tp = ("apiVersion: security.warden.io/v1alpha1\nkind: TokenPolicy\nmetadata: {name: opaque, namespace: default}\n"
          f"spec:\n  jwtRules:\n  - issuer: {idp.issuer}\n{extra_rule}    introspection:\n"
          f"      endpoint: {idp.introspection_endpoint}\n      clientId: warden\n      clientSecretFile: {secret_file}\n"
          f"      clientAuthMethod: {auth_method}\n      cacheDuration: {cache}\n      negativeCacheDuration: {negative}\n"
          f"      introspectJWTs: {'true' if introspect_jwts else 'false'}\n")
    ap = ("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: require, namespace: default}\n"
          f"spec:\n  rules:\n  - from: [{{source: {{requestPrincipals: ['{idp.issuer}/alice', '{idp.issuer}/jwt-user']}}}}]\n"
          "    when: [{key: 'request.auth.claims[scope]', values: ['orders:read']}]\n")
    return {"ra.yaml": ra, "tp.yaml": tp, "ap.yaml": ap}


@pytest.fixture
def rig(idp, make_warden, make_envoy, upstream, tmp_path):
    secret = tmp_path / "client-secret"
    secret.write_text("introspection-secret\n")

    def start(**kw):
        w = make_warden(write_policy_dir(tmp_path / f"p{len(start.started)}", policies(idp, secret, **kw)))
        start.started.append(w)
        return w, make_envoy(upstream_port=upstream.port, warden_port=w.port)
    start.started = []
    return start


def get(envoy, token: str, headers: dict | None = None):
    h = {"authorization": f"Bearer {token}"}
    h.update(headers or {})
    return httpclient.request("GET", envoy.url("/orders"), headers=h)


def metric(warden, name: str, labels: str) -> float:
    with urllib.request.urlopen(warden.admin_url + "/metrics", timeout=2) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(f"{name}{{{labels}}}"):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_an_active_opaque_token_is_an_identity_like_a_jwt(rig, idp, upstream, auth_method):
    _, envoy = rig(auth_method=auth_method)
    token = idp.issue_opaque(sub="alice", scope="orders:read orders:write", client_id="shop", exp=int(time.time()) + 600)
    r = get(envoy, token, {"x-user": "forged"})
    assert r.status == 200, r.body
    seen = upstream.last()["headers"]
    assert seen["x-user"] == "alice"  # output claim from the introspection answer; the client's copy is gone
    assert seen["x-scope"] == "orders:read orders:write"
    req = idp.state.introspection_requests[-1]
    assert req["method"] == auth_method and req["client"] == "warden"
    assert req["form"]["token"] == token and req["form"]["token_type_hint"] == "access_token"
    assert req["content_type"] == "application/x-www-form-urlencoded"


def test_policies_apply_to_the_introspected_claims(rig, idp):
    _, envoy = rig()
    no_scope = idp.issue_opaque(sub="alice", scope="orders:write")
    bob = idp.issue_opaque(sub="bob", scope="orders:read")
    assert get(envoy, no_scope).status == 403  # `when` on request.auth.claims[scope] (space-split)
    assert get(envoy, bob).status == 403  # requestPrincipals issuer/sub, iss from the configured issuer


def test_inactive_unknown_and_revoked_tokens_are_401(rig, idp):
    _, envoy = rig(negative="1s")
    r = get(envoy, "not-a-token-the-idp-issued")
    assert (r.status, r.body) == (401, b"Token is not active")
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    token = idp.issue_opaque(sub="alice", scope="orders:read")
    assert get(envoy, token).status == 200


def test_answers_are_cached_and_shared_and_revocation_shows_after_the_cache_time(rig, idp):
    warden, envoy = rig(cache="1s")
    token = idp.issue_opaque(sub="alice", scope="orders:read")
    idp.reset_counts()
    for _ in range(20):
        assert get(envoy, token).status == 200
    assert idp.count("/introspect") == 1  # one call for 20 checks
    assert metric(warden, "warden_introspection_total", 'result="cache"') >= 19
    idp.revoke(token)
    deadline = time.monotonic() + 5
    while get(envoy, token).status == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert get(envoy, token).status == 401


def test_the_cache_never_outlives_the_tokens_exp(rig, idp):
    """RFC 7662 §4: an answer must not be cached past the token's expiry."""
    _, envoy = rig(cache="10m")
    token = idp.issue_opaque(sub="alice", scope="orders:read", exp=int(time.time()) + 2)
    assert get(envoy, token).status == 200
    time.sleep(2.2 + 1)  # past exp; the claim check applies the default 60 s skew, so the token itself is
    idp.revoke(token)    # still acceptable by time — the endpoint must be asked again, and now says inactive
    assert get(envoy, token).status == 401


def test_audiences_of_the_rule_apply(rig, idp):
    _, envoy = rig(audiences=["orders-api"])
    ok = idp.issue_opaque(sub="alice", scope="orders:read", aud="orders-api")
    other = idp.issue_opaque(sub="alice", scope="orders:read", aud=["billing"])
    assert get(envoy, ok).status == 200
    r = get(envoy, other)
    assert (r.status, r.body) == (403, b"Audiences in Jwt are not allowed")


def test_a_jwt_of_the_issuer_is_still_verified_by_signature(rig, idp):
    _, envoy = rig()
    idp.reset_counts()
    jwt = Minter(idp).mint(sub="jwt-user", scope="orders:read")
    assert get(envoy, jwt).status == 200
    assert idp.count("/introspect") == 0


def test_introspect_jwts_is_a_revocation_check(rig, idp):
    """`introspectJWTs: true`: a JWT whose signature and claims verify is refused unless the endpoint still
    calls it active (revoked at the IdP → 401 once the cached answer expires); the JWT's own claims decide."""
    _, envoy = rig(introspect_jwts=True, cache="1s", negative="1s")
    jwt = Minter(idp).mint(sub="jwt-user", scope="orders:read")
    idp.reset_counts()
    r = get(envoy, jwt)
    assert (r.status, r.body) == (401, b"Token is not active")  # the IdP does not know it as active
    assert idp.count("/introspect") == 1
    with idp.state.lock:
        idp.state.opaque[jwt] = {"sub": "someone-else"}  # the answer's claims do not replace the JWT's
    time.sleep(1.1)
    assert get(envoy, jwt).status == 200
    assert get(envoy, jwt).status == 200  # the token cache answers the signature; the answer is cached too
    idp.revoke(jwt)
    deadline = time.monotonic() + 5
    while get(envoy, jwt).status == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert get(envoy, jwt).body == b"Token is not active"


def test_endpoint_failures_fail_closed(rig, idp, tmp_path):
    _, envoy = rig()
    token = idp.issue_opaque(sub="alice", scope="orders:read")
    idp.fail_with(500)
    try:
        r = get(envoy, token)
        assert (r.status, r.body) == (401, b"Token introspection failed")
    finally:
        idp.fail_with(None)
    assert get(envoy, token).status == 200  # failures are not cached


def test_wrong_client_secret_fails_closed(idp, make_warden, make_envoy, upstream, tmp_path):
    secret = tmp_path / "wrong"
    secret.write_text("not-the-secret\n")
    w = make_warden(write_policy_dir(tmp_path / "p", policies(idp, secret)))
    envoy = make_envoy(upstream_port=upstream.port, warden_port=w.port)
    r = get(envoy, idp.issue_opaque(sub="alice", scope="orders:read"))
    assert (r.status, r.body) == (401, b"Token introspection failed")


def test_a_slow_endpoint_is_not_waited_for_past_the_deadline(rig, idp):
    """Envoy's ext_authz timeout (the sample config's) bounds the wait: Warden answers 401 before it."""
    warden, envoy = rig()
    token = idp.issue_opaque(sub="alice", scope="orders:read")
    idp.delay = 3.0
    try:
        started = time.monotonic()
        r = get(envoy, token)
        elapsed = time.monotonic() - started
    finally:
        idp.delay = 0
    assert (r.status, r.body) == (401, b"Token introspection failed")
    assert elapsed < 2.5


def test_a_secret_file_that_cannot_be_read_fails_closed(idp, make_warden, make_envoy, upstream, tmp_path):
    w = make_warden(write_policy_dir(tmp_path / "p", policies(idp, tmp_path / "missing")))
    envoy = make_envoy(upstream_port=upstream.port, warden_port=w.port)
    idp.reset_counts()
    r = get(envoy, idp.issue_opaque(sub="alice", scope="orders:read"))
    assert (r.status, r.body) == (401, b"Token introspection failed")
    assert idp.count("/introspect") == 0


def test_explain_walks_an_opaque_token_offline_and_with_fetch(warden_bin, idp, tmp_path):
    """`warden explain` makes no call unless --fetch (as for JWKS); with it, the walk shows the answer's claims."""
    import subprocess
    secret = tmp_path / "secret"
    secret.write_text("introspection-secret\n")
    files = policies(idp, secret)
    (tmp_path / "p.yaml").write_text("---\n".join(files.values()))
    token = idp.issue_opaque(sub="alice", scope="orders:read")
    base = [warden_bin, "explain", "--policy", str(tmp_path / "p.yaml"), "--path", "/orders", "--header", f"authorization: Bearer {token}"]
    idp.reset_counts()
    offline = subprocess.run(base, capture_output=True, text=True, timeout=30)
    assert offline.returncode == 1 and "explain works offline" in offline.stdout, offline.stdout + offline.stderr
    assert "token_introspection_failed" in offline.stdout and idp.count("/introspect") == 0
    assert token not in offline.stdout
    live = subprocess.run(base + ["--fetch"], capture_output=True, text=True, timeout=30)
    assert live.returncode == 0, live.stdout + live.stderr
    assert f"the introspection endpoint {idp.introspection_endpoint} answered active" in live.stdout
    assert '"sub": "alice"' in live.stdout and "Result: ✓ 200 allowed" in live.stdout


@pytest.mark.parametrize("kind, alg", [("rsa", None), ("rsa", "PS256"), ("ec", None)])
def test_private_key_jwt_client_authentication(idp, make_warden, make_envoy, upstream, tmp_path, kind, alg):
    """RFC 7523 §2.2: Warden signs a fresh client assertion per call (iss = sub = client id, aud = the
    endpoint, jti, 60 s); the IdP verifies it with the client's registered public key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from joserfc.jwk import JWKRegistry
    private = rsa.generate_private_key(65537, 2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    key_file = tmp_path / "client.pem"
    key_file.write_bytes(pem)
    public = JWKRegistry.import_key(private.public_key().public_bytes(serialization.Encoding.PEM,
                                                                       serialization.PublicFormat.SubjectPublicKeyInfo),
                                    "RSA" if kind == "rsa" else "EC")
    idp.state.client_keys["warden"] = public.as_dict(private=False)
    files = policies(idp, key_file, auth_method="private_key_jwt")
    if alg:
        files["tp.yaml"] = files["tp.yaml"].replace("      clientAuthMethod: private_key_jwt\n",
                                                    f"      clientAuthMethod: private_key_jwt\n      signingAlgorithm: {alg}\n")
    w = make_warden(write_policy_dir(tmp_path / "p", files))
    envoy = make_envoy(upstream_port=upstream.port, warden_port=w.port)
    for _ in range(2):  # two calls: each with its own assertion (the IdP refuses a reused jti)
        token = idp.issue_opaque(sub="alice", scope="orders:read")
        r = get(envoy, token)
        assert r.status == 200, r.body
    req = idp.state.introspection_requests[-1]
    assert req["method"] == "private_key_jwt" and req["form"]["client_id"] == "warden" and "client_secret" not in req["form"]
    header = json.loads(__import__("base64").urlsafe_b64decode(req["form"]["client_assertion"].split(".")[0] + "=="))
    assert header["alg"] == (alg or ("RS256" if kind == "rsa" else "ES256"))
    # Another key registered at the IdP: the assertion no longer verifies, and Warden fails closed.
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    idp.state.client_keys["warden"] = JWKRegistry.import_key(other.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), "EC").as_dict(private=False)
    r = get(envoy, idp.issue_opaque(sub="alice", scope="orders:read"))
    assert (r.status, r.body) == (401, b"Token introspection failed")
