"""Regenerates the committed seed corpora in fuzz/corpus/ (run with the repo's .venv python).

Seeds are small valid (and a few near-valid) inputs so libFuzzer starts from deep coverage."""
from __future__ import annotations

import base64
import hashlib
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Tests/IntegrationTests"))

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa  # noqa: E402
from google.protobuf import struct_pb2  # noqa: E402
from harness.grpc_client import make_check_request  # noqa: E402

CORPUS = ROOT / "fuzz/corpus"


def put(target: str, data: bytes) -> None:
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


def b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def uint(n: int) -> str:
    return b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def main() -> None:
    # HTTPAuthz: the target, then `name: value` lines (fuzz/targets/HTTPAuthz.swift)
    put("HTTPAuthz", b"/forward-auth\nx-forwarded-method: GET\nx-forwarded-uri: /public/..//orders?x=%2F\n"
                     b"x-forwarded-host: shop.example\nx-forwarded-proto: https\nauthorization: Bearer abc\n")
    put("HTTPAuthz", b"/auth-request\nx-original-method: POST\nx-original-uri: /orders/7\nx-forwarded-host: shop\n"
                     b"x-forwarded-uri: /public\nx-warden-client-address: [2001:db8::1]:443\n")
    put("HTTPAuthz", b"/envoy/orders?access_token=abc\nhost: shop.example\nx-forwarded-proto: http\nx-warden-sni: shop.example\n")

    # CheckRequest
    put("CheckRequest", make_check_request().SerializeToString())
    put("CheckRequest", make_check_request("POST", "/api/v1/items?x=1", {"authorization": "Bearer abc.def.ghi",
                                                                         "x-forwarded-for": "1.2.3.4"},
                                           source_principal="spiffe://cluster.local/ns/a/sa/b",
                                           context_extensions={"k": "v"}, body=b"hello").SerializeToString())
    req = make_check_request("GET", "/")
    s = struct_pb2.Struct()
    s.update({"a": {"b": [1, "x", True, None]}})
    req.attributes.metadata_context.filter_metadata["envoy.filters.http.jwt_authn"].CopyFrom(s)
    put("CheckRequest", req.SerializeToString())

    # JWT + JWKS
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    claims = {"iss": "https://idp.example", "sub": "alice", "aud": ["warden", "x"], "exp": 2000000000,
              "nbf": 1, "iat": 1, "jti": "j1", "scope": "read write", "groups": ["a", "b"],
              "nested": {"a": {"b": 1.5e3}}, "s": "\u00e9\\u0041"}

    def token(header: dict, sign) -> bytes:
        signing = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
        return f"{signing}.{b64(sign(signing.encode()))}".encode()

    put("JWT", token({"alg": "RS256", "kid": "rsa-1", "typ": "JWT"},
                     lambda m: rsa_key.sign(m, padding.PKCS1v15(), hashes.SHA256())))
    put("JWT", token({"alg": "ES256", "kid": "ec-1"}, lambda m: ec_key.sign(m, ec.ECDSA(hashes.SHA256()))))
    put("JWT", token({"alg": "EdDSA", "kid": "ed-1", "crit": ["b64"]}, lambda m: ed_key.sign(m)))
    put("JWT", token({"alg": "none"}, lambda m: b""))
    put("JWT", token({"alg": "HS256", "kid": "../../etc/passwd", "jku": "http://127.0.0.1/x"}, lambda m: b"x" * 32))

    rn = rsa_key.public_key().public_numbers()
    en = ec_key.public_key().public_numbers()
    ed_raw = ed_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    keys = [
        {"kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig", "n": uint(rn.n), "e": uint(rn.e)},
        {"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": b64(en.x.to_bytes(32, "big")), "y": b64(en.y.to_bytes(32, "big"))},
        {"kty": "OKP", "kid": "ed-1", "crv": "Ed25519", "x": b64(ed_raw)},
    ]
    put("JWKS", json.dumps({"keys": keys}).encode())
    put("JWKS", json.dumps({"keys": keys[1:] + [{"kty": "oct", "k": "c2VjcmV0"}]}).encode())
    put("JWKS", json.dumps({"keys": [{"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}]}).encode())
    put("JSON", json.dumps({"keys": keys}).encode())
    put("JSON", json.dumps(claims).encode())
    put("JSON", b'[1,-0.5e-3,"\\ud83d\\ude00",null,true,false,{"":[]}]')

    # Policy YAML: the demo config, the policy tests' error fixtures, and a compact all-features policy.
    for f in sorted((ROOT / "deploy/demo/policies").glob("*.yaml")):
        put("PolicyYAML", f.read_bytes())
    for f in sorted((ROOT / "Tests/WardenPolicyTests/Fixtures").rglob("*.yaml"))[:20]:
        put("PolicyYAML", f.read_bytes())
    put("PolicyYAML", b"""apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: p, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  action: DENY
  rules:
  - from: [{source: {principals: ["cluster.local/ns/*"], ipBlocks: ["10.0.0.0/8"], requestPrincipals: ["*"]}}]
    to: [{operation: {methods: ["GET"], paths: ["/admin/*", "*/x", "/a/{*}/b"], hosts: ["*.example.com"], ports: ["8080"]}}]
    when: [{key: request.auth.claims[groups], values: ["admins"]}, {key: request.headers[x-a], notValues: ["b"]}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: ra, namespace: istio-system}
spec:
  jwtRules:
  - issuer: https://idp.example
    jwksUri: http://127.0.0.1:1/jwks.json
    audiences: [warden]
    fromHeaders: [{name: x-jwt, prefix: "Bearer "}]
    fromParams: [token]
    outputClaimToHeaders: [{header: x-sub, claim: sub}]
    forwardOriginalToken: true
""")
    put("PolicyYAML", b"a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n")

    # Paths
    for p in ["/", "/a/b/../c", "/a/./b/%2e%2E/c", "/%2F%5c%41%7e?x=1#f", "\\a\\..\\b", "//a//b/", "/a/%00",
              "/a/%zz", "*", "http://h/x", "/..", "/a/b/c/../../../..", "/%252e%252e/"]:
        put("PathNormalizer", p.encode())


if __name__ == "__main__":
    main()
