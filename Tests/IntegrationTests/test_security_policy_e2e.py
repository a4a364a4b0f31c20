"""Envoy Gateway SecurityPolicy (gateway.envoyproxy.io/v1alpha1) as `--policy` input through a real Envoy
(client → Envoy ext_authz → Warden → echo), issue 20. Expected answers are Envoy Gateway's documented semantics
(envoyproxy/gateway api/v1alpha1/jwt_types.go, authorization_types.go; see Tests/WardenPolicyTests/
SecurityPolicyTests.swift for the quoted rules): a required JWT (`optional` defaults to false), an invalid token
refused with 401 as jwt_authn does, first-match authorization rules with `defaultAction` Deny, `StringArray`
claims, scopes, `claimToHeaders` toward the upstream, and `targetRefs` scoping to `--target`."""
from __future__ import annotations

import json

import pytest

from harness.tokens import Minter
from policy_support import send


def security_policy(idp, target: str = "backend") -> str:
    return f"""\
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {{name: sp, namespace: default}}
spec:
  targetRefs:
  - {{group: gateway.networking.k8s.io, kind: HTTPRoute, name: {target}}}
  jwt:
    providers:
    - name: idp
      issuer: {idp.issuer}
      localJWKS: {{type: Inline, inline: '{json.dumps(idp.jwks())}'}}
      claimToHeaders: [{{header: x-user, claim: sub}}]
  authorization:
    defaultAction: Deny
    rules:
    - name: no-banned
      action: Deny
      principal: {{headers: [{{name: x-tenant, values: [banned]}}]}}
    - name: ops-readers
      action: Allow
      principal:
        jwt:
          provider: idp
          claims: [{{name: groups, valueType: StringArray, values: [ops]}}]
          scopes: [read]
"""


@pytest.fixture(scope="module")
def rig(module_idp, warden_bin, upstream, make_envoy, tmp_path_factory):
    from harness.warden import Warden, write_policy_dir
    base = tmp_path_factory.mktemp("securitypolicy")
    w = Warden(write_policy_dir(base / "policies", {"sp.yaml": security_policy(module_idp)}), binary=warden_bin,
               work_dir=base, namespace="default", extra_args=["--target", "HTTPRoute/backend"])
    envoy = make_envoy(upstream_port=upstream.port, warden_port=w.port)
    yield envoy, w
    w.stop()
    w.process.unregister()


def ask(rig, upstream, token: str | None, **headers: str):
    envoy, _ = rig
    h = dict(headers)
    if token:
        h["authorization"] = f"Bearer {token}"
    return send(envoy.port, "GET", "/data", h, upstream=upstream)


def test_missing_token_is_401_as_envoy_gateway(rig, upstream):
    # jwt_types.go `Optional` defaults to false: Envoy Gateway's jwt_authn requirement answers 401 Jwt is missing.
    r = ask(rig, upstream, None)
    assert (r.status, r.text) == (401, "Jwt is missing") and r.upstream is None, r
    assert r.headers["www-authenticate"].startswith('Bearer realm="http://'), r


def test_invalid_token_is_401(rig, upstream, module_idp):
    token = Minter(module_idp).mint(groups=["ops"], scope="read")
    r = ask(rig, upstream, token[:-4] + "AAAA")
    assert r.status == 401 and r.upstream is None, r


@pytest.mark.parametrize("claims,headers,status", [
    ({"groups": ["ops"], "scope": "read write"}, {}, 200),
    ({"groups": ["dev", "ops"], "scope": "read"}, {}, 200),
    ({"groups": "ops", "scope": "read"}, {}, 403),          # StringArray never matches a bare string
    ({"groups": ["ops"], "scope": "write"}, {}, 403),       # the scope is missing: default Deny
    ({"groups": ["ops"], "scope": "read"}, {"x-tenant": "banned"}, 403),  # the first (Deny) rule matches first
])
def test_first_match_rules(rig, upstream, module_idp, claims, headers, status):
    r = ask(rig, upstream, Minter(module_idp).mint(sub="alice", **claims), **headers)
    assert r.status == status, r
    if status == 200:
        assert r.upstream_headers.get("x-user") == "alice", r


def test_config_dump_names_the_dialect(rig):
    _, w = rig
    dump = w.admin_status("/config_dump")[1]
    assert "compiled from Envoy Gateway SecurityPolicy default/sp" in dump


def test_other_target_is_not_scoped(module_idp, make_warden, make_envoy, upstream, tmp_path):
    from harness.warden import write_policy_dir
    w = make_warden(write_policy_dir(tmp_path / "p", {"sp.yaml": security_policy(module_idp, target="elsewhere")}),
                    namespace="default", extra_args=["--target", "HTTPRoute/backend"])
    envoy = make_envoy(upstream_port=upstream.port, warden_port=w.port)
    r = send(envoy.port, "GET", "/data", {}, upstream=upstream)
    assert r.status == 200, r


def test_convert_to_istio_prints_loadable_istio_and_lists_gaps(module_idp, warden_bin, tmp_path):
    """`warden convert --to istio`: Istio documents `warden validate` accepts, gaps on stderr, exit 3."""
    import subprocess
    src = tmp_path / "sp.yaml"
    src.write_text(security_policy(module_idp).replace("kind: HTTPRoute", "kind: Gateway"))
    r = subprocess.run([warden_bin, "convert", "--to", "istio", str(src)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 3, r
    assert "cannot target a route" not in r.stderr, r.stderr
    assert "valueType StringArray" in r.stderr and "401 Jwt is missing" in r.stderr and "scope only" in r.stderr, r.stderr
    out = tmp_path / "istio.yaml"
    out.write_text(r.stdout)
    assert r.stdout.count('"kind":"AuthorizationPolicy"') == 3 and '"kind":"RequestAuthentication"' in r.stdout, r.stdout
    v = subprocess.run([warden_bin, "validate", "--policy", str(out)], capture_output=True, text=True, timeout=30)
    assert v.returncode == 0, v
    bad = subprocess.run([warden_bin, "convert", str(src)], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "--to istio" in bad.stderr, bad
