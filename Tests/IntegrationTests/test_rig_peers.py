"""Self-tests of the rig's Python peers (no Warden needed): IdP, token minter, echo upstream."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError, ExpiredTokenError, InvalidKeyIdError, InvalidTokenError
from joserfc.jwk import KeySet

from harness import httpclient
from harness.tokens import _REGISTRY, decode_unverified, raw_token


def fetch(url: str, headers: dict | None = None, timeout: float = 3.0):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, dict(r.headers), r.read()


def verify(token: str, jwks: dict, alg: str):
    decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=[alg], registry=_REGISTRY)
    jwt.JWTClaimsRegistry(exp={"essential": True}).validate(decoded.claims)
    return decoded


@pytest.mark.parametrize("alg", ["RS256", "RS384", "PS256", "ES256", "ES384", "ES512", "EdDSA"])
def test_minted_token_verifies_against_served_jwks(idp, minter, alg):
    token = minter.mint(alg=alg, scope="read write")
    status, headers, body = fetch(idp.jwks_uri)
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    decoded = verify(token, json.loads(body), alg)
    assert decoded.header["kid"] == idp.key_for(alg).kid
    assert decoded.claims["iss"] == idp.issuer
    assert decoded.claims["sub"] == "alice"
    assert decoded.claims["aud"] == "warden-test"
    assert decoded.claims["scope"] == "read write"


def test_default_jwks_has_rsa_ec_and_okp_keys(idp):
    keys = {k["kid"]: k for k in json.loads(fetch(idp.jwks_uri)[2])["keys"]}
    assert keys["rsa-1"]["kty"] == "RSA" and "d" not in keys["rsa-1"]
    assert len(keys["rsa-1"]["n"]) == 342  # 2048-bit modulus, base64url
    assert (keys["ec-1"]["kty"], keys["ec-1"]["crv"]) == ("EC", "P-256") and "d" not in keys["ec-1"]
    assert (keys["ed-1"]["kty"], keys["ed-1"]["crv"]) == ("OKP", "Ed25519") and "d" not in keys["ed-1"]


def test_discovery_points_at_jwks(idp):
    status, _, body = fetch(idp.discovery_uri)
    doc = json.loads(body)
    assert status == 200
    assert doc["issuer"] == idp.issuer
    assert doc["jwks_uri"] == idp.jwks_uri


def test_issuer_path_is_part_of_every_url():
    from harness.idp import IdP
    realm = IdP(issuer_path="/realms/demo")
    try:
        assert realm.issuer.endswith("/realms/demo")
        assert json.loads(fetch(realm.discovery_uri)[2])["jwks_uri"] == realm.issuer + "/jwks.json"
        assert realm.count("/jwks.json") == 0
        fetch(realm.jwks_uri)
        assert realm.count("/jwks.json") == 1
    finally:
        realm.close()


def test_rotation_replaces_kid_and_old_tokens_stop_verifying(idp, minter):
    old_token = minter.mint()
    new_key = idp.rotate("RS256")
    jwks = json.loads(fetch(idp.jwks_uri)[2])
    kids = [k["kid"] for k in jwks["keys"]]
    assert "rsa-1" not in kids and new_key.kid in kids
    new_token = minter.mint()
    assert decode_unverified(new_token)[0]["kid"] == new_key.kid
    verify(new_token, jwks, "RS256")
    with pytest.raises(InvalidKeyIdError):
        verify(old_token, jwks, "RS256")


def test_rotation_can_keep_old_key(idp, minter):
    old_token = minter.mint()
    idp.rotate("RS256", keep_old=True)
    verify(old_token, json.loads(fetch(idp.jwks_uri)[2]), "RS256")


def test_request_counter_and_etag(idp):
    assert idp.count() == 0
    _, headers, _ = fetch(idp.jwks_uri)
    assert idp.count() == 1
    assert headers["Cache-Control"] == "max-age=300"
    with pytest.raises(urllib.error.HTTPError) as not_modified:
        fetch(idp.jwks_uri, headers={"If-None-Match": headers["ETag"]})
    assert not_modified.value.code == 304
    assert idp.count() == 2
    idp.reset_counts()
    assert idp.count() == 0


def test_outage_controls(idp):
    idp.fail_with(503)
    with pytest.raises(urllib.error.HTTPError) as failed:
        fetch(idp.jwks_uri)
    assert failed.value.code == 503
    idp.fail_with(None)

    idp.go_down()
    with pytest.raises(urllib.error.URLError) as refused:
        fetch(idp.jwks_uri)
    assert isinstance(refused.value.reason, ConnectionRefusedError)
    idp.come_up()
    assert fetch(idp.jwks_uri)[0] == 200

    idp.delay = 0.3
    started = time.monotonic()
    fetch(idp.jwks_uri)
    assert time.monotonic() - started >= 0.3

    idp.delay = 0
    idp.serve_raw_jwks(b"{not json")
    assert fetch(idp.jwks_uri)[2] == b"{not json"


def test_scenario_tokens_fail_verification_for_the_right_reason(idp, minter):
    jwks = json.loads(fetch(idp.jwks_uri)[2])
    with pytest.raises(ExpiredTokenError):
        verify(minter.expired(), jwks, "RS256")
    with pytest.raises(BadSignatureError):
        verify(minter.wrong_key(), jwks, "RS256")
    with pytest.raises(BadSignatureError):
        verify(minter.tampered(), jwks, "RS256")
    with pytest.raises(InvalidKeyIdError):
        verify(minter.unknown_kid(), jwks, "RS256")
    future = minter.not_yet_valid()
    decoded = jwt.decode(future, KeySet.import_key_set(jwks), algorithms=["RS256"], registry=_REGISTRY)
    with pytest.raises(InvalidTokenError):
        jwt.JWTClaimsRegistry().validate(decoded.claims)


def test_minter_claim_overrides(minter):
    token = minter.mint(aud=["a", "b"], sub=None, exp_in=None, groups=["admin"])
    _, payload = decode_unverified(token)
    assert payload["aud"] == ["a", "b"]
    assert "sub" not in payload and "exp" not in payload
    assert payload["groups"] == ["admin"]
    header, _ = decode_unverified(minter.mint(omit_kid=True))
    assert "kid" not in header
    assert raw_token({"alg": "none"}, {"sub": "x"}).endswith(".")


def test_upstream_echoes_method_path_and_headers(upstream):
    response = httpclient.request("POST", f"{upstream.url}/orders?id=7&x=a%20b",
                                  headers=[("X-One", "1"), ("x-jwt-sub", "spoof"), ("X-Dup", "a"), ("X-Dup", "b")],
                                  body="hello")
    assert response.status == 200
    echo = response.json()
    assert echo["method"] == "POST"
    assert echo["path"] == "/orders?id=7&x=a%20b"
    assert echo["headers"]["x-one"] == "1"
    assert echo["headers"]["x-jwt-sub"] == "spoof"
    assert ["x-dup", "a"] in echo["header_list"] and ["x-dup", "b"] in echo["header_list"]
    assert echo["body"] == "hello"
    assert upstream.last() == echo


def test_pki_certificates_complete_an_mtls_handshake(tmp_path):
    import socket
    import ssl
    import threading

    from cryptography import x509

    from harness.pki import PKI

    pki = PKI(tmp_path)
    server = pki.issue("warden", dns=["warden.local"], ips=["127.0.0.1"], client=False)
    client = pki.issue("client", uri="spiffe://cluster.local/ns/default/sa/client", server=False)
    sans = x509.load_pem_x509_certificate(client.cert_pem.encode()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == ["spiffe://cluster.local/ns/default/sa/client"]

    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=pki.ca_path)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    server_ctx.load_cert_chain(server.cert_path, server.key_path)
    client_ctx = ssl.create_default_context(cafile=pki.ca_path)
    client_ctx.load_cert_chain(client.cert_path, client.key_path)

    listener = socket.create_server(("127.0.0.1", 0))
    seen = {}

    def serve():
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            seen["peer"] = tls.getpeercert()
            tls.sendall(b"hi")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with socket.create_connection(listener.getsockname(), timeout=3) as raw:
        with client_ctx.wrap_socket(raw, server_hostname="warden.local") as tls:
            assert tls.recv(2) == b"hi"
    thread.join(timeout=3)
    listener.close()
    assert ("URI", "spiffe://cluster.local/ns/default/sa/client") in seen["peer"]["subjectAltName"]
