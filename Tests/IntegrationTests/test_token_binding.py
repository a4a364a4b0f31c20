"""Sender-constrained tokens through a real Envoy mTLS listener (issue 17): a token whose `cnf` claim binds it
to a client certificate (RFC 8705 §3, `x5t#S256`) is accepted only from a connection presenting that
certificate — Envoy sends it to Warden as `source.certificate` with `include_peer_certificate: true` — and a
DPoP-bound token (`cnf.jkt`) is never accepted as a bearer token (RFC 9449 §7.1). Envoy's own jwt_authn does
not look at `cnf`: a token stolen from one client works from any other there."""
from __future__ import annotations

import base64
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from harness.envoy import render_config
from harness.pki import PKI
from harness.tokens import Minter
from harness.warden import ALLOW_ALL_POLICY, Warden, write_policy_dir
from policy_support import send

BOUND_BODY = "Jwt is bound to another client certificate"


def thumbprint(cert_path: str) -> str:
    """RFC 8705 §3.1 `x5t#S256`: base64url (no padding) SHA-256 of the certificate's DER."""
    cert = x509.load_pem_x509_certificate(open(cert_path, "rb").read())
    return base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA256())).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def rig(module_idp, upstream, warden_bin, make_envoy, tmp_path_factory):
    base = tmp_path_factory.mktemp("binding")
    pki = PKI(base / "pki")
    server = pki.issue("envoy", ips=["127.0.0.1"], dns=["localhost"])
    clients = {name: pki.issue(f"client-{name}", uri=f"spiffe://cluster.local/ns/apps/sa/{name}", server=False)
               for name in ("a", "b")}
    ra = ("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: default}\n"
          f"spec:\n  jwtRules:\n  - issuer: {module_idp.issuer}\n    jwksUri: {module_idp.jwks_uri}\n")
    bound_only = ("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: secure-needs-binding, namespace: default}\n"
                  "spec:\n  action: DENY\n  rules:\n  - to: [{operation: {paths: [\"/secure*\"]}}]\n"
                  "    when: [{key: \"request.auth.claims[cnf][x5t#S256]\", notValues: [\"*\"]}]\n")
    w = Warden(write_policy_dir(base / "policies", {"allow-all.yaml": ALLOW_ALL_POLICY, "ra.yaml": ra, "bound-only.yaml": bound_only}),
               binary=warden_bin, work_dir=base)
    config = render_config(upstream_port=upstream.port, warden_port=w.port)  # include_peer_certificate: true
    chain = config["static_resources"]["listeners"][0]["filter_chains"][0]
    chain["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        "require_client_certificate": False,  # a client may come without one; the bound token then fails
        "common_tls_context": {
            "tls_certificates": [{"certificate_chain": {"filename": server.cert_path},
                                  "private_key": {"filename": server.key_path}}],
            "validation_context": {"trusted_ca": {"filename": pki.ca_path}},
        },
    }}
    envoy = make_envoy(config)

    def context(name: str | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=pki.ca_path)
        if name:
            ctx.load_cert_chain(clients[name].cert_path, clients[name].key_path)
        return ctx
    yield envoy, context, {name: thumbprint(c.cert_path) for name, c in clients.items()}
    w.stop()
    w.process.unregister()


def get(rig, upstream, client: str | None, token: str):
    envoy, context, _ = rig
    return send(envoy.port, "GET", "/data", {"Authorization": f"Bearer {token}"}, tls=context(client), upstream=upstream)


@pytest.mark.parametrize("bound_to, client, status", [
    (None, "b", 200),   # a plain bearer token: any client
    (None, None, 200),
    ("a", "a", 200),    # bound to a, presented by a
    ("a", "b", 401),    # stolen: presented by b
    ("a", None, 401),   # stolen: presented without a client certificate
])
def test_a_certificate_bound_token_only_works_from_its_client(rig, module_idp, upstream, bound_to, client, status):
    thumbs = rig[2]
    token = Minter(module_idp).mint(**({"cnf": {"x5t#S256": thumbs[bound_to]}} if bound_to else {}))
    r = get(rig, upstream, client, token)
    assert r.status == status, r
    if status == 401:
        assert r.text == BOUND_BODY and r.upstream is None
        assert 'error="invalid_token"' in r.headers["www-authenticate"]


def test_the_token_cache_never_skips_the_binding(rig, module_idp, upstream):
    """The owner's request puts the token in the cache; the thief's request with the same token is still checked."""
    token = Minter(module_idp).mint(sub="cached", cnf={"x5t#S256": rig[2]["a"]})
    assert get(rig, upstream, "a", token).status == 200
    assert get(rig, upstream, "b", token).status == 401
    assert get(rig, upstream, "a", token).status == 200


@pytest.mark.parametrize("cnf, body", [
    ({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}, "Jwt is DPoP-bound and needs a DPoP proof"),
    ({"jwk": {"kty": "EC"}}, "Jwt confirmation method is not supported"),
])
def test_other_bound_tokens_are_not_bearer_tokens(rig, module_idp, upstream, cnf, body):
    r = get(rig, upstream, "a", Minter(module_idp).mint(cnf=cnf))
    assert (r.status, r.text) == (401, body)


def test_a_route_can_demand_a_certificate_bound_token_with_an_istio_condition(rig, module_idp, upstream):
    """`when: request.auth.claims[cnf][x5t#S256]` is valid Istio; with the binding checked on every request, its
    presence means "a token bound to this very client certificate"."""
    envoy, context, thumbs = rig
    plain, bound = Minter(module_idp).mint(), Minter(module_idp).mint(cnf={"x5t#S256": thumbs["a"]})
    def status(token):
        return send(envoy.port, "GET", "/secure/x", {"Authorization": f"Bearer {token}"}, tls=context("a"), upstream=upstream).status
    assert (status(plain), status(bound)) == (403, 200)
