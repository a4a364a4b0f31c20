"""AuthorizationPolicy scoping, dry-run and ports through a real Envoy (client → Envoy ext_authz → Warden → echo).

Each route names a workload with `context_extensions` (`namespace`, `label.app`). Expected answers are
Istio's (istio/api security/v1beta1/authorization_policy.proto): a policy in the root namespace applies to
every workload its selector matches, whatever the workload's namespace; `istio.io/dry-run: "true"`
policies are evaluated but never enforced (and a dry-run ALLOW does not make ALLOW policies "present");
`ports`/`notPorts` and `destination.port` are the port the request arrived on.
"""
from __future__ import annotations

import pytest

from harness.envoy import Route
from policy_support import send

AP = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"


def _route(prefix: str, namespace: str, **labels: str) -> Route:
    return Route(prefix=prefix, context_extensions={"namespace": namespace, **{f"label.{k}": v for k, v in labels.items()}})


POLICIES = {
    "root.yaml": f"""\
{AP}metadata: {{name: no-api-admin, namespace: istio-system}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  action: DENY
  rules:
  - to: [{{operation: {{paths: ["*/admin"]}}}}]
""",
    "dry.yaml": f"""\
{AP}metadata:
  name: dry-deny-all
  namespace: dry
  annotations: {{istio.io/dry-run: "true"}}
spec:
  action: DENY
  rules: [{{}}]
---
{AP}metadata:
  name: dry-allow-nothing
  namespace: dryallow
  annotations: {{istio.io/dry-run: "true"}}
spec:
  rules:
  - to: [{{operation: {{paths: ["/nothing"]}}}}]
---
{AP}metadata:
  name: enforced-allow
  namespace: dryboth
spec:
  rules:
  - to: [{{operation: {{paths: ["/dryboth/ok"]}}}}]
---
{AP}metadata:
  name: dry-allow-more
  namespace: dryboth
  annotations: {{istio.io/dry-run: "true"}}
spec:
  rules: [{{}}]
""",
    "ports.yaml": f"""\
{AP}metadata: {{name: not-port-1, namespace: ports}}
spec:
  action: DENY
  rules:
  - to: [{{operation: {{ports: ["1"], paths: ["/ports/a"]}}}}]
  - to: [{{operation: {{notPorts: ["1"], paths: ["/ports/b"]}}}}]
  - to: [{{operation: {{paths: ["/ports/c"]}}}}]
    when: [{{key: destination.port, notValues: ["1"]}}]
  - to: [{{operation: {{paths: ["/ports/d"]}}}}]
    when: [{{key: destination.port, values: ["1"]}}]
""",
}


@pytest.fixture(scope="module")
def rig(warden_bin, upstream, make_envoy, tmp_path_factory):
    from harness.warden import Warden, write_policy_dir
    base = tmp_path_factory.mktemp("scoping")
    w = Warden(write_policy_dir(base / "policies", POLICIES), binary=warden_bin, work_dir=base, namespace="default",
               root_namespace="istio-system")
    routes = [_route("/shop-api", "shop", app="api"), _route("/shop-web", "shop", app="web"),
              _route("/other-api", "other", app="api"), _route("/dryallow", "dryallow"), _route("/dryboth", "dryboth"),
              _route("/dry", "dry"), _route("/ports", "ports"), Route(prefix="/")]
    envoy = make_envoy(upstream_port=upstream.port, warden_port=w.port, routes=routes)
    yield envoy
    w.stop()
    w.process.unregister()


def status(rig, upstream, path: str) -> int:
    r = send(rig.port, "GET", path, upstream=upstream)
    if r.status == 403:
        assert r.text == "RBAC: access denied" and r.upstream is None, r
    else:
        assert r.status == 200 and r.upstream is not None, r
    return r.status


@pytest.mark.parametrize("path,expected", [
    ("/shop-api/admin", 403),     # root-namespace policy, selector app=api, workload in namespace shop
    ("/other-api/admin", 403),    # … and in any other namespace
    ("/shop-web/admin", 200),     # selector does not match app=web
    ("/shop-api/public", 200),    # no ALLOW policy applies: allowed
])
def test_root_namespace_policy_with_selector_applies_in_every_namespace(rig, upstream, path, expected):
    assert status(rig, upstream, path) == expected


@pytest.mark.parametrize("path,expected", [
    ("/dry/anything", 200),       # a dry-run DENY of everything denies nothing
    ("/dryallow/anything", 200),  # a dry-run ALLOW is not an ALLOW policy: none applies, so allowed
    ("/dryboth/ok", 200),
    ("/dryboth/other", 403),      # the enforced ALLOW decides; the dry-run ALLOW-all does not widen it
])
def test_dry_run_policies_are_never_enforced(rig, upstream, path, expected):
    assert status(rig, upstream, path) == expected


@pytest.mark.parametrize("path,expected", [
    ("/ports/a", 200),   # ports: ["1"] — the request did not arrive on port 1
    ("/ports/b", 403),   # notPorts: ["1"]
    ("/ports/c", 403),   # destination.port notValues ["1"]
    ("/ports/d", 200),   # destination.port values ["1"]
])
def test_ports_are_the_destination_port(rig, upstream, path, expected):
    assert status(rig, upstream, path) == expected
