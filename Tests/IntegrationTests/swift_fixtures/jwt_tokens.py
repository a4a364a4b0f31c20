"""Keys, a JWKS and one signed JWT per algorithm, minted by joserfc/cryptography, for WardenJWTTests
(MintedTokenTests reads Tests/WardenJWTTests/Fixtures/minted-tokens.json; `swift test` starts no Python).

The fixture holds {"now", "jwks" (public keys), "secrets" (oct JWKS), "tokens": [{"alg", "kid", "token",
"claims"}], "pem": {kid: SPKI PEM}}: one token with and one without `kid` for every algorithm in PLAN.
Keys are random and RSA-PSS/ECDSA signatures are randomized, so a fresh mint never equals the committed
file byte for byte; `test_swift_fixtures.py` checks instead that the committed file is exactly PLAN's set
of cases and that joserfc verifies every committed token with the committed keys to the planned claims.

Regenerate (after changing PLAN or claims):
    .venv/bin/python Tests/IntegrationTests/swift_fixtures/jwt_tokens.py --write
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

REPO_ROOT = Path(__file__).resolve().parents[3]
FIXTURE = REPO_ROOT / "Tests/WardenJWTTests/Fixtures/minted-tokens.json"
NOW = 1_700_000_000
SECRET = bytes(range(64))
PLAN = [
    ("RS256", "rsa"), ("RS384", "rsa"), ("RS512", "rsa"),
    ("PS256", "rsa"), ("PS384", "rsa"), ("PS512", "rsa"),
    ("ES256", "p256"), ("ES384", "p384"), ("ES512", "p521"),
    ("EdDSA", "ed25519"),
    ("HS256", "hmac"), ("HS384", "hmac"), ("HS512", "hmac"),
]


def claims(alg: str, now: int = NOW) -> dict:
    return {"iss": "https://issuer.example", "sub": f"user-{alg}", "aud": ["api", "other"],
            "iat": now, "nbf": now - 10, "exp": now + 3600, "azp": "client-1", "scope": "read write",
            "nested": {"a": {"b": "c"}}}


def planned_cases() -> list[tuple[str, str | None]]:
    """(alg, kid) of every token, in order: each algorithm with its key's kid, then without kid."""
    return [case for alg, name in PLAN for case in ((alg, name), (alg, None))]


def mint(now: int = NOW) -> dict:
    keys = {
        "rsa": RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "p256": ECKey.import_key(ec.generate_private_key(ec.SECP256R1())),
        "p384": ECKey.import_key(ec.generate_private_key(ec.SECP384R1())),
        "p521": ECKey.import_key(ec.generate_private_key(ec.SECP521R1())),
        "ed25519": OKPKey.import_key(ed25519.Ed25519PrivateKey.generate()),
    }
    secret = OctKey.import_key(SECRET)
    tokens = []
    for alg, name in PLAN:
        key = secret if name == "hmac" else keys[name]
        c = claims(alg, now)
        token = jwt.encode({"alg": alg, "kid": name, "typ": "JWT"}, c, key, algorithms=[alg])
        jwt.decode(token, key, algorithms=[alg])  # self-check before committing
        tokens.append({"alg": alg, "kid": name, "token": token, "claims": c})
        # The same claims without kid, to exercise "try every key of the right type".
        nokid = jwt.encode({"alg": alg}, c, key, algorithms=[alg])
        tokens.append({"alg": alg, "kid": None, "token": nokid, "claims": c})
    jwks = {"keys": [dict(key.as_dict(private=False), kid=name, use="sig") for name, key in keys.items()]}
    pem = {name: key.as_pem(private=False).decode() for name, key in keys.items()}
    secrets = {"keys": [dict(secret.as_dict(private=True), kid="hmac")]}
    return {"now": now, "jwks": jwks, "secrets": secrets, "tokens": tokens, "pem": pem}


def main(argv: list[str]) -> int:
    if argv[1:] != ["--write"]:
        print(__doc__)
        return 2
    FIXTURE.write_text(json.dumps(mint(), indent=1) + "\n")
    print(f"wrote {FIXTURE.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
