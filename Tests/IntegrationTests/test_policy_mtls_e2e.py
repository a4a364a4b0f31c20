"""mTLS peer identity + request principal, end to end: the client presents a SPIFFE certificate to Envoy
(downstream mTLS), Envoy reports it as `source.principal` in the CheckRequest, Warden matches Istio's
`principals`, `namespaces`, `source.principal`/`source.namespace` and `requestPrincipals` against it."""
from __future__ import annotations

import ssl

import pytest

from harness.envoy import render_config
from harness.pki import PKI
from harness.tokens import Minter
from harness.warden import Warden, write_policy_dir
from policy_support import send

AP = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
IDENTITIES = {
    "web": "spiffe://cluster.local/ns/frontend/sa/web",
    "runner": "spiffe://cluster.local/ns/batch/sa/runner",
    "ops": "spiffe://cluster.local/ns/ops/sa/admin",
    "batchy": "spiffe://cluster.local/ns/batch-legacy/sa/runner",
    "none": None,
}


def _policies(iss: str, jwks_uri: str) -> dict[str, str]:
    return {"mesh.yaml": f"""\
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: jwt, namespace: mesh}}
spec:
  jwtRules:
  - issuer: "{iss}"
    jwksUri: "{jwks_uri}"
---
{AP}metadata: {{name: callers, namespace: mesh}}
spec:
  rules:
  # the web frontend, only on behalf of alice
  - from:
    - source:
        principals: ["cluster.local/ns/frontend/sa/web"]
        requestPrincipals: ["{iss}/alice"]
    to: [{{operation: {{paths: ["/orders*"]}}}}]
  # any workload of the batch namespace (the whole /ns/<ns>/ segment), on /jobs
  - from: [{{source: {{namespaces: ["batch"]}}}}]
    to: [{{operation: {{paths: ["/jobs*"]}}}}]
  # ops service accounts anywhere, via `when`
  - when:
    - key: source.principal
      values: ["cluster.local/ns/ops/sa/*"]
---
{AP}metadata: {{name: no-plaintext-admin, namespace: mesh}}
spec:
  action: DENY
  rules:
  - from: [{{source: {{notPrincipals: ["*"]}}}}]
    to: [{{operation: {{paths: ["/admin*"]}}}}]
  - when:
    - key: source.namespace
      values: ["batch"]
    to: [{{operation: {{paths: ["/jobs/secret"]}}}}]
"""}


@pytest.fixture(scope="module")
def mtls(module_idp, upstream, warden_bin, make_envoy, tmp_path_factory):
    base = tmp_path_factory.mktemp("mtls")
    pki = PKI(base / "pki")
    server = pki.issue("envoy", ips=["127.0.0.1"], dns=["localhost"])
    clients = {name: pki.issue(f"client-{name}", uri=uri, server=False) for name, uri in IDENTITIES.items()}
    w = Warden(write_policy_dir(base / "policies", _policies(module_idp.issuer, module_idp.jwks_uri)),
               binary=warden_bin, work_dir=base, namespace="mesh")
    config = render_config(upstream_port=upstream.port, warden_port=w.port)
    chain = config["static_resources"]["listeners"][0]["filter_chains"][0]
    chain["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        "require_client_certificate": True,
        "common_tls_context": {
            "tls_certificates": [{"certificate_chain": {"filename": server.cert_path},
                                  "private_key": {"filename": server.key_path}}],
            "validation_context": {"trusted_ca": {"filename": pki.ca_path}},
        },
    }}
    envoy = make_envoy(config)

    def context(name: str) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=pki.ca_path)
        ctx.load_cert_chain(clients[name].cert_path, clients[name].key_path)
        return ctx
    yield envoy, context
    w.stop()
    w.process.unregister()


@pytest.fixture(scope="module")
def alice_bob(module_idp):
    m = Minter(module_idp)
    return m.mint(), m.mint(sub="bob")


@pytest.mark.parametrize("who,path,user,status", [
    ("web", "/orders/1", "alice", 200),
    ("web", "/orders/1", "bob", 403),        # right workload, wrong user
    ("web", "/orders/1", None, 403),         # right workload, no user
    ("runner", "/orders/1", "alice", 403),   # right user, wrong workload
    ("runner", "/jobs/7", None, 200),        # namespaces: batch
    ("batchy", "/jobs/7", None, 403),        # batch-legacy is not batch
    ("runner", "/jobs/secret", None, 403),   # DENY on source.namespace
    ("ops", "/anything", None, 200),         # source.principal prefix
    ("ops", "/admin/x", None, 200),          # has a principal: the plaintext DENY does not apply
    ("none", "/admin/x", None, 403),         # certificate without a SPIFFE SAN: no principal
])
def test_peer_identity_and_request_principal(mtls, upstream, alice_bob, who, path, user, status):
    envoy, context = mtls
    headers = {}
    if user:
        headers["Authorization"] = "Bearer " + alice_bob[0 if user == "alice" else 1]
    r = send(envoy.port, "GET", path, headers, tls=context(who), upstream=upstream)
    assert r.status == status, r
    if status == 200:
        assert r.upstream is not None and r.upstream["path"] == path
        assert "authorization" not in r.upstream_headers
    else:
        assert r.text == "RBAC: access denied" and r.upstream is None
