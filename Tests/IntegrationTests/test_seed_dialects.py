"""The seed's three ways of writing one intent (issue 20), in deploy/dialects/: Envoy's jwt_authn filter config
(`keycloak_provider`, rules `/healthz`, `/docs`, `/`), the Istio RequestAuthentication + AuthorizationPolicy
pair, and the Envoy Gateway SecurityPolicy. Each loads as written (`warden validate`), gives the decisions the
seed describes through a real Envoy → Warden (the Keycloak URLs swapped for the test IdP's), and `warden convert
--to istio` turns the jwt_authn document into Istio documents that allow and deny the same requests; the one
status the conversion cannot keep (a missing token: 403 under Istio, 401 under jwt_authn) is among its gaps."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.envoy import Route
from harness.tokens import Minter
from harness.warden import Warden, write_policy_dir
from policy_support import send

DIALECTS = Path(__file__).resolve().parents[2] / "deploy" / "dialects"
KEYCLOAK = "https://keycloak.example.com/realms/demo"
KEYCLOAK_JWKS = KEYCLOAK + "/protocol/openid-connect/certs"


def for_idp(text: str, idp) -> str:
    return text.replace(KEYCLOAK_JWKS, idp.jwks_uri).replace(KEYCLOAK, idp.issuer)


@pytest.mark.parametrize("name", ["jwt-authn.yaml", "istio.yaml", "security-policy.yaml"])
def test_loads_as_written(warden_bin, name):
    r = subprocess.run([warden_bin, "validate", "--policy", str(DIALECTS / name)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r


@pytest.fixture(scope="module")
def toks(module_idp):
    m = Minter(module_idp, audience="orders-api")
    return {"valid": m.mint(groups=["admin"]), "member": m.mint(groups=["dev"]), "expired": m.expired(groups=["admin"]),
            "other_aud": Minter(module_idp, audience="billing").mint(groups=["admin"])}


def serve(tmp_path_factory, warden_bin, make_envoy, upstream, files: dict[str, str], extra_args=()):
    base = tmp_path_factory.mktemp("seed")
    w = Warden(write_policy_dir(base / "p", files), binary=warden_bin, work_dir=base, namespace="default",
               extra_args=list(extra_args))
    w.policy_dir = base / "p"
    # Every path goes to Warden (the harness's default Envoy exempts /healthz, the seed's own open path).
    return w, make_envoy(upstream_port=upstream.port, warden_port=w.port, routes=(Route(prefix="/"),))


def ask(envoy, upstream, path: str, token: str | None):
    return send(envoy.port, "GET", path, {"authorization": f"Bearer {token}"} if token else {}, upstream=upstream)


# (path, token) → (jwt_authn status, Istio pair status); body checked for the jwt_authn ones.
SEED_CASES = [
    ("/healthz", None, 200, 200),
    ("/healthz", "expired", 200, 401),       # jwt_authn checks nothing on /healthz; Istio verifies any token sent
    ("/docs/openapi.json", None, 200, 200),
    ("/docs/openapi.json", "valid", 200, 200),
    ("/docs/openapi.json", "expired", 401, 401),
    ("/orders", None, 401, 403),             # required: jwt_authn 401 Jwt is missing, Istio 403 RBAC: access denied
    ("/orders", "valid", 200, 200),
    ("/orders", "expired", 401, 401),
    ("/orders", "other_aud", 403, 403),
]


def _rig(name: str):
    """A module fixture: Warden serving deploy/dialects/<name> (for the test IdP) behind Envoy."""
    @pytest.fixture(scope="module")
    def rig(module_idp, warden_bin, make_envoy, upstream, tmp_path_factory):
        w, envoy = serve(tmp_path_factory, warden_bin, make_envoy, upstream,
                         {name: for_idp((DIALECTS / name).read_text(), module_idp)})
        yield w, envoy
        w.stop()
        w.process.unregister()
    return rig


jwt_authn_rig = _rig("jwt-authn.yaml")
istio_rig = _rig("istio.yaml")


@pytest.mark.parametrize("path,token,jwt_authn,istio", SEED_CASES)
def test_seed_decisions(jwt_authn_rig, istio_rig, upstream, toks, path, token, jwt_authn, istio):
    r = ask(jwt_authn_rig[1], upstream, path, toks.get(token))
    assert r.status == jwt_authn, r
    if path == "/orders" and token is None:
        assert r.text == "Jwt is missing" and r.headers["www-authenticate"].startswith('Bearer realm="'), r
    if r.status == 200 and token == "valid":
        assert r.upstream_headers.get("x-user-id") == "alice" and r.upstream_headers.get("authorization") is None, r
    assert ask(istio_rig[1], upstream, path, toks.get(token)).status == istio


def test_config_dump_and_explain_name_the_jwt_authn_origin(jwt_authn_rig):
    w, _ = jwt_authn_rig
    dump = w.admin_status("/config_dump")[1]
    assert "Envoy jwt_authn" in dump and "keycloak_provider" in dump, dump[:2000]


@pytest.mark.parametrize("path,token,status", [
    ("/orders", "valid", 200), ("/orders", "member", 403), ("/orders", None, 401), ("/orders", "expired", 401),
])
def test_seed_security_policy(module_idp, warden_bin, make_envoy, upstream, tmp_path_factory, toks, path, token, status):
    w, envoy = serve(tmp_path_factory, warden_bin, make_envoy, upstream,
                     {"sp.yaml": for_idp((DIALECTS / "security-policy.yaml").read_text(), module_idp)},
                     extra_args=["--target", "HTTPRoute/orders"])
    try:
        assert ask(envoy, upstream, path, toks.get(token)).status == status
    finally:
        w.stop()
        w.process.unregister()


def test_targets_selecting_different_security_policies_are_refused(module_idp, warden_bin, tmp_path):
    """A CheckRequest does not say which route it came by: `--target HTTPRoute/orders --target HTTPRoute/other` would
    apply the orders route's SecurityPolicy to the other route too. serve refuses it with the policy's file:line."""
    policy = tmp_path / "sp.yaml"
    policy.write_text(for_idp((DIALECTS / "security-policy.yaml").read_text(), module_idp))
    r = subprocess.run([warden_bin, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--policy", str(policy),
                        "--target", "HTTPRoute/orders", "--target", "HTTPRoute/other"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r
    assert "sp.yaml:" in r.stderr and "one Warden per route target" in r.stderr and "HTTPRoute/other: none" in r.stderr, r.stderr


P5_TEAM_POLICIES = """\
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: sp-gw, namespace: team}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  authorization:
    defaultAction: Deny
    rules:
    - {action: Allow, principal: {clientCIDRs: ["10.0.0.0/8"]}}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: sp-r1, namespace: team}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r1}]
  authorization:
    defaultAction: Allow
    rules:
    - {action: Deny, principal: {clientCIDRs: ["203.0.113.0/24"]}}
"""


def test_target_conflicts_are_checked_in_every_namespace_a_check_can_select(warden_bin, tmp_path):
    """The policies live in namespace team; Warden starts in `default`, but a check's `namespace` context extension
    re-scopes it to team, where r1 gets sp-r1 and r2 the Gateway's sp-gw. serve and explain both refuse it."""
    policy = tmp_path / "sp.yaml"
    policy.write_text(P5_TEAM_POLICIES)
    targets = ["--target", "Gateway/gw", "--target", "HTTPRoute/r1", "--target", "HTTPRoute/r2"]
    r = subprocess.run([warden_bin, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--policy", str(policy),
                        "--namespace", "default", *targets], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r
    assert "sp.yaml:" in r.stderr and "one Warden per route target" in r.stderr, r.stderr
    r = subprocess.run([warden_bin, "explain", "--policy", str(policy), "--namespace", "default", *targets,
                        "--context-extension", "namespace=team"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r
    assert "one Warden per route target" in r.stderr and "refusing to decide" in r.stderr, r.stderr
    # One route target (with its Gateway) is one answer: explain decides it (10.1.2.3 is allowed by sp-r1's default).
    r = subprocess.run([warden_bin, "explain", "--policy", str(policy), "--namespace", "team", "--target", "Gateway/gw",
                        "--target", "HTTPRoute/r1", "--source-ip", "10.1.2.3"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r


def test_security_policy_forwards_the_token_and_is_not_turned_off_by_a_route(module_idp, warden_bin, make_envoy, upstream,
                                                                              tmp_path_factory, toks):
    """Envoy Gateway's jwt_authn provider has `forward: true` and `payload_in_metadata: <provider name>`
    (internal/xds/translator/jwt.go buildJWTProvider); a route's `jwt_authn.*` context extensions speak to jwt_authn
    documents, never to a SecurityPolicy's requirement."""
    from google.protobuf.json_format import MessageToDict
    from harness.grpc_client import AuthzClient, make_check_request
    base = tmp_path_factory.mktemp("sp-forward")
    w = Warden(write_policy_dir(base / "p", {"sp.yaml": for_idp((DIALECTS / "security-policy.yaml").read_text(), module_idp)}),
               binary=warden_bin, work_dir=base, namespace="default", extra_args=["--target", "HTTPRoute/orders"])
    envoy = make_envoy(upstream_port=upstream.port, warden_port=w.port,
                       routes=(Route(prefix="/off", context_extensions={"jwt_authn.disabled": "true"}),
                               Route(prefix="/named", context_extensions={"jwt_authn.requirement_name": "nope"}),
                               Route(prefix="/")))
    try:
        ok = ask(envoy, upstream, "/orders", toks["valid"])
        assert ok.status == 200 and ok.upstream_headers.get("authorization") == f"Bearer {toks['valid']}", ok
        assert ok.upstream_headers.get("x-user-id") == "alice", ok
        for path in ("/off", "/named"):
            r = ask(envoy, upstream, path, None)
            assert r.status == 401 and r.text == "Jwt is missing", (path, r)
            assert ask(envoy, upstream, path, toks["valid"]).status == 200, path
        with AuthzClient(w.address) as client:
            meta = MessageToDict(client.check(make_check_request(
                "GET", "/orders", {"authorization": f"Bearer {toks['valid']}"})).dynamic_metadata)
        assert meta["keycloak"]["sub"] == "alice" and meta["keycloak"]["groups"] == ["admin"], meta
    finally:
        w.stop()
        w.process.unregister()


def test_converted_jwt_authn_decides_the_same(module_idp, warden_bin, make_envoy, upstream, tmp_path_factory, toks, tmp_path):
    src = tmp_path / "jwt-authn.yaml"
    src.write_text(for_idp((DIALECTS / "jwt-authn.yaml").read_text(), module_idp))
    r = subprocess.run([warden_bin, "convert", "--to", "istio", str(src)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 3, r        # converted, with gaps
    assert "401 Jwt is missing" in r.stderr and "every path" in r.stderr, r.stderr
    w, envoy = serve(tmp_path_factory, warden_bin, make_envoy, upstream, {"converted.yaml": r.stdout})
    try:
        for path, token, jwt_authn, _ in SEED_CASES:
            got = ask(envoy, upstream, path, toks.get(token)).status
            if (path, token) == ("/healthz", "expired"):
                assert got == 401          # the listed gap: Istio verifies every token sent
            else:
                assert (got == 200) == (jwt_authn == 200), (path, token, got)
    finally:
        w.stop()
        w.process.unregister()


def test_converted_security_policy_is_valid_istio_and_decides_the_same(module_idp, warden_bin, make_envoy, upstream,
                                                                       tmp_path_factory, toks, tmp_path):
    """The seed SecurityPolicy targets an HTTPRoute, which no Istio policy may target (istiod's
    validatePolicyTargetReference): without --gateway nothing is printed for it (a gap naming the flag); with the
    route's Gateway the documents target it, `warden validate` accepts them, and they decide as the SecurityPolicy
    does on its route — but for the listed gap: a missing token is 403 under Istio, 401 under Envoy Gateway."""
    src = tmp_path / "security-policy.yaml"
    src.write_text(for_idp((DIALECTS / "security-policy.yaml").read_text(), module_idp))
    plain = subprocess.run([warden_bin, "convert", "--to", "istio", str(src)], capture_output=True, text=True, timeout=30)
    assert plain.returncode == 3 and "--gateway NAME" in plain.stderr and plain.stdout.strip() == "", plain
    r = subprocess.run([warden_bin, "convert", "--to", "istio", "--gateway", "orders-gw", str(src)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 3 and "attached to Gateway orders-gw instead" in r.stderr, r
    assert "HTTPRoute" not in r.stdout and '"kind":"Gateway"' in r.stdout, r.stdout
    out = tmp_path / "converted.yaml"
    out.write_text(r.stdout)
    v = subprocess.run([warden_bin, "validate", "--policy", str(out)], capture_output=True, text=True, timeout=30)
    assert v.returncode == 0, v
    sp, sp_envoy = serve(tmp_path_factory, warden_bin, make_envoy, upstream, {"sp.yaml": src.read_text()},
                         extra_args=["--target", "HTTPRoute/orders"])
    istio, istio_envoy = serve(tmp_path_factory, warden_bin, make_envoy, upstream, {"converted.yaml": r.stdout},
                               extra_args=["--target", "Gateway/orders-gw"])
    try:
        for token in ("valid", "member", "expired", "other_aud", None):
            a = ask(sp_envoy, upstream, "/orders", toks.get(token)).status
            b = ask(istio_envoy, upstream, "/orders", toks.get(token)).status
            if token is None:
                assert (a, b) == (401, 403), (token, a, b)     # the listed gap
            else:
                assert a == b, (token, a, b)
    finally:
        for w in (sp, istio):
            w.stop()
            w.process.unregister()


def test_explain_shows_the_jwt_authn_rule_and_requirement(module_idp, warden_bin, toks, tmp_path):
    src = tmp_path / "jwt-authn.yaml"
    src.write_text(for_idp((DIALECTS / "jwt-authn.yaml").read_text(), module_idp))

    def explain(path: str, token: str | None) -> str:
        args = [warden_bin, "explain", "--policy", str(src), "--method", "GET", "--path", path, "--fetch"]
        if token:
            args += ["--header", f"authorization: Bearer {toks[token]}"]
        r = subprocess.run(args, capture_output=True, text=True, timeout=30)
        return r.stdout + r.stderr

    missing = explain("/orders", None)
    assert "Envoy jwt_authn" in missing and "rules[2]" in missing and "401 Jwt is missing" in missing, missing
    docs = explain("/docs/x", "valid")
    assert "rules[1]" in docs and "verified" in docs and "requirement met" in docs and "200 allowed" in docs, docs
    assert "no rule matched" not in explain("/healthz", None) and "rules[0]" in explain("/healthz", None)


def test_explain_sees_pseudo_header_matches_and_validate_counts_jwt_authn_documents(module_idp, warden_bin, tmp_path):
    """Envoy's CheckRequest carries `:method` and `:authority` among the headers, and jwt_authn's header matchers read
    them there (route_components.proto HeaderMatcher: pseudo-headers included); `warden explain` builds its request the
    same way. `warden validate` counts a jwt_authn document in its summary."""
    import json
    doc = {
        "providers": {"kc": {"issuer": module_idp.issuer,
                             "remote_jwks": {"http_uri": {"uri": module_idp.jwks_uri, "cluster": "idp", "timeout": "5s"}}}},
        "rules": [
            {"match": {"prefix": "/", "headers": [{"name": ":method", "string_match": {"exact": "POST"}}]},
             "requires": {"provider_name": "kc"}},
            {"match": {"prefix": "/", "headers": [{"name": ":authority", "string_match": {"exact": "admin.example"}}]},
             "requires": {"provider_name": "kc"}},
            {"match": {"prefix": "/"}},
        ],
    }
    src = tmp_path / "jwt-authn.json"
    src.write_text(json.dumps(doc))

    def explain(*args: str) -> str:
        r = subprocess.run([warden_bin, "explain", "--policy", str(src), "--path", "/orders", *args],
                           capture_output=True, text=True, timeout=30)
        return r.stdout + r.stderr

    assert "401 Jwt is missing" in explain("--method", "POST")
    assert "200 allowed" in explain("--method", "GET")
    assert "401 Jwt is missing" in explain("--method", "GET", "--host", "admin.example")
    v = subprocess.run([warden_bin, "validate", "--policy", str(src)], capture_output=True, text=True, timeout=30)
    assert v.returncode == 0 and "1 jwt_authn document(s)" in v.stdout, v


def test_a_directory_may_mix_dialects(module_idp, warden_bin, make_envoy, upstream, tmp_path_factory, toks):
    """A jwt_authn document runs first (as a jwt_authn filter placed before Istio's), then the Istio resources."""
    deny_delete = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-delete, namespace: default}
spec:
  action: DENY
  rules:
  - to: [{operation: {methods: [DELETE]}}]
"""
    w, envoy = serve(tmp_path_factory, warden_bin, make_envoy, upstream,
                     {"jwt-authn.yaml": for_idp((DIALECTS / "jwt-authn.yaml").read_text(), module_idp), "ap.yaml": deny_delete})
    try:
        bearer = {"authorization": f"Bearer {toks['valid']}"}
        assert send(envoy.port, "GET", "/orders", bearer, upstream=upstream).status == 200
        r = send(envoy.port, "DELETE", "/orders", bearer, upstream=upstream)
        assert (r.status, r.text) == (403, "RBAC: access denied"), r
        r = send(envoy.port, "DELETE", "/orders", {}, upstream=upstream)
        assert (r.status, r.text) == (401, "Jwt is missing"), r    # jwt_authn answers before the DENY policy is looked at
        assert send(envoy.port, "DELETE", "/healthz", {}, upstream=upstream).status == 403
    finally:
        w.stop()
        w.process.unregister()


def test_a_bad_jwt_authn_document_on_reload_keeps_the_last_good(module_idp, warden_bin, make_envoy, upstream, tmp_path_factory, toks):
    import json
    import time
    w, envoy = serve(tmp_path_factory, warden_bin, make_envoy, upstream,
                     {"jwt-authn.yaml": for_idp((DIALECTS / "jwt-authn.yaml").read_text(), module_idp)})
    try:
        policy = w.policy_dir / "jwt-authn.yaml"
        policy.write_text(policy.read_text().replace("provider_name: keycloak_provider", "provider_name: nobody"))
        error = ""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not error:
            error = json.loads(w.admin_status("/config_dump")[1]).get("last_reload_error", "")
            time.sleep(0.1)
        assert "Required provider ['nobody'] is not configured." in error and "jwt-authn.yaml:" in error, error
        assert send(envoy.port, "GET", "/orders", {}, upstream=upstream).status == 401     # the last good document serves
        assert send(envoy.port, "GET", "/healthz", {}, upstream=upstream).status == 200
    finally:
        w.stop()
        w.process.unregister()


def test_the_jwt_authn_document_decides_the_same_behind_forward_auth(module_idp, make_warden, tmp_path, toks):
    """One policy directory, every proxy: the same jwt_authn document through the HTTP front door."""
    from harness import httpclient
    w = make_warden(write_policy_dir(tmp_path / "p", {"jwt-authn.yaml": for_idp((DIALECTS / "jwt-authn.yaml").read_text(), module_idp)}),
                    http=True)

    def ask(path: str, token: str | None):
        headers = {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": path, "X-Forwarded-Host": "shop.example",
                   "X-Forwarded-Proto": "https"}
        if token:
            headers["Authorization"] = f"Bearer {toks[token]}"
        return httpclient.get(w.http_url + "/forward-auth", headers=headers)

    for path, token, status, _ in SEED_CASES:
        r = ask(path, token)
        assert r.status == status, (path, token, r.status)
    r = ask("/orders", None)
    assert r.text == "Jwt is missing" and r.headers["www-authenticate"] == 'Bearer realm="https://shop.example/orders"', r
    ok = ask("/orders", "valid")
    assert ok.headers.get("x-user-id") == "alice", ok.headers
