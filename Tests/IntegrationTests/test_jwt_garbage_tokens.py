"""1000 random garbage tokens in `Authorization: Bearer …` through the real `warden` binary: every one is
a 401 with one of Envoy jwt_authn's bodies, and the server stays healthy and keeps validating. (The
parsers themselves are fuzzed by the Swift unit tests; this checks the binary end to end.) Needs WARDEN_BIN.
"""
from __future__ import annotations

import base64
import json
import random
from concurrent.futures import ThreadPoolExecutor

from harness.grpc_client import SERVING, AuthzClient
from harness.tokens import b64url
from harness.warden import ALLOW_ALL_POLICY, write_policy_dir

ENVOY_401_BODIES = {
    "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
    "Jwt header is an invalid Base64url encoded",
    "Jwt header is an invalid JSON",
    "Jwt header [alg] field is required and must be a string",
    "Jwt header [alg] is not supported",
    "Jwt header [kid] field is not a string",
    "Jwt payload is an invalid Base64url encoded",
    "Jwt payload is an invalid JSON",
    "Jwt signature is an invalid Base64url encoded",
    "Jwt payload [iss] field is not a string",
    "Jwt payload [aud] field is not a string or string list",
    "Jwt payload [exp] field is not an integer",
    "Jwt payload [exp] field is not a positive 64 bit integer",
    "Jwt issuer is not configured",
    "Jwt verification fails",
}


def garbage(rng: random.Random, idp_issuer: str) -> str:
    """One random token-shaped (or not) string; never empty."""
    kind = rng.randrange(10)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    if kind == 0:  # base64url-ish characters and dots, any length
        return "".join(rng.choices(alphabet, k=rng.randint(1, 600)))
    if kind == 1:  # printable ASCII, including spaces and quotes
        return "".join(chr(rng.randint(0x21, 0x7E)) for _ in range(rng.randint(1, 300)))
    if kind == 2:  # 1..6 segments of random bytes, base64url-encoded
        return ".".join(b64url(rng.randbytes(rng.randint(0, 200))) for _ in range(rng.randint(1, 6)))
    if kind == 3:  # three segments, each with a stray padding or standard-base64 character
        segs = [b64url(rng.randbytes(rng.randint(1, 120))) for _ in range(3)]
        i = rng.randrange(3)
        segs[i] = segs[i][: len(segs[i]) // 2] + rng.choice("=+/ %") + segs[i][len(segs[i]) // 2:]
        return ".".join(segs)
    if kind == 4:  # JSON headers of random shapes (alg of every type, deep nesting, huge numbers)
        alg = rng.choice(["RS256", "none", "HS256", 7, None, ["RS256"], {"a": 1}, "", "ES256K", "A" * 300])
        header = {"alg": alg, "kid": rng.choice(["k", 1, None, [], "x" * 500])}
        if rng.random() < 0.2:
            header = json.loads("[" * 40 + "1" + "]" * 40)
        payload = rng.choice([{"iss": idp_issuer, "exp": rng.choice([1e300, -5, "x", 2**70])},
                              {"iss": rng.choice([1, None, [idp_issuer]])}, [], "string", 12,
                              {"aud": {"nested": True}, "iss": idp_issuer}])
        return ".".join([b64url(json.dumps(header)), b64url(json.dumps(payload)), b64url(rng.randbytes(64))])
    if kind == 5:  # valid JSON segments but not objects, or not UTF-8
        return ".".join([b64url(rng.choice([b"null", b"[]", b"\xff\xfe\x00", b'"x"', b"{"])) for _ in range(3)])
    if kind == 6:  # non-ASCII UTF-8
        return "".join(rng.choice("äöü€漢字🙂\u200b\u00a0") for _ in range(rng.randint(1, 50))) + "." * rng.randint(0, 4)
    if kind == 7:  # long: around and beyond the 8 KiB limit
        return "".join(rng.choices(alphabet, k=rng.choice([8191, 8192, 8193, 20000])))
    if kind == 8:  # well-formed and for the right issuer, with a random signature of random length
        alg, kid = rng.choice([("RS256", "rsa-1"), ("ES256", "ec-1"), ("EdDSA", "ed-1")])
        claims = {"iss": idp_issuer, "sub": "x", "exp": 4102444800}
        return ".".join([b64url(json.dumps({"alg": alg, "kid": kid})), b64url(json.dumps(claims)),
                         b64url(rng.randbytes(rng.choice([0, 1, 63, 64, 65, 255, 256, 257])))])
    # standard base64 (with + / =) of a plausible header
    return base64.b64encode(json.dumps({"alg": "RS256", "typ": "JWT"}).encode()).decode() + ".e30.c2ln"


def test_1000_garbage_tokens_are_all_401_and_the_server_stays_healthy(make_warden, idp, minter, tmp_path):
    ra = ("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n"
          "metadata: {name: jwt, namespace: default}\nspec:\n  jwtRules:\n"
          f"  - issuer: {idp.issuer}\n    jwksUri: {idp.jwks_uri}\n")
    w = make_warden(write_policy_dir(tmp_path / "p", {"allow-all.yaml": ALLOW_ALL_POLICY, "ra.yaml": ra}))
    rng = random.Random(20261124)
    tokens = [garbage(rng, idp.issuer) for _ in range(1000)]
    with AuthzClient(w.address) as client:
        assert client.check(headers={"authorization": f"Bearer {minter.mint()}"}).HasField("ok_response")

        def one(token: str):
            response = client.check(path="/garbage", headers={"authorization": f"Bearer {token}"})
            if response.HasField("ok_response"):
                return (200, "allowed")
            return (response.denied_response.status.code, response.denied_response.body)
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(one, tokens))

        unexpected = [(t[:80], r) for t, r in zip(tokens, results) if r[0] != 401 or r[1] not in ENVOY_401_BODIES]
        assert unexpected == []
        # Still healthy, ready and validating.
        assert w.process.alive()
        assert client.health() == SERVING
        assert w.admin_status("/healthz")[0] == 200
        assert w.admin_status("/readyz")[0] == 200
        assert client.check(headers={"authorization": f"Bearer {minter.mint(sub='after')}"}).HasField("ok_response")
