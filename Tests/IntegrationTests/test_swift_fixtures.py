"""The Swift unit tests' fixtures are what the reference implementations produce today.

`swift test` is hermetic: it reads committed fixture files instead of starting protoc, xds-protos, joserfc
or an IdP written in Python. This module checks each of them against the real peer (swift_fixtures/):
deterministic files are regenerated and compared byte for byte, random ones (keys, signatures) are checked
for what the Swift tests rely on. A failure names the command that rewrites the files.
"""
from __future__ import annotations

import datetime
import ipaddress
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc import jwt
from joserfc.jwk import JWKRegistry

from swift_fixtures import idp_keys, jwt_tokens, wire

WIRE_EXPECTED = wire.expected_files()
REWRITE_WIRE = "rewrite with: .venv/bin/python Tests/IntegrationTests/swift_fixtures/wire.py --write"


@pytest.mark.parametrize("path", sorted(WIRE_EXPECTED), ids=lambda p: p.name)
def test_wire_golden_is_what_the_reference_encoder_gives(path):
    assert path.exists(), f"{path.name} missing; {REWRITE_WIRE}"
    assert path.read_bytes() == WIRE_EXPECTED[path], f"{path.name} is stale; {REWRITE_WIRE}"


def test_no_golden_without_its_text():
    stray = wire.committed_files() - set(WIRE_EXPECTED)
    assert not stray, f"goldens without a .txtpb: {sorted(p.name for p in stray)}; {REWRITE_WIRE}"


@pytest.mark.parametrize("case", [c for c in wire.cases() if wire.xds_class(c.message)], ids=lambda c: c.path.stem)
def test_xds_protos_reads_the_protoc_encoding_as_the_text(case):
    """The Swift tests pin Swift's encoding to NAME.protoc.binpb; here xds-protos (upb) must parse those
    bytes as the message the text describes: together, Envoy's reference decoder reads Swift's encoding."""
    parsed = wire.xds_class(case.message).FromString(case.protoc_path.read_bytes())
    assert parsed == wire.xds_parse_text(case)


# --- WardenJWTTests/Fixtures/minted-tokens.json (swift_fixtures/jwt_tokens.py) ---

REWRITE_TOKENS = "rewrite with: .venv/bin/python Tests/IntegrationTests/swift_fixtures/jwt_tokens.py --write"


@pytest.fixture(scope="module")
def minted():
    return json.loads(jwt_tokens.FIXTURE.read_text())


def test_minted_tokens_are_the_planned_cases(minted):
    assert minted["now"] == jwt_tokens.NOW, REWRITE_TOKENS
    assert [(t["alg"], t["kid"]) for t in minted["tokens"]] == jwt_tokens.planned_cases(), REWRITE_TOKENS
    assert sorted(k["kid"] for k in minted["jwks"]["keys"]) == sorted({kid for _, kid in jwt_tokens.PLAN} - {"hmac"})
    assert sorted(minted["pem"]) == sorted(k["kid"] for k in minted["jwks"]["keys"])
    assert [k["kid"] for k in minted["secrets"]["keys"]] == ["hmac"]
    assert all("d" not in k and "p" not in k for k in minted["jwks"]["keys"]), "private key material in the JWKS"


def test_every_minted_token_verifies_with_joserfc(minted):
    """joserfc, not Warden, is the judge: each token verifies under the committed key of its planned kid
    (the PEM and the JWK of that kid being the same key) and carries exactly the planned header and claims."""
    keys = {k["kid"]: JWKRegistry.import_key(k) for k in minted["jwks"]["keys"] + minted["secrets"]["keys"]}
    plan = dict(jwt_tokens.PLAN)
    for t in minted["tokens"]:
        kid = plan[t["alg"]]
        key = keys[kid]
        token = jwt.decode(t["token"], key, algorithms=[t["alg"]])
        assert (token.header["alg"], token.header.get("kid")) == (t["alg"], t["kid"])
        assert token.claims == jwt_tokens.claims(t["alg"]) == t["claims"], t["alg"]
        if kid in minted["pem"]:
            pem_key = JWKRegistry.import_key(minted["pem"][kid].encode(), key.key_type)
            assert pem_key.as_dict(private=False) | {"kid": kid, "use": "sig"} == key.as_dict(private=False) | {"kid": kid, "use": "sig"}


def test_a_tampered_minted_token_fails_with_joserfc(minted):
    t = minted["tokens"][0]
    header, payload, signature = t["token"].split(".")
    forged = ".".join([header, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"), signature])
    key = JWKRegistry.import_key(next(k for k in minted["jwks"]["keys"] if k["kid"] == t["kid"]))
    with pytest.raises(Exception):
        jwt.decode(forged, key, algorithms=[t["alg"]])


# --- WardenJWKSTests/Fixtures/idp (swift_fixtures/idp_keys.py) ---

REWRITE_IDP = "rewrite with: .venv/bin/python Tests/IntegrationTests/swift_fixtures/idp_keys.py --write"


def test_idp_key_pool_has_valid_public_keys_of_every_kind():
    keys = json.loads(idp_keys.KEYS.read_text())["keys"]
    kinds = [(k["kty"], k.get("crv")) for k in keys]
    assert {kind: kinds.count(kind) for kind in set(kinds)} == idp_keys.POOL, REWRITE_IDP
    for k in keys:
        assert set(k) in ({"kty", "n", "e"}, {"kty", "crv", "x", "y"}, {"kty", "crv", "x"}), f"unexpected members {sorted(k)}"
        key = JWKRegistry.import_key(k)  # joserfc validates the point / modulus
        if k["kty"] == "RSA":
            assert key.raw_value.key_size == idp_keys.RSA_BITS
    assert len({json.dumps(k, sort_keys=True) for k in keys}) == len(keys), "duplicate key material"


def test_idp_tls_certificate_is_a_self_signed_ca_for_loopback_that_stays_valid():
    cert = x509.load_pem_x509_certificate(idp_keys.TLS_CERT.read_bytes())
    key = serialization.load_pem_private_key(idp_keys.TLS_KEY.read_bytes(), password=None)
    assert cert.public_key().public_numbers() == key.public_key().public_numbers(), REWRITE_IDP
    assert cert.issuer == cert.subject
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    now = datetime.datetime.now(datetime.timezone.utc)
    assert cert.not_valid_before_utc <= now
    assert cert.not_valid_after_utc - now > datetime.timedelta(days=365), f"expires {cert.not_valid_after_utc}; {REWRITE_IDP}"
