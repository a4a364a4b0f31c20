"""DPoP (RFC 9449) through a real Envoy (issue 17): a token bound to a DPoP key (`cnf.jkt`) comes as
`Authorization: DPoP <token>` with a `DPoP` proof header, which Envoy passes to Warden in the CheckRequest.
Warden checks the proof as RFC 9449 §4.3 says — typ, asymmetric alg, public jwk, signature, htm, htu, iat
window, ath, the token's jkt — and refuses a replayed jti. Proofs are minted with joserfc, as a client would.
Envoy's own jwt_authn has no DPoP support at all (the Bearer-only extraction misses these tokens)."""
from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid

import pytest
from joserfc import jws
from joserfc.jwk import ECKey

from harness import httpclient
from harness.tokens import Minter
from harness.warden import ALLOW_ALL_POLICY, write_policy_dir

ALGS = "ES256 ES384 ES512 EdDSA PS256 PS384 PS512 RS256 RS384 RS512"


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(key: ECKey) -> str:
    """RFC 7638 over the public members."""
    pub = key.as_dict(private=False)
    members = {k: pub[k] for k in ("crv", "kty", "x", "y")}
    return b64u(hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest())


def proof(key: ECKey, method: str, url: str, token: str | None, *, iat: int | None = None, jti: str | None = None,
          typ: str = "dpop+jwt", ath: str | None = None, nonce: str | None = None) -> str:
    header = {"typ": typ, "alg": "ES256", "jwk": key.as_dict(private=False)}
    claims = {"jti": jti or str(uuid.uuid4()), "htm": method, "htu": url, "iat": iat if iat is not None else int(time.time())}
    if nonce is not None:
        claims["nonce"] = nonce
    if token is not None:
        claims["ath"] = ath or b64u(hashlib.sha256(token.encode()).digest())
    return jws.serialize_compact(header, json.dumps(claims).encode(), key, algorithms=["ES256"])


@pytest.fixture(scope="module")
def rig(module_idp, upstream, warden_bin, make_envoy, tmp_path_factory):
    from harness.warden import Warden
    base = tmp_path_factory.mktemp("dpop")
    ra = ("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: default}\n"
          f"spec:\n  jwtRules:\n  - issuer: {module_idp.issuer}\n    jwksUri: {module_idp.jwks_uri}\n")
    w = Warden(write_policy_dir(base / "p", {"allow-all.yaml": ALLOW_ALL_POLICY, "ra.yaml": ra}), binary=warden_bin, work_dir=base)
    envoy = make_envoy(upstream_port=upstream.port, warden_port=w.port)
    key = ECKey.generate_key("P-256")
    token = Minter(module_idp).mint(cnf={"jkt": thumbprint(key)})
    yield envoy, key, token
    w.stop()
    w.process.unregister()


def send(envoy, token: str, dpop: str | None, *, scheme: str = "DPoP", method: str = "GET", path: str = "/data"):
    headers = {"authorization": f"{scheme} {token}"}
    if dpop is not None:
        headers["dpop"] = dpop
    return httpclient.request(method, envoy.url(path), headers=headers)


def test_a_valid_proof_binds_the_token_and_cannot_be_replayed(rig):
    envoy, key, token = rig
    p = proof(key, "GET", envoy.url("/data"), token)
    assert send(envoy, token, p).status == 200
    again = send(envoy, token, p)
    assert (again.status, again.body) == (401, b"DPoP proof is invalid")
    assert again.headers["www-authenticate"].startswith("DPoP realm=") and 'error="invalid_dpop_proof"' in again.headers["www-authenticate"]
    assert f'algs="{ALGS}"' in again.headers["www-authenticate"]
    # A fresh proof for the next request works again.
    assert send(envoy, token, proof(key, "GET", envoy.url("/data"), token)).status == 200


@pytest.mark.parametrize("case", ["no proof", "wrong method", "wrong uri", "query ignored", "old iat", "future iat",
                                  "wrong ath", "no ath", "typ JWT", "two proofs", "not a jws"])
def test_each_proof_rule(rig, case):
    envoy, key, token = rig
    url = envoy.url("/data")
    status, body = 401, b"DPoP proof is invalid"
    if case == "no proof":
        p = None
    elif case == "wrong method":
        p = proof(key, "POST", url, token)
    elif case == "wrong uri":
        p = proof(key, "GET", envoy.url("/other"), token)
    elif case == "query ignored":  # §4.3 step 9: htu without query and fragment; the request has a query
        r = send(envoy, token, proof(key, "GET", url, token), path="/data?x=1")
        assert r.status == 200, r.body
        return
    elif case == "old iat":
        p = proof(key, "GET", url, token, iat=int(time.time()) - 300)
    elif case == "future iat":
        p = proof(key, "GET", url, token, iat=int(time.time()) + 300)
    elif case == "wrong ath":
        p = proof(key, "GET", url, token, ath=b64u(b"\0" * 32))
    elif case == "no ath":
        p = proof(key, "GET", url, None)
    elif case == "typ JWT":
        p = proof(key, "GET", url, token, typ="JWT")
    elif case == "two proofs":
        p = proof(key, "GET", url, token) + "," + proof(key, "GET", url, token)
    else:
        p = "not-a-jws"
    r = send(envoy, token, p)
    assert (r.status, r.body) == (status, body), case


def raw_proof(header: dict, claims: dict, signing_input_key=None, alg: str = "ES256", *, signature: bytes | None = None) -> str:
    """A compact JWS built by hand (joserfc refuses to make the bad ones a client could send)."""
    h = b64u(json.dumps(header).encode())
    c = b64u(json.dumps(claims).encode())
    if signature is None:
        signed = jws.serialize_compact(header, json.dumps(claims).encode(), signing_input_key, algorithms=[alg])
        return signed
    return f"{h}.{c}.{b64u(signature)}"


def claims_for(url: str, token: str, **extra) -> dict:
    c = {"jti": str(uuid.uuid4()), "htm": "GET", "htu": url, "iat": int(time.time()),
         "ath": b64u(hashlib.sha256(token.encode()).digest())}
    c.update(extra)
    return c


# RFC 9449 §4.3: step 5 (alg is asymmetric, never none/MAC), step 6 (the signature verifies with the jwk),
# step 7 (the jwk holds no private key); §4.2: the jti is an id, not a payload (Warden bounds it at 256 bytes).
@pytest.mark.parametrize("case", ["alg none", "alg HS256", "private jwk", "bad signature", "huge jti", "typ upper case"])
def test_proof_algorithms_and_keys(rig, case):
    from joserfc.jwk import OctKey
    envoy, key, token = rig
    url = envoy.url("/data")
    public = key.as_dict(private=False)
    expected = 401
    if case == "alg none":
        p = raw_proof({"typ": "dpop+jwt", "alg": "none", "jwk": public}, claims_for(url, token), signature=b"")
    elif case == "alg HS256":
        secret = OctKey.generate_key(256)
        p = jws.serialize_compact({"typ": "dpop+jwt", "alg": "HS256", "jwk": public}, json.dumps(claims_for(url, token)).encode(),
                                  secret, algorithms=["HS256"])
    elif case == "private jwk":
        p = jws.serialize_compact({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=True)},
                                  json.dumps(claims_for(url, token)).encode(), key, algorithms=["ES256"])
    elif case == "bad signature":
        good = proof(key, "GET", url, token)
        head, body, sig = good.split(".")
        p = f"{head}.{body}.{sig[:-4]}AAAA"
    elif case == "huge jti":
        p = jws.serialize_compact({"typ": "dpop+jwt", "alg": "ES256", "jwk": public},
                                  json.dumps(claims_for(url, token, jti="x" * 257)).encode(), key, algorithms=["ES256"])
    else:  # media types are case-insensitive (RFC 9110 §8.3.1): DPOP+JWT is the same typ
        p = proof(key, "GET", url, token, typ="DPOP+JWT")
        expected = 200
    r = send(envoy, token, p)
    assert r.status == expected, (case, r.body)
    if expected == 401:
        assert r.body == b"DPoP proof is invalid", case
        assert 'error="invalid_dpop_proof"' in r.headers["www-authenticate"]


def test_an_rsa_proof_key_binds_an_rsa_thumbprint(rig, module_idp):
    """RFC 7638 thumbprints of RSA keys use e, kty, n; an RSA-signed proof (PS256) is accepted."""
    from joserfc.jwk import RSAKey
    envoy, _, _ = rig
    rsa = RSAKey.generate_key(2048)
    pub = rsa.as_dict(private=False)
    members = {k: pub[k] for k in ("e", "kty", "n")}
    jkt = b64u(hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest())
    token = Minter(module_idp).mint(cnf={"jkt": jkt})
    url = envoy.url("/data")
    p = jws.serialize_compact({"typ": "dpop+jwt", "alg": "PS256", "jwk": pub}, json.dumps(claims_for(url, token)).encode(),
                              rsa, algorithms=["PS256"])
    assert send(envoy, token, p).status == 200


# RFC 7800 §3: `cnf` names one key; every member Warden finds there must be satisfied, and one it cannot check
# (`jwk`, `kid`, …) rejects the token rather than being ignored.
@pytest.mark.parametrize("case", ["jkt and unknown member", "jkt and x5t#S256 without a certificate"])
def test_every_cnf_member_must_hold(rig, module_idp, case):
    envoy, key, _ = rig
    cnf = {"jkt": thumbprint(key)}
    if case == "jkt and unknown member":
        cnf["kid"] = "some-key"
        body = b"Jwt confirmation method is not supported"
    else:
        cnf["x5t#S256"] = b64u(b"\1" * 32)
        body = b"Jwt is bound to another client certificate"
    token = Minter(module_idp).mint(cnf=cnf)
    r = send(envoy, token, proof(key, "GET", envoy.url("/data"), token))
    assert (r.status, r.body) == (401, body), case


def test_the_proof_key_must_be_the_tokens(rig):
    envoy, _, token = rig
    other = ECKey.generate_key("P-256")
    r = send(envoy, token, proof(other, "GET", envoy.url("/data"), token))
    assert (r.status, r.body) == (401, b"Jwt is not bound to the DPoP proof's key")
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


def test_an_unbound_token_with_the_dpop_scheme_is_refused(rig, module_idp):
    envoy, key, _ = rig
    plain = Minter(module_idp).mint()
    r = send(envoy, plain, proof(key, "GET", envoy.url("/data"), plain))
    assert (r.status, r.body) == (401, b"Jwt is not bound to the DPoP proof's key")


def test_a_dpop_bound_token_as_bearer_is_refused(rig):
    envoy, key, token = rig
    r = send(envoy, token, proof(key, "GET", envoy.url("/data"), token), scheme="Bearer")
    assert (r.status, r.body) == (401, b"Jwt is DPoP-bound and needs a DPoP proof")


# ------------------------------------------------------------------ replay across replicas (real Redis)

class Redis:
    """A real redis-server on 127.0.0.1 (Debian's, installed by `make test`), no persistence."""

    def __init__(self, directory, port: int | None = None):
        import shutil
        import socket
        import subprocess
        from harness.ports import free_port, wait_until
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server missing (make test installs it)")
        self.port = port or free_port()
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(directory)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up():
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                return False
        wait_until(up, 10, what="redis-server")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


@pytest.fixture
def replicas(module_idp, upstream, warden_bin, make_warden, make_envoy, tmp_path):
    """Two Warden replicas (each behind its own Envoy) with the given extra flags."""
    ra = ("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: default}\n"
          f"spec:\n  jwtRules:\n  - issuer: {module_idp.issuer}\n    jwksUri: {module_idp.jwks_uri}\n")
    policies = write_policy_dir(tmp_path / "p", {"allow-all.yaml": ALLOW_ALL_POLICY, "ra.yaml": ra})

    def start(*flags: str):
        out = []
        for _ in range(2):
            w = make_warden(policies, extra_args=list(flags))
            out.append(make_envoy(upstream_port=upstream.port, warden_port=w.port))
        return out
    return start


def same_proof_on_both(envoys, module_idp) -> tuple[int, int]:
    """The same key and jti through replica A, then replica B (each proof names its replica's URL in htu:
    the Envoys listen on different ports). The replay key is the proof's key and jti."""
    key = ECKey.generate_key("P-256")
    token = Minter(module_idp).mint(cnf={"jkt": thumbprint(key)})
    jti = str(uuid.uuid4())
    a = send(envoys[0], token, proof(key, "GET", envoys[0].url("/data"), token, jti=jti))
    b = send(envoys[1], token, proof(key, "GET", envoys[1].url("/data"), token, jti=jti))
    return a.status, b.status


def test_a_proof_id_used_on_one_replica_is_refused_on_the_other_with_redis(replicas, module_idp, tmp_path):
    redis = Redis(tmp_path)
    try:
        envoys = replicas("--dpop-replay-redis", f"127.0.0.1:{redis.port}")
        assert same_proof_on_both(envoys, module_idp) == (200, 401)
    finally:
        redis.stop()


def test_without_redis_each_replica_remembers_only_its_own_proofs(replicas, module_idp):
    """The documented per-process default: the second replica has not seen the jti."""
    assert same_proof_on_both(replicas(), module_idp) == (200, 200)


@pytest.mark.parametrize("mode, status", [("deny", 503), ("local", 200)])
def test_redis_down_fails_closed_unless_told_to_fall_back(replicas, module_idp, tmp_path, mode, status):
    redis = Redis(tmp_path)
    envoys = replicas("--dpop-replay-redis", f"127.0.0.1:{redis.port}", "--dpop-replay-unavailable", mode)
    redis.stop()
    key = ECKey.generate_key("P-256")
    token = Minter(module_idp).mint(cnf={"jkt": thumbprint(key)})
    started = time.monotonic()
    r = send(envoys[0], token, proof(key, "GET", envoys[0].url("/data"), token))
    assert r.status == status, r.body
    assert time.monotonic() - started < 1.0  # bounded by the Redis timeout, never Envoy's
    if status == 503:
        assert r.body == b"DPoP replay cache is unavailable"


def fresh_check(envoy, module_idp):
    key = ECKey.generate_key("P-256")
    token = Minter(module_idp).mint(cnf={"jkt": thumbprint(key)})
    return send(envoy, token, proof(key, "GET", envoy.url("/data"), token))


def test_a_redis_restart_does_not_fail_the_next_check(replicas, module_idp, tmp_path):
    """Warden keeps idle Redis connections; after a restart the pooled one is dead. The first command on it
    fails at once, and Warden retries it once on a fresh connection instead of failing the check closed."""
    redis = Redis(tmp_path)
    try:
        envoys = replicas("--dpop-replay-redis", f"127.0.0.1:{redis.port}", "--dpop-replay-unavailable", "deny")
        assert fresh_check(envoys[0], module_idp).status == 200
        redis.stop()
        redis = Redis(tmp_path, port=redis.port)
        r = fresh_check(envoys[0], module_idp)
        assert r.status == 200, r.body
    finally:
        redis.stop()


def test_a_hung_redis_is_not_waited_for_on_every_check_and_is_retried_later(replicas, module_idp, tmp_path):
    """A Redis that accepts connections and never answers costs one check the command timeout (300 ms here);
    after that failure Warden answers from its breaker (503 at once, fail-closed) for a cooldown of 1 s, then
    probes again: when Redis is back, checks pass without restarting Warden."""
    import socket
    redis = Redis(tmp_path)
    port = redis.port
    envoys = replicas("--dpop-replay-redis", f"127.0.0.1:{port}", "--dpop-replay-unavailable", "deny",
                      "--dpop-replay-redis-timeout", "300ms")
    redis.stop()
    hung = socket.socket()
    hung.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    hung.bind(("127.0.0.1", port))
    hung.listen(64)  # connections complete in the kernel's backlog; nothing ever reads or answers
    try:
        started = time.monotonic()
        assert fresh_check(envoys[0], module_idp).status == 503
        assert time.monotonic() - started >= 0.25  # it did wait for the command timeout once
        started = time.monotonic()
        r = fresh_check(envoys[0], module_idp)
        assert (r.status, r.body) == (503, b"DPoP replay cache is unavailable")
        assert time.monotonic() - started < 0.2  # the breaker answered
    finally:
        hung.close()
    redis = Redis(tmp_path, port=port)
    try:
        deadline = time.monotonic() + 5
        while (status := fresh_check(envoys[0], module_idp).status) != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status == 200
    finally:
        redis.stop()


# ------------------------------------------------------------------ server nonces (RFC 9449 §9)
# RFC 9449 §9: a resource server may require a nonce it provides in every proof; a proof without one is
# answered 401 with `WWW-Authenticate: DPoP error="use_dpop_nonce"` and a `DPoP-Nonce` header (Figure 24),
# and, as §8.2 allows, a fresh nonce may come in a successful response. Warden's nonces are stateless
# (`--dpop-nonce-key-file`), so two replicas sharing the file accept each other's.

NONCE_KEY = bytes(range(32, 64))


def forge_nonce(key: bytes, issued_at: int, jkt: str) -> str:
    """A nonce in Warden's documented format, computed here independently: base64url(version 1 ‖ issued-at
    (8 bytes big-endian) ‖ HMAC-SHA256(key, label ‖ version ‖ issued-at ‖ jkt))."""
    import hmac
    head = bytes([1]) + issued_at.to_bytes(8, "big")
    return b64u(head + hmac.new(key, b"warden dpop-nonce v1\0" + head + jkt.encode(), hashlib.sha256).digest())


@pytest.fixture
def nonce_replicas(replicas, tmp_path):
    keyfile = tmp_path / "nonce.key"
    keyfile.write_bytes(NONCE_KEY)
    return replicas("--dpop-nonce-key-file", str(keyfile))


def use_dpop_nonce(r, description: str) -> str:
    """Checks a use_dpop_nonce answer and returns the fresh nonce it carries."""
    assert (r.status, r.body) == (401, b"DPoP proof needs the server's nonce"), r.body
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith("DPoP realm=") and 'error="use_dpop_nonce"' in challenge, challenge
    assert f'error_description="{description}"' in challenge and f'algs="{ALGS}"' in challenge, challenge
    nonce = r.headers.get("dpop-nonce")
    assert nonce is not None and len(nonce) == 55, r.headers
    return nonce


def test_a_proof_without_a_nonce_gets_one_and_the_retry_passes_on_either_replica(nonce_replicas, module_idp):
    a, b = nonce_replicas
    key = ECKey.generate_key("P-256")
    token = Minter(module_idp).mint(cnf={"jkt": thumbprint(key)})
    nonce = use_dpop_nonce(send(a, token, proof(key, "GET", a.url("/data"), token)),
                           "Resource server requires nonce in DPoP proof")
    # The client retries with the nonce it was given: on the replica that issued it, and on the other one.
    first = send(a, token, proof(key, "GET", a.url("/data"), token, nonce=nonce))
    assert first.status == 200, first.body
    assert "dpop-nonce" not in first.headers  # a young nonce: nothing new to hand out
    assert send(b, token, proof(key, "GET", b.url("/data"), token, nonce=nonce)).status == 200
    # A nonce is issued for one proof key: another client's proof cannot use it.
    other = ECKey.generate_key("P-256")
    other_token = Minter(module_idp).mint(cnf={"jkt": thumbprint(other)})
    use_dpop_nonce(send(b, other_token, proof(other, "GET", b.url("/data"), other_token, nonce=nonce)),
                   "DPoP proof nonce is not valid")


@pytest.mark.parametrize("case", ["expired", "tampered", "another key", "empty"])
def test_a_bad_nonce_is_refused_with_a_fresh_one(nonce_replicas, module_idp, case):
    envoy = nonce_replicas[0]
    key = ECKey.generate_key("P-256")
    jkt = thumbprint(key)
    token = Minter(module_idp).mint(cnf={"jkt": jkt})
    now = int(time.time())
    description = "DPoP proof nonce is not valid"
    if case == "expired":  # default lifetime 5 minutes
        bad = forge_nonce(NONCE_KEY, now - 400, jkt)
        description = "DPoP proof nonce has expired"
    elif case == "tampered":  # a later issue time under the old MAC
        good = forge_nonce(NONCE_KEY, now - 400, jkt)
        raw = bytearray(base64.urlsafe_b64decode(good + "="))
        raw[1:9] = now.to_bytes(8, "big")
        bad = b64u(bytes(raw))
    elif case == "another key":
        bad = forge_nonce(b"\x01" * 32, now, jkt)
    else:
        bad = ""
    r = send(envoy, token, proof(key, "GET", envoy.url("/data"), token, nonce=bad))
    if case == "empty":  # an empty nonce claim is no claim at all (RFC 9449 §8.1: 1*NQCHAR)
        assert (r.status, r.body) == (401, b"DPoP proof is invalid")
        return
    fresh = use_dpop_nonce(r, description)
    assert fresh != bad
    assert send(envoy, token, proof(key, "GET", envoy.url("/data"), token, nonce=fresh)).status == 200


def test_a_nonce_past_half_its_life_brings_the_next_one_in_the_allowed_response(nonce_replicas, module_idp):
    """RFC 9449 §8.2: the next nonce in the 200 response, through Envoy's response_headers_to_add."""
    envoy = nonce_replicas[1]
    key = ECKey.generate_key("P-256")
    jkt = thumbprint(key)
    token = Minter(module_idp).mint(cnf={"jkt": jkt})
    old = forge_nonce(NONCE_KEY, int(time.time()) - 200, jkt)
    r = send(envoy, token, proof(key, "GET", envoy.url("/data"), token, nonce=old))
    assert r.status == 200, r.body
    fresh = r.headers.get("dpop-nonce")
    assert fresh is not None and fresh != old
    issued = int.from_bytes(base64.urlsafe_b64decode(fresh + "=")[1:9], "big")
    assert abs(issued - time.time()) < 5
    again = send(envoy, token, proof(key, "GET", envoy.url("/data"), token, nonce=fresh))
    assert again.status == 200 and "dpop-nonce" not in again.headers


def test_a_refused_nonce_does_not_use_up_the_proof(nonce_replicas, module_idp):
    """The nonce is checked before the replay store: the proof refused for its nonce was not remembered, so
    the proof ids (jti) of a client that retries are never in the way."""
    envoy = nonce_replicas[0]
    key = ECKey.generate_key("P-256")
    token = Minter(module_idp).mint(cnf={"jkt": thumbprint(key)})
    jti = str(uuid.uuid4())
    nonce = use_dpop_nonce(send(envoy, token, proof(key, "GET", envoy.url("/data"), token, jti=jti)),
                           "Resource server requires nonce in DPoP proof")
    assert send(envoy, token, proof(key, "GET", envoy.url("/data"), token, jti=jti, nonce=nonce)).status == 200


@pytest.mark.parametrize("size", [0, 31])
def test_a_short_nonce_key_stops_the_start(warden_bin, tmp_path, size):
    import subprocess
    keyfile = tmp_path / "short.key"
    keyfile.write_bytes(b"k" * size)
    policies = write_policy_dir(tmp_path / "p", {"allow-all.yaml": ALLOW_ALL_POLICY})
    r = subprocess.run([warden_bin, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                        "--policy", str(policies), "--dpop-nonce-key-file", str(keyfile)],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert f"holds {size} bytes: a nonce key needs 32" in r.stderr, r.stderr


def test_explain_walks_the_nonce_refusal(warden_bin, module_idp, tmp_path):
    import subprocess
    jwks = tmp_path / "jwks.json"
    jwks.write_bytes(httpclient.request("GET", module_idp.jwks_uri).body)
    keyfile = tmp_path / "nonce.key"
    keyfile.write_bytes(NONCE_KEY)
    ra = ("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: default}\n"
          f"spec:\n  jwtRules:\n  - issuer: {module_idp.issuer}\n    jwksUri: {module_idp.jwks_uri}\n")
    policies = write_policy_dir(tmp_path / "p", {"allow-all.yaml": ALLOW_ALL_POLICY, "ra.yaml": ra})
    key = ECKey.generate_key("P-256")
    token = Minter(module_idp).mint(cnf={"jkt": thumbprint(key)})
    url = "http://api.example.com/data"
    r = subprocess.run([warden_bin, "explain", "--policy", str(policies), "--jwks", str(jwks), "--host", "api.example.com",
                        "--path", "/data", "--header", f"authorization: DPoP {token}",
                        "--header", f"dpop: {proof(key, 'GET', url, token)}", "--dpop-nonce-key-file", str(keyfile)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "jwt_dpop_nonce_required" in r.stdout, r.stdout
    assert 'error="use_dpop_nonce"' in r.stdout and "dpop-nonce: " in r.stdout, r.stdout


# -- the other dialects -------------------------------------------------------------------------------------------------
# Envoy's jwt_authn reads no `cnf`; Warden holds a jwt_authn document's tokens to their binding as it does on the Istio
# path (README "Deliberately differs"), and a proof accepted by the jwt_authn step is not replayed by the Istio step
# that checks the same token (a SecurityPolicy's required jwt is both).

# One check may verify the same token several times (two documents, `requires_all` naming the provider twice): the
# proof is recorded against replay once, at its first acceptance, and the later verifications do not see a replay.
@pytest.mark.parametrize("dialect", ["jwt_authn", "security_policy", "two_jwt_authn_documents", "requires_all_twice"])
def test_other_dialects_hold_dpop_tokens_to_their_binding(dialect, module_idp, upstream, make_warden, make_envoy, tmp_path):
    if dialect != "security_policy":
        doc = {"providers": {"idp": {"issuer": module_idp.issuer, "remote_jwks": {"http_uri": {"uri": module_idp.jwks_uri}}}},
               "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}]}
        files, extra = {"jwt-authn.yaml": json.dumps(doc)}, []
        if dialect == "two_jwt_authn_documents":
            # The first filter must forward the token, or (as in Envoy: handleGoodJwt → removeJwt) the second
            # one finds none: 401 Jwt is missing.
            doc["providers"]["idp"]["forward"] = True
            files = {"jwt-authn.yaml": json.dumps(doc), "jwt-authn-2.yaml": json.dumps(doc)}
        if dialect == "requires_all_twice":
            doc["rules"][0]["requires"] = {"requires_all": {"requirements": [{"provider_name": "idp"}, {"provider_name": "idp"}]}}
            files = {"jwt-authn.yaml": json.dumps(doc)}
    else:
        files = {"sp.yaml": f"""\
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {{name: sp, namespace: default}}
spec:
  targetRefs: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, name: backend}}]
  jwt:
    providers:
    - {{name: idp, issuer: "{module_idp.issuer}", remoteJWKS: {{uri: "{module_idp.jwks_uri}"}}}}
"""}
        extra = ["--target", "HTTPRoute/backend"]
    w = make_warden(write_policy_dir(tmp_path / "p", files), extra_args=extra)
    envoy = make_envoy(upstream_port=upstream.port, warden_port=w.port)
    key = ECKey.generate_key("P-256")
    token = Minter(module_idp).mint(cnf={"jkt": thumbprint(key)})
    as_bearer = send(envoy, token, None, scheme="Bearer")
    assert as_bearer.status == 401, as_bearer
    p = proof(key, "GET", envoy.url("/data"), token)
    assert send(envoy, token, p).status == 200
    assert send(envoy, token, p).status == 401     # the same proof again is a replay
    assert send(envoy, token, None).status == 401  # no proof
