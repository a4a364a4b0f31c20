"""Mint a demo token signed with deploy/demo/demo-signing-key.pem (a DEMO key, public in this repository).

Usage: .venv/bin/python deploy/demo/mint-token.py [--scope "orders:read orders:write"] [--sub alice] [--ttl 3600]
"""
import argparse, pathlib, time
from joserfc import jwt
from joserfc.jwk import RSAKey

here = pathlib.Path(__file__).resolve().parent
p = argparse.ArgumentParser()
p.add_argument("--sub", default="alice")
p.add_argument("--scope", default="orders:read")
p.add_argument("--ttl", type=int, default=3600)
a = p.parse_args()
key = RSAKey.import_key((here / "demo-signing-key.pem").read_bytes())
now = int(time.time())
claims = {"iss": "https://demo.warden.local", "sub": a.sub, "aud": "orders-api", "scope": a.scope, "iat": now, "exp": now + a.ttl}
print(jwt.encode({"alg": "RS256", "kid": "demo-2026", "typ": "JWT"}, claims, key))
