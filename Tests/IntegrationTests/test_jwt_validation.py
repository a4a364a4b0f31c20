"""JWT validation through the real `warden` binary (issue 3): every algorithm accepted, every failure
answered with Envoy jwt_authn's exact status and body, and the decision log line naming the precise
reason without ever echoing the token. Needs WARDEN_BIN; the last tests also run through a real Envoy.

Policies: an allow-all AuthorizationPolicy plus a RequestAuthentication with three rules:
  - the local IdP by `jwksUri` (audience `warden-test`),
  - an HMAC issuer whose `jwks:` is inline (oct keys for HS256/384/512),
  - a second IdP whose *remote* JWKS also serves an oct key (which Warden must never use).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Callable

import pytest
from cryptography.hazmat.primitives import serialization

from harness import httpclient
from harness.envoy import Route
from harness.grpc_client import AuthzClient
from harness.idp import IdP, generate_key
from harness.ports import wait_until
from harness.tokens import Minter, b64url, raw_token
from harness.warden import ALLOW_ALL_POLICY, Warden, write_policy_dir

ASYMMETRIC_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
HS_ISSUER = "https://hmac.warden.test"

# Envoy jwt_authn bodies (google/jwt_verify_lib src/status.cc).
BAD_FORMAT = "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
KID_MISMATCH = "Jwks doesn't have key to match kid or alg from Jwt"
VERIFY_FAILS = "Jwt verification fails"
EXPIRED = "Jwt is expired"
NOT_YET_VALID = "Jwt not yet valid"
ISSUER_NOT_CONFIGURED = "Jwt issuer is not configured"
AUDIENCE_NOT_ALLOWED = "Audiences in Jwt are not allowed"
ALG_NOT_SUPPORTED = "Jwt header [alg] is not supported"


@dataclass
class Rig:
    idp: IdP
    oct_idp: IdP
    minter: Minter
    hs_keys: dict  # alg → SigningKey (oct), configured inline
    remote_oct: object  # SigningKey served by oct_idp's remote JWKS
    warden: Warden
    client: AuthzClient


def request_authentication(rules: list[str]) -> str:
    return ("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n"
            "metadata: {name: jwt, namespace: default}\nspec:\n  jwtRules:\n" + "".join(rules))


def public_jwk_without_alg(key) -> dict:
    return key.jwk.as_dict(private=False, kid=key.kid, use="sig")


def policies_for(directory, idp: IdP, oct_idp: IdP, hs_keys: dict):
    inline = json.dumps({"keys": [k.public_jwk() for k in hs_keys.values()]}, separators=(",", ":"))
    rules = [
        f"  - issuer: {idp.issuer}\n    jwksUri: {idp.jwks_uri}\n    audiences: [warden-test]\n",
        f"  - issuer: {HS_ISSUER}\n    jwks: '{inline}'\n",
        f"  - issuer: {oct_idp.issuer}\n    jwksUri: {oct_idp.jwks_uri}\n",
    ]
    return write_policy_dir(directory, {"allow-all.yaml": ALLOW_ALL_POLICY, "ra.yaml": request_authentication(rules)})


@pytest.fixture(scope="module")
def rig(warden_bin, tmp_path_factory):
    base = tmp_path_factory.mktemp("jwt-validation")
    idp = IdP()
    for alg in ASYMMETRIC_ALGS:
        idp.key_for(alg)  # published before Warden's first fetch
    # Keys without "alg": selected by kid, then the key type and curve decide what they can verify.
    rsa_noalg, ec384_noalg = generate_key("RS256", "rsa-noalg"), generate_key("ES384", "ec384-noalg")
    idp.state.extra_jwks += [public_jwk_without_alg(rsa_noalg), public_jwk_without_alg(ec384_noalg)]
    idp.noalg = {"rsa": rsa_noalg, "ec384": ec384_noalg}
    oct_idp = IdP(issuer_path="/octidp")
    remote_oct = generate_key("HS256", "hs-remote")
    oct_idp.state.extra_jwks.append(remote_oct.public_jwk())  # includes "k": a symmetric key on a public URL
    hs_keys = {alg: generate_key(alg, f"{alg.lower()}-inline") for alg in ("HS256", "HS384", "HS512")}
    warden = Warden(policies_for(base / "policies", idp, oct_idp, hs_keys), binary=warden_bin, work_dir=base)
    client = AuthzClient(warden.address)
    yield Rig(idp, oct_idp, Minter(idp), hs_keys, remote_oct, warden, client)
    client.close()
    warden.stop()
    warden.process.unregister()
    idp.close()
    oct_idp.close()


# -- helpers ---------------------------------------------------------------------------------------------

def check(client: AuthzClient, token: str, path: str):
    return client.check(path=path, headers={"authorization": f"Bearer {token}"})


def denied(response) -> tuple[int, str, dict[str, str]]:
    assert response.HasField("denied_response"), "expected a denial, got an allow"
    d = response.denied_response
    return d.status.code, d.body, {h.header.key.lower(): h.header.value for h in d.headers}


def decision_line(warden: Warden, path: str, timeout: float = 3.0) -> tuple[dict, str]:
    """The JSON decision log line (stderr) for the request to `path`, and the raw line."""
    found: list = []

    def look():
        for raw in warden.log_text().splitlines():
            if not raw.startswith("{"):
                continue
            entry = json.loads(raw)
            if entry.get("msg") == "decision" and entry.get("path") == path:
                found.append((entry, raw))
                return True
        return False
    wait_until(look, timeout, what=f"decision log line for {path}")
    return found[0]


def assert_token_not_logged(raw_line: str, token: str) -> None:
    assert token not in raw_line
    for segment in token.split("."):
        if len(segment) >= 16:  # long enough that a match would be the token's, not a coincidence
            assert segment not in raw_line


def hs_sign(header: dict, claims: dict, secret: bytes, digest=hashlib.sha256) -> str:
    signing_input = raw_token(header, claims, b"").rstrip(".")
    return signing_input + "." + b64url(hmac.new(secret, signing_input.encode(), digest).digest())


def tamper_segment(token: str, index: int, at: int, char: str) -> str:
    parts = token.split(".")
    seg = parts[index]
    parts[index] = seg[:at] + char + seg[at + 1:]
    return ".".join(parts)


# -- accepted -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("alg", ASYMMETRIC_ALGS)
def test_every_asymmetric_algorithm_from_the_idp_jwks_is_accepted(rig, alg):
    token = rig.minter.mint(alg=alg)
    response = check(rig.client, token, f"/alg/{alg}")
    assert response.HasField("ok_response"), denied(response)
    # The token is removed before the request goes upstream (forwardOriginalToken: false).
    assert "authorization" in list(response.ok_response.headers_to_remove)


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_token_without_kid_is_tried_against_keys_of_its_type(rig, alg):
    assert check(rig.client, rig.minter.mint(alg=alg, omit_kid=True), f"/nokid/{alg}").HasField("ok_response")


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_with_an_inline_oct_key_is_accepted(rig, alg):
    key = rig.hs_keys[alg]
    token = rig.minter.mint(alg=alg, key=key, iss=HS_ISSUER, aud=None)
    assert check(rig.client, token, f"/hs/{alg}").HasField("ok_response")


@pytest.mark.parametrize("name,overrides", [
    ("decimal-dates", {"exp": time.time() + 300.25, "nbf": time.time() - 10.5, "iat": time.time() - 10.5}),
    ("no-exp", {"exp": None}),
    ("aud-array", {"aud": ["someone-else", "warden-test"]}),
    ("aud-url-form", {"aud": "https://warden-test/"}),  # Envoy strips the scheme and one trailing slash
])
def test_claim_variants_that_are_accepted(rig, name, overrides):
    token = rig.minter.mint(**overrides)
    response = check(rig.client, token, f"/claims/{name}")
    assert response.HasField("ok_response"), denied(response)


def test_verified_token_is_served_from_the_cache_the_second_time(rig):
    token = rig.minter.mint(sub="cached")
    assert check(rig.client, token, "/cache/1").HasField("ok_response")
    before = metric(rig.warden, "warden_token_cache_hits_total")
    assert check(rig.client, token, "/cache/2").HasField("ok_response")
    assert metric(rig.warden, "warden_token_cache_hits_total") == before + 1


def metric(warden: Warden, name: str, labels: str | None = None) -> float:
    status, text = warden.admin_status("/metrics")
    assert status == 200
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key == name or (labels is not None and key == f"{name}{{{labels}}}"):
            return float(value)
    raise AssertionError(f"{name}{{{labels or ''}}} not in /metrics")


# -- rejected: one crafted token per reason ----------------------------------------------------------------

@dataclass
class Case:
    name: str
    make: Callable[[Rig], str]
    status: int
    body: str
    reason: str  # substring of the decision log's "reason"
    reason_code: str


def _alg_confusion(rig: Rig, kid: str, key) -> str:
    """HS256 whose HMAC secret is the RSA *public* key (PEM): the classic algorithm-confusion attack."""
    pem = key.jwk.get_op_key("verify").public_bytes(serialization.Encoding.PEM,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo)
    return hs_sign({"alg": "HS256", "typ": "JWT", "kid": kid}, rig.minter.claims(), pem)


def _es256_with_p384(rig: Rig) -> str:
    """Header says ES256 but the kid names a P-384 key (no alg on the key): the curve must match."""
    key = rig.idp.noalg["ec384"]
    p256 = generate_key("ES256", key.kid)  # a real ES256 signature, so only the curve check can reject it
    return rig.minter.mint(alg="ES256", key=p256)


def _oversized(rig: Rig) -> str:
    return rig.minter.mint(padding="x" * 9000)


CASES = [
    Case("alg-none-empty-signature", lambda r: raw_token({"alg": "none", "typ": "JWT"}, r.minter.claims(), b""),
         401, BAD_FORMAT, "this token has 2", "jwt_malformed"),
    Case("alg-none-with-signature", lambda r: raw_token({"alg": "none"}, r.minter.claims(), b"sig"),
         401, ALG_NOT_SUPPORTED, 'alg "none": unsigned tokens are never accepted', "jwt_unsupported_algorithm"),
    Case("alg-None-capitalised", lambda r: raw_token({"alg": "None"}, r.minter.claims(), b"sig"),
         401, ALG_NOT_SUPPORTED, 'alg "None": unsigned tokens are never accepted', "jwt_unsupported_algorithm"),
    Case("alg-unknown-ES256K", lambda r: raw_token({"alg": "ES256K", "kid": "ec-1"}, r.minter.claims(), b"sig"),
         401, ALG_NOT_SUPPORTED, 'alg "ES256K" is not supported', "jwt_unsupported_algorithm"),
    Case("alg-confusion-hs256-with-rsa-public-key", lambda r: _alg_confusion(r, "rsa-1", r.idp.key("rsa-1")),
         401, KID_MISMATCH, 'no key with kid "rsa-1" and a compatible alg', "jwt_unknown_kid"),
    Case("alg-confusion-against-rsa-key-without-alg",
         lambda r: _alg_confusion(r, "rsa-noalg", r.idp.noalg["rsa"]),
         401, VERIFY_FAILS, "does not verify", "jwt_bad_signature"),
    Case("hs256-from-remote-jwks-oct-key",
         lambda r: Minter(r.oct_idp).mint(alg="HS256", key=r.remote_oct),
         401, KID_MISMATCH, 'no key with kid "hs-remote"', "jwt_unknown_kid"),
    Case("wrong-crv-es384-token-p256-key", lambda r: r.minter.mint(alg="ES384", kid="ec-1", key=generate_key("ES384", "ec-1")),
         401, KID_MISMATCH, 'no key with kid "ec-1"', "jwt_unknown_kid"),
    Case("wrong-crv-es256-token-p384-key", _es256_with_p384, 401, VERIFY_FAILS, "does not verify", "jwt_bad_signature"),
    Case("expired", lambda r: r.minter.expired(), 401, EXPIRED, "expired at", "jwt_expired"),
    Case("not-yet-valid", lambda r: r.minter.not_yet_valid(), 401, NOT_YET_VALID, "not valid before", "jwt_not_yet_valid"),
    Case("bad-iss", lambda r: r.minter.mint(iss="https://evil.example"), 401, ISSUER_NOT_CONFIGURED,
         'issuer "https://evil.example"', "jwt_issuer_not_configured"),
    Case("iss-trailing-slash", lambda r: r.minter.mint(iss=r.idp.issuer + "/"), 401, ISSUER_NOT_CONFIGURED,
         "/\"", "jwt_issuer_mismatch"),
    Case("iss-missing", lambda r: r.minter.mint(iss=None), 401, ISSUER_NOT_CONFIGURED, "(none)", "jwt_issuer_not_configured"),
    Case("bad-aud", lambda r: r.minter.mint(aud="other-service"), 403, AUDIENCE_NOT_ALLOWED,
         'token has audiences ["other-service"]; allowed: ["warden-test"]', "jwt_audience_mismatch"),
    Case("aud-missing", lambda r: r.minter.mint(aud=None), 403, AUDIENCE_NOT_ALLOWED, 'token has no "aud"',
         "jwt_audience_mismatch"),
    Case("unknown-kid", lambda r: r.minter.unknown_kid(kid="never-published"), 401, KID_MISMATCH,
         'no key with kid "never-published"', "jwt_unknown_kid"),
    Case("wrong-key-same-kid", lambda r: r.minter.wrong_key(), 401, VERIFY_FAILS, "does not verify", "jwt_bad_signature"),
    Case("tampered-payload", lambda r: r.minter.tampered(), 401, VERIFY_FAILS, "does not verify", "jwt_bad_signature"),
    Case("truncated-signature", lambda r: r.minter.mint()[:-2], 401, VERIFY_FAILS, "does not verify", "jwt_bad_signature"),
    Case("truncated-at-last-dot", lambda r: r.minter.mint().rsplit(".", 1)[0], 401, BAD_FORMAT, "this token has 2",
         "jwt_malformed"),
    Case("truncated-mid-payload", lambda r: (lambda t: t[:t.index(".") + 20])(r.minter.mint()), 401, BAD_FORMAT,
         "this token has 2", "jwt_malformed"),
    Case("jwe-five-segments", lambda r: ".".join([b64url('{"alg":"RSA-OAEP","enc":"A256GCM"}'), "a", "b", "c", "d"]),
         401, BAD_FORMAT, "JWE", "jwt_malformed"),
    Case("bad-base64-header", lambda r: tamper_segment(r.minter.mint(), 0, 5, "+"), 401,
         "Jwt header is an invalid Base64url encoded", "header segment is not strict base64url", "jwt_malformed"),
    # Complete padding decodes, as absl's decoder in Envoy does, but a JWS has none: never verifies (Envoy's body).
    Case("padded-header", lambda r: (lambda t: t.replace(".", "=.", 1))(r.minter.mint()), 401,
         VERIFY_FAILS, "padding", "jwt_lenient_encoding"),
    Case("over-padded-header", lambda r: (lambda t: t.replace(".", "===.", 1))(r.minter.mint()), 401,
         "Jwt header is an invalid Base64url encoded", "header segment is not strict base64url", "jwt_malformed"),
    Case("bad-base64-payload", lambda r: tamper_segment(r.minter.mint(), 1, 7, "*"), 401,
         "Jwt payload is an invalid Base64url encoded", "payload segment is not strict base64url", "jwt_malformed"),
    Case("bad-base64-signature", lambda r: tamper_segment(r.minter.mint(), 2, 9, "/"), 401,
         "Jwt signature is an invalid Base64url encoded", "signature segment is not strict base64url", "jwt_malformed"),
    Case("header-not-json", lambda r: raw_token("bm90LWpzb24", r.minter.claims(), b"sig"), 401,
         "Jwt header is an invalid JSON", "header is not a JSON object", "jwt_malformed"),
    Case("payload-not-json", lambda r: raw_token({"alg": "RS256", "kid": "rsa-1"}, b64url("{nope"), b"sig"), 401,
         "Jwt payload is an invalid JSON", "payload is not a JSON object", "jwt_malformed"),
    Case("exp-not-a-number", lambda r: r.minter.mint(exp="tomorrow"), 401,
         "Jwt payload [exp] field is not an integer", 'claim "exp" must be a JSON number', "jwt_malformed"),
    Case("kid-not-a-string", lambda r: raw_token({"alg": "RS256", "kid": 7}, r.minter.claims(), b"sig"), 401,
         "Jwt header [kid] field is not a string", 'header "kid" is not a string', "jwt_malformed"),
    Case("oversized", _oversized, 401, BAD_FORMAT, "; the limit is 8192", "jwt_token_too_large"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rejected_with_envoys_body_and_a_precise_logged_reason(rig, case):
    token = case.make(rig)
    path = f"/reject/{case.name}"
    status, body, headers = denied(check(rig.client, token, path))
    assert (status, body) == (case.status, case.body)
    assert headers["www-authenticate"] == f'Bearer realm="http://example.com{path}", error="invalid_token"'
    entry, raw = decision_line(rig.warden, path)
    assert entry["decision"] == "deny"
    assert entry["status"] == case.status
    assert entry["reason_code"] == case.reason_code
    assert entry["reason"].startswith(case.body + ": ")
    assert case.reason in entry["reason"]
    assert_token_not_logged(raw, token)


def test_oversized_reason_gives_the_size(rig):
    token = _oversized(rig)
    denied(check(rig.client, token, "/reject/oversized-size"))
    entry, _ = decision_line(rig.warden, "/reject/oversized-size")
    assert f"token is {len(token)} bytes; the limit is 8192" in entry["reason"]


def test_trailing_slash_issuer_reason_says_so(rig):
    denied(check(rig.client, rig.minter.mint(iss=rig.idp.issuer + "/"), "/reject/iss-slash-hint"))
    entry, _ = decision_line(rig.warden, "/reject/iss-slash-hint")
    assert "trailing slash" in entry["reason"]


def test_remote_oct_key_is_skipped_with_a_logged_reason(rig):
    assert check(rig.client, Minter(rig.oct_idp).mint(), "/octidp/rsa").HasField("ok_response")
    log = rig.warden.log_text()
    assert 'kid \\"hs-remote\\"' in log or 'kid "hs-remote"' in log
    assert "symmetric (oct) keys are accepted only from operator-configured key sets" in log
    assert rig.remote_oct.public_jwk()["k"] not in log  # the secret itself is never logged


# -- clock skew, --require-expiration, --max-token-bytes -------------------------------------------------

@pytest.fixture(scope="module")
def strict_warden(rig, warden_bin, tmp_path_factory):
    base = tmp_path_factory.mktemp("jwt-strict")
    w = Warden(policies_for(base / "policies", rig.idp, rig.oct_idp, rig.hs_keys), binary=warden_bin, work_dir=base,
               extra_args=["--clock-skew", "10", "--require-expiration", "--max-token-bytes", "1024"])
    client = AuthzClient(w.address)
    yield w, client
    client.close()
    w.stop()
    w.process.unregister()


@pytest.mark.parametrize("which,skew", [("default", 60), ("strict", 10)])
def test_clock_skew_edges(rig, strict_warden, which, skew):
    client = rig.client if which == "default" else strict_warden[1]
    now = int(time.time())
    margin = 5  # seconds inside / outside the window: the check runs well within it

    def outcome(name, **claims):
        response = check(client, rig.minter.mint(**claims), f"/skew/{which}/{name}")
        return "allow" if response.HasField("ok_response") else denied(response)[1]
    assert outcome("exp-inside", iat=now - 600, exp=now - skew + margin) == "allow"
    assert outcome("exp-outside", iat=now - 600, exp=now - skew - margin) == EXPIRED
    assert outcome("nbf-inside", nbf=now + skew - margin, exp=now + 600) == "allow"
    assert outcome("nbf-outside", nbf=now + skew + margin, exp=now + 600) == NOT_YET_VALID


def test_require_expiration_rejects_a_token_without_exp(rig, strict_warden):
    w, client = strict_warden
    token = rig.minter.mint(exp=None)
    assert check(rig.client, token, "/noexp/default").HasField("ok_response")  # Istio's default accepts it
    status, body, _ = denied(check(client, token, "/noexp/strict"))
    assert (status, body) == (401, EXPIRED)
    entry, _ = decision_line(w, "/noexp/strict")
    assert entry["reason_code"] == "jwt_missing_expiration"
    assert 'no "exp"' in entry["reason"]


def test_max_token_bytes_is_configurable(rig, strict_warden):
    w, client = strict_warden
    small = rig.minter.mint(alg="ES256")
    assert len(small) < 1024
    assert check(client, small, "/size/small").HasField("ok_response")
    big = rig.minter.mint(alg="ES256", padding="x" * (1100 - len(small)))
    assert 1024 < len(big) < 8192
    assert check(rig.client, big, "/size/big-default").HasField("ok_response")
    status, body, _ = denied(check(client, big, "/size/big-strict"))
    assert (status, body) == (401, BAD_FORMAT)
    entry, _ = decision_line(w, "/size/big-strict")
    assert f"token is {len(big)} bytes; the limit is 1024" in entry["reason"]


# -- the same through a real Envoy ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def envoy(rig, make_envoy, upstream):
    return make_envoy(upstream_port=upstream.port, warden_port=rig.warden.port, routes=[Route(prefix="/")])


def test_every_rejection_reaches_the_client_through_envoy(rig, envoy, upstream):
    upstream.clear()
    mismatches = []
    for case in CASES:
        path = f"/envoy/{case.name}"
        response = httpclient.request("GET", envoy.url(path), headers={"authorization": f"Bearer {case.make(rig)}"})
        got = (response.status, response.body.decode(errors="replace"), response.headers.get("www-authenticate"))
        want = (case.status, case.body, f'Bearer realm="http://{envoy_authority(envoy)}{path}", error="invalid_token"')
        if got != want:
            mismatches.append((case.name, got, want))
    assert mismatches == []
    assert upstream.count() == 0


def envoy_authority(envoy) -> str:
    return envoy.base_url.split("://", 1)[1]


@pytest.mark.parametrize("alg", ["RS256", "PS512", "ES384", "EdDSA", "HS256"])
def test_valid_token_reaches_the_upstream_through_envoy_without_the_token(rig, envoy, upstream, alg):
    if alg == "HS256":
        token = rig.minter.mint(alg=alg, key=rig.hs_keys[alg], iss=HS_ISSUER, aud=None)
    else:
        token = rig.minter.mint(alg=alg)
    upstream.clear()
    response = httpclient.request("GET", envoy.url(f"/ok/{alg}"), headers={"authorization": f"Bearer {token}"})
    assert response.status == 200, response.text
    assert "authorization" not in response.json()["headers"]
    assert upstream.count() == 1
