#!/usr/bin/env python3
"""Mints keys, a JWKS and one signed JWT per algorithm with joserfc/cryptography.

Usage: mint_tokens.py OUTDIR NOW
Writes OUTDIR/cases.json: {"jwks": {...public keys...}, "secrets": {...oct JWKS...},
"tokens": [{"alg", "kid", "token", "claims"}], "pem": {kid: SPKI PEM}}.
"""
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

out = Path(sys.argv[1])
now = int(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)

keys = {}
rsa_key = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
keys["rsa"] = rsa_key
keys["p256"] = ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
keys["p384"] = ECKey.import_key(ec.generate_private_key(ec.SECP384R1()))
keys["p521"] = ECKey.import_key(ec.generate_private_key(ec.SECP521R1()))
keys["ed25519"] = OKPKey.import_key(ed25519.Ed25519PrivateKey.generate())
secret = OctKey.import_key(bytes(range(64)))

plan = [
    ("RS256", "rsa"), ("RS384", "rsa"), ("RS512", "rsa"),
    ("PS256", "rsa"), ("PS384", "rsa"), ("PS512", "rsa"),
    ("ES256", "p256"), ("ES384", "p384"), ("ES512", "p521"),
    ("EdDSA", "ed25519"),
    ("HS256", "hmac"), ("HS384", "hmac"), ("HS512", "hmac"),
]
registry = jwt.JWTClaimsRegistry()
tokens = []
for alg, name in plan:
    key = secret if name == "hmac" else keys[name]
    claims = {"iss": "https://issuer.example", "sub": f"user-{alg}", "aud": ["api", "other"],
              "iat": now, "nbf": now - 10, "exp": now + 3600, "azp": "client-1", "scope": "read write",
              "nested": {"a": {"b": "c"}}}
    header = {"alg": alg, "kid": name, "typ": "JWT"}
    algs = [alg]
    token = jwt.encode(header, claims, key, algorithms=algs)
    # Self-check with joserfc before handing to Swift.
    jwt.decode(token, key, algorithms=algs)
    tokens.append({"alg": alg, "kid": name, "token": token, "claims": claims})
    # The same token without kid, to exercise "try every key of the right type".
    nokid = jwt.encode({"alg": alg}, claims, key, algorithms=algs)
    tokens.append({"alg": alg, "kid": None, "token": nokid, "claims": claims})

jwks = {"keys": []}
pem = {}
for name, key in keys.items():
    d = key.as_dict(private=False)
    d["kid"] = name
    d["use"] = "sig"
    jwks["keys"].append(d)
    pem[name] = key.as_pem(private=False).decode()
oct_jwks = {"keys": [dict(secret.as_dict(private=True), kid="hmac")]}

(out / "cases.json").write_text(json.dumps({"jwks": jwks, "secrets": oct_jwks, "tokens": tokens, "pem": pem}))
print(len(tokens))
