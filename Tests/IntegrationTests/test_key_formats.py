"""Key-source parity with Envoy's jwt_verify_lib (issue 17): besides `{"keys": [...]}`, a JWKS may be an
object mapping kids to X.509 certificates in PEM (the format Google publishes at
https://www.googleapis.com/oauth2/v1/certs), PEM public keys, or a SPIFFE bundle whose keys say
`use: "jwt-svid"` (JWT-SVID signing keys; `x509-svid` keys are not for JWTs). Tokens signed by those keys
verify through the real Envoy; the certificate is only a container for the key."""
from __future__ import annotations

import datetime
import json

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from harness import httpclient
from harness.idp import generate_key
from harness.tokens import Minter
from harness.warden import ALLOW_ALL_POLICY, write_policy_dir

REQUIRE = ("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: require, namespace: default}\n"
           "spec:\n  rules: [{from: [{source: {requestPrincipals: ['*']}}]}]\n")


def certificate_pem(key) -> str:
    """A self-signed certificate around the key (its validity is irrelevant to JWT verification)."""
    private = key.jwk.get_private_key() if hasattr(key.jwk, "get_private_key") else key.jwk.private_key
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, key.kid)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(private, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def public_pem(key) -> str:
    private = key.jwk.get_private_key() if hasattr(key.jwk, "get_private_key") else key.jwk.private_key
    return private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def through_envoy(make_warden, make_envoy, upstream, tmp_path, ra: str, token: str) -> int:
    w = make_warden(write_policy_dir(tmp_path / "p", {"ra.yaml": ra, "require.yaml": REQUIRE}), extra_args=["--ready-timeout", "0"])
    envoy = make_envoy(upstream_port=upstream.port, warden_port=w.port)
    return httpclient.request("GET", envoy.url("/data"), headers={"authorization": f"Bearer {token}"}).status


def ra_remote(idp, document: str) -> str:
    """The IdP serves `document` at its jwksUri (istiod validates inline `jwks` as JWKS JSON, so other formats
    come from a URL — or `--jwks-file`)."""
    idp.serve_raw_jwks(document.encode())
    return ("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: default}\n"
            f"spec:\n  jwtRules:\n  - issuer: {idp.issuer}\n    jwksUri: {idp.jwks_uri}\n")


def test_a_remote_x509_certificate_map_google_format(idp, make_warden, make_envoy, upstream, tmp_path):
    key = idp.key_for("RS256")
    idp.serve_raw_jwks(json.dumps({key.kid: certificate_pem(key), "other": certificate_pem(generate_key("RS256", "other"))}).encode())
    ra = ("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: default}\n"
          f"spec:\n  jwtRules:\n  - issuer: {idp.issuer}\n    jwksUri: {idp.jwks_uri}\n")
    m = Minter(idp)
    assert through_envoy(make_warden, make_envoy, upstream, tmp_path, ra, m.mint()) == 200
    assert through_envoy(make_warden, make_envoy, upstream, tmp_path, ra, m.wrong_key()) == 401


def test_a_pem_public_key(idp, make_warden, make_envoy, upstream, tmp_path):
    key = idp.key_for("ES256")
    ra = ra_remote(idp, public_pem(key))
    m = Minter(idp)
    assert through_envoy(make_warden, make_envoy, upstream, tmp_path, ra, m.mint(alg="ES256", omit_kid=True)) == 200
    assert through_envoy(make_warden, make_envoy, upstream, tmp_path, ra, m.mint(alg="ES256", key=generate_key("ES256", "x"), omit_kid=True)) == 401


def test_a_spiffe_bundle_with_jwt_svid_keys(idp, make_warden, make_envoy, upstream, tmp_path):
    jwt_key = idp.key_for("ES256")
    svid = dict(jwt_key.public_jwk(), use="jwt-svid")
    x509_only = dict(generate_key("ES256", "x509").public_jwk(), use="x509-svid")
    bundle = {"keys": [svid, x509_only], "spiffe_sequence": 7, "spiffe_refresh_hint": 300}
    ra = ra_remote(idp, json.dumps(bundle))
    m = Minter(idp)
    assert through_envoy(make_warden, make_envoy, upstream, tmp_path, ra, m.mint(alg="ES256")) == 200
    assert through_envoy(make_warden, make_envoy, upstream, tmp_path, ra, m.mint(alg="ES256", key=generate_key("ES256", "x509"), kid="x509")) == 401
