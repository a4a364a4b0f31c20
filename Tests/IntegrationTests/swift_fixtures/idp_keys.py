"""Key material for the in-process identity provider of WardenJWKSTests (Tests/WardenJWKSTests/IdP.swift),
made with `cryptography`, in Tests/WardenJWKSTests/Fixtures/idp/:

  keys.json            public JWKs without kid/use/alg, POOL[kty, crv] of each kind; the IdP hands them out
                       in order under the kids a test asks for
  tls-cert.pem         a self-signed CA certificate for IP 127.0.0.1 (P-256, valid for 100 years); the IdP
  tls-key.pem          serves HTTPS with it and tests pass it to curl as the CA bundle. A test-only key.

Random on every run, so `test_swift_fixtures.py` checks properties (counts, curves, key sizes, the certificate's
SAN, CA flag, key match and remaining validity), not bytes. Regenerate:
    .venv/bin/python Tests/IntegrationTests/swift_fixtures/idp_keys.py --write
"""
from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

REPO_ROOT = Path(__file__).resolve().parents[3]
DIRECTORY = REPO_ROOT / "Tests/WardenJWKSTests/Fixtures/idp"
KEYS = DIRECTORY / "keys.json"
TLS_CERT = DIRECTORY / "tls-cert.pem"
TLS_KEY = DIRECTORY / "tls-key.pem"
# (kty, crv) -> how many distinct keys; enough for the largest key set a test serves.
POOL = {("RSA", None): 3, ("EC", "P-256"): 3, ("EC", "P-384"): 2, ("EC", "P-521"): 2, ("OKP", "Ed25519"): 2}
RSA_BITS = 2048
CERT_YEARS = 100
CURVES = {"P-256": (ec.SECP256R1, 32), "P-384": (ec.SECP384R1, 48), "P-521": (ec.SECP521R1, 66)}


def b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def uint(n: int, size: int = 0) -> str:
    return b64u(n.to_bytes(size or (n.bit_length() + 7) // 8, "big"))


def public_jwk(kty: str, crv: str | None) -> dict:
    if kty == "RSA":
        pub = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS).public_key().public_numbers()
        return {"kty": "RSA", "n": uint(pub.n), "e": uint(pub.e)}
    if kty == "EC":
        curve, size = CURVES[crv]
        pub = ec.generate_private_key(curve()).public_key().public_numbers()
        return {"kty": "EC", "crv": crv, "x": uint(pub.x, size), "y": uint(pub.y, size)}
    raw = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw)}


def self_signed() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "warden-test-idp")])
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365 * CERT_YEARS))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def main(argv: list[str]) -> int:
    if argv[1:] != ["--write"]:
        print(__doc__)
        return 2
    DIRECTORY.mkdir(parents=True, exist_ok=True)
    keys = [public_jwk(kty, crv) for (kty, crv), count in POOL.items() for _ in range(count)]
    KEYS.write_text(json.dumps({"keys": keys}, indent=1) + "\n")
    cert, key = self_signed()
    TLS_CERT.write_bytes(cert)
    TLS_KEY.write_bytes(key)
    for path in (KEYS, TLS_CERT, TLS_KEY):
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
