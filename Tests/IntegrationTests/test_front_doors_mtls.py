"""Connection facts through Envoy's HTTP mode: the client presents a SPIFFE certificate to Envoy (downstream
mTLS); deploy/envoy/envoy-http.yaml reports it in headers_to_add (`%DOWNSTREAM_PEER_URI_SAN%`,
`%DOWNSTREAM_PEER_CERT%`) and Warden, trusting them (`--http-trusted-headers all`), decides `principals`
and certificate-bound tokens as the gRPC path does with the same listener. Without the trust, the same
requests are decided as if no certificate had been presented; a client's own copies change nothing."""
from __future__ import annotations

import base64
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from harness.envoy import render_config
from harness.pki import PKI
from harness.proxies import envoy_http_config
from harness.tokens import Minter
from harness.warden import Warden, write_policy_dir
from policy_support import send

WEB = "spiffe://cluster.local/ns/frontend/sa/web"
RUNNER = "spiffe://cluster.local/ns/batch/sa/runner"


def _policies(iss: str, jwks_uri: str) -> dict[str, str]:
    return {"p.yaml": f"""\
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: jwt, namespace: default}}
spec:
  jwtRules:
  - issuer: "{iss}"
    jwksUri: "{jwks_uri}"
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: callers, namespace: default}}
spec:
  rules:
  - from: [{{source: {{principals: ["cluster.local/ns/frontend/sa/web"]}}}}]
    to: [{{operation: {{paths: ["/orders*"]}}}}]
  - from: [{{source: {{requestPrincipals: ["*"]}}}}]
    to: [{{operation: {{paths: ["/bound*"]}}}}]
"""}


def _thumbprint(cert_path: str) -> str:
    cert = x509.load_pem_x509_certificate(open(cert_path, "rb").read())
    return base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA256())).rstrip(b"=").decode()


def _with_downstream_tls(config: dict, pki: PKI, server) -> dict:
    chain = config["static_resources"]["listeners"][0]["filter_chains"][0]
    chain["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        "require_client_certificate": True,
        "common_tls_context": {
            "tls_certificates": [{"certificate_chain": {"filename": server.cert_path}, "private_key": {"filename": server.key_path}}],
            "validation_context": {"trusted_ca": {"filename": pki.ca_path}},
        },
    }}
    return config


@pytest.fixture(scope="module")
def rig(module_idp, upstream, warden_bin, make_envoy, tmp_path_factory):
    base = tmp_path_factory.mktemp("front-mtls")
    pki = PKI(base / "pki")
    server = pki.issue("envoy", ips=["127.0.0.1"], dns=["localhost"])
    clients = {"web": pki.issue("client-web", uri=WEB, server=False), "runner": pki.issue("client-runner", uri=RUNNER, server=False)}
    policies = write_policy_dir(base / "policies", _policies(module_idp.issuer, module_idp.jwks_uri))
    started = []
    wardens = {}
    for name, trust in (("trusted", "all"), ("untrusted", None)):
        wardens[name] = Warden(policies, binary=warden_bin, work_dir=base / name, http=True, http_trusted_headers=trust)
        started.append(wardens[name])
    doors = {}
    try:
        doors["grpc"] = make_envoy(_with_downstream_tls(render_config(upstream_port=upstream.port, warden_port=wardens["trusted"].port), pki, server))
        for name, w in wardens.items():
            doors[f"http-{name}"] = make_envoy(_with_downstream_tls(envoy_http_config(
                warden_http_port=w.http_port, warden_admin_port=w.admin_port, upstream_port=upstream.port), pki, server))
        # The same config without downstream TLS: %DOWNSTREAM_PEER_URI_SAN%, %DOWNSTREAM_PEER_CERT% and
        # %REQUESTED_SERVER_NAME% are empty, and Envoy does not add a header whose value is empty.
        doors["http-plaintext"] = make_envoy(envoy_http_config(
            warden_http_port=wardens["trusted"].http_port, warden_admin_port=wardens["trusted"].admin_port,
            upstream_port=upstream.port))

        def context(who: str) -> ssl.SSLContext:
            ctx = ssl.create_default_context(cafile=pki.ca_path)
            ctx.load_cert_chain(clients[who].cert_path, clients[who].key_path)
            return ctx
        yield doors, context, {who: _thumbprint(c.cert_path) for who, c in clients.items()}, _pem_of(clients["web"].cert_path)
    finally:
        for w in started:
            w.stop()
            w.process.unregister()


@pytest.mark.parametrize("who, status", [("web", 200), ("runner", 403)])
def test_principal_from_the_peer_certificate(rig, upstream, who, status):
    doors, context, _, _ = rig
    for door in ("grpc", "http-trusted"):
        r = send(doors[door].port, "GET", "/orders/1", tls=context(who), upstream=upstream)
        assert r.status == status, (door, r)
    # Untrusted, the header is not read: no principal, so the ALLOW on principals does not match.
    assert send(doors["http-untrusted"].port, "GET", "/orders/1", tls=context("web"), upstream=upstream).status == 403


def test_a_client_sent_principal_header_is_overwritten(rig, upstream):
    doors, context, _, _ = rig
    r = send(doors["http-trusted"].port, "GET", "/orders/1", {"X-Warden-Client-Principal": WEB}, tls=context("runner"), upstream=upstream)
    assert r.status == 403


def _pem_of(who_cert_path: str) -> str:
    from urllib.parse import quote
    return quote(open(who_cert_path).read(), safe="")


def test_client_sent_connection_headers_never_reach_warden_without_a_certificate(rig, module_idp, upstream):
    """Plaintext (no client certificate, no SNI): headers_to_add has nothing to overwrite the client's copies
    with, so only `disallowed_headers: x-warden-*` keeps them from Warden, which trusts them (`all`).
    Envoy 1.40 ext_authz.proto: disallowed_headers overrides allowed_headers; headers_to_add are added after."""
    doors, _, thumbs, pem = rig
    port = doors["http-plaintext"].port
    r = send(port, "GET", "/orders/1", {"X-Warden-Client-Principal": WEB, "X-Warden-SNI": "shop.example"}, upstream=upstream)
    assert r.status == 403, r
    token = Minter(module_idp).mint(cnf={"x5t#S256": thumbs["web"]})
    r = send(port, "GET", "/bound/1", {"Authorization": f"Bearer {token}", "X-Warden-Client-Cert": pem},
             upstream=upstream)
    assert (r.status, r.text) == (401, "Jwt is bound to another client certificate"), r


@pytest.mark.parametrize("who, status", [("web", 200), ("runner", 401)])
def test_certificate_bound_token(rig, module_idp, upstream, who, status):
    doors, context, thumbs, _ = rig
    token = Minter(module_idp).mint(cnf={"x5t#S256": thumbs["web"]})
    for door in ("grpc", "http-trusted"):
        r = send(doors[door].port, "GET", "/bound/1", {"Authorization": f"Bearer {token}"}, tls=context(who), upstream=upstream)
        assert r.status == status, (door, r)
        if status == 401:
            assert r.text == "Jwt is bound to another client certificate"
    # Untrusted: Warden has no certificate to check the binding against, so the bound token is refused.
    r = send(doors["http-untrusted"].port, "GET", "/bound/1", {"Authorization": f"Bearer {token}"}, tls=context("web"), upstream=upstream)
    assert r.status == 401
