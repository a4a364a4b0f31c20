"""Warden's TLS and mTLS listener, alone and behind Envoy with deploy/envoy/envoy-mtls.yaml (needs WARDEN_BIN)."""
from __future__ import annotations

import grpc
import pytest

from harness import httpclient
from harness.envoy import load_for_rig
from harness.grpc_client import SERVING, AuthzClient, header_mutations
from harness.pki import PKI
from harness.deploy import MTLS, materialize

OK = 0


@pytest.fixture
def pki(tmp_path) -> PKI:
    authority = PKI(tmp_path / "pki")
    authority.issue("warden", dns=["warden.local"], ips=["127.0.0.1"], client=False)
    authority.issue("client", uri="spiffe://cluster.local/ns/default/sa/client", server=False)
    return authority


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _credentials(pki: PKI, with_client_cert: bool) -> grpc.ChannelCredentials:
    d = pki.directory
    if with_client_cert:
        return grpc.ssl_channel_credentials(_read(pki.ca_path), _read(str(d / "client-key.pem")),
                                            _read(str(d / "client.pem")))
    return grpc.ssl_channel_credentials(_read(pki.ca_path))


OVERRIDE = [("grpc.ssl_target_name_override", "warden.local")]


def test_tls_listener_serves_tls_clients(make_warden, pki):
    w = make_warden(tls_cert=str(pki.directory / "warden.pem"), tls_key=str(pki.directory / "warden-key.pem"))
    with AuthzClient(w.address, credentials=_credentials(pki, False), options=OVERRIDE) as client:
        assert client.health() == SERVING
        assert header_mutations(client.check())["x-warden-decision"] == "allow"
    with AuthzClient(w.address) as plaintext:
        with pytest.raises(grpc.RpcError) as error:
            plaintext.check(timeout=2)
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE


def test_mtls_listener_requires_a_client_certificate(make_warden, pki):
    w = make_warden(tls_cert=str(pki.directory / "warden.pem"), tls_key=str(pki.directory / "warden-key.pem"),
                    tls_client_ca=pki.ca_path)
    with AuthzClient(w.address, credentials=_credentials(pki, True), options=OVERRIDE) as client:
        assert client.check().status.code == OK
    with AuthzClient(w.address, credentials=_credentials(pki, False), options=OVERRIDE) as anonymous:
        with pytest.raises(grpc.RpcError) as error:
            anonymous.check(timeout=2)
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE


def test_envoy_talks_to_warden_over_mtls(make_warden, make_envoy, upstream, tmp_path):
    config_path, envoy_pki = materialize(MTLS, tmp_path)
    d = envoy_pki.directory
    w = make_warden(tls_cert=str(d / "warden.pem"), tls_key=str(d / "warden-key.pem"), tls_client_ca=envoy_pki.ca_path)
    config = load_for_rig(config_path, upstream_port=upstream.port, warden_port=w.port)
    envoy = make_envoy(config)
    upstream.clear()
    response = httpclient.get(envoy.url("/orders"))
    assert response.status == 200, response.text
    assert response.json()["headers"]["x-warden-decision"] == "allow"
    assert upstream.count() == 1
    assert envoy.stats("cluster.warden.ssl.")["cluster.warden.ssl.handshake"] >= 1
