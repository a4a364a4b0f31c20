"""`spaceDelimitedClaims` through a real Envoy: a string claim listed there is split on spaces before a
`when` on `request.auth.claims[...]` matches one element (Istio's `normalize_payload_in_metadata`); a claim
not listed is matched as the whole string; `scope` and `permission` are always split."""
from __future__ import annotations

import json

import pytest

from harness.idp import IdP
from harness.tokens import Minter
from harness.warden import Warden, write_policy_dir
from policy_support import send


@pytest.fixture(scope="module")
def module_idp_sd():
    idp = IdP()
    yield idp
    idp.close()


def _policies(idp: IdP) -> dict[str, str]:
    def allow(name: str, path: str, claim: str, value: str) -> str:
        return f"""\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: {name}, namespace: default}}
spec:
  action: ALLOW
  rules:
  - to: [{{operation: {{paths: ["{path}"]}}}}]
    when: [{{key: "request.auth.claims[{claim}]", values: ["{value}"]}}]
"""
    return {
        "ra.yaml": f"""\
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: jwt, namespace: default}}
spec:
  jwtRules:
  - issuer: "{idp.issuer}"
    jwks: '{json.dumps(idp.jwks())}'
    spaceDelimitedClaims: [roles]
""",
        "roles.yaml": allow("roles", "/roles", "roles", "admin"),
        "teams.yaml": allow("teams", "/teams", "teams", "blue"),
        "teams-whole.yaml": allow("teams-whole", "/teams-whole", "teams", "blue red"),
        "scope.yaml": allow("scope", "/scope", "scope", "orders:write"),
        "permission.yaml": allow("permission", "/permission", "permission", "delete"),
    }


@pytest.fixture(scope="module")
def envoy_port(module_idp_sd, upstream, warden_bin, make_envoy, tmp_path_factory):
    base = tmp_path_factory.mktemp("space-delimited")
    w = Warden(write_policy_dir(base / "policies", _policies(module_idp_sd)), binary=warden_bin, work_dir=base)
    envoy = make_envoy(upstream_port=upstream.port, warden_port=w.port)
    yield envoy.port
    w.stop()
    w.process.unregister()


@pytest.mark.parametrize("path,claims,status", [
    ("/roles", {"roles": "user admin"}, 200),           # listed in spaceDelimitedClaims: split
    ("/roles", {"roles": "user administrator"}, 403),   # an element must match exactly
    ("/roles", {"roles": ["user", "admin"]}, 200),      # a list matches per element anyway
    ("/teams", {"teams": "red blue"}, 403),             # not listed: the whole string
    ("/teams-whole", {"teams": "blue red"}, 200),
    ("/scope", {"scope": "orders:read orders:write"}, 200),   # always split
    ("/permission", {"permission": "read delete"}, 200),      # always split
    ("/roles", {}, 403),                                # claim missing
])
def test_space_delimited_claims_through_envoy(envoy_port, module_idp_sd, upstream, path, claims, status):
    token = Minter(module_idp_sd).mint(**claims)
    result = send(envoy_port, "GET", path, {"Authorization": f"Bearer {token}"}, upstream=upstream)
    assert result.status == status, result
    if status == 403:
        assert result.text == "RBAC: access denied"
