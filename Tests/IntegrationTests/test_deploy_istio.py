"""deploy/istio: the mesh's extension provider points at the Warden Service, the CUSTOM policy selects the
workload Warden stands for and uses no JWT fields (CUSTOM runs before Istio's JWT filter), the JWT rules
live only in Warden's policies — and those policies load in Warden and give the documented decisions
through a real Envoy."""
from __future__ import annotations

import re

import pytest
import yaml

from harness import kustomize as k
from harness import orders_api
from harness.deploy import MAIN
from harness.envoy import Envoy, load_for_rig
from harness.policy_render import load_policy_dir, render_policies
from harness.tokens import Minter
from harness.warden import Warden

ISTIO = k.DEPLOY / "istio"
MESH_CONFIG = ISTIO / "mesh-config.yaml"
WARDEN_POLICIES = ISTIO / "warden-policies"
JWT_SOURCE_FIELDS = {"requestPrincipals", "notRequestPrincipals"}


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    return k.build(ISTIO)


@pytest.fixture(scope="module")
def provider() -> dict:
    operator = yaml.safe_load(MESH_CONFIG.read_text())
    assert (operator["apiVersion"], operator["kind"]) == ("install.istio.io/v1alpha1", "IstioOperator")
    providers = operator["spec"]["meshConfig"]["extensionProviders"]
    assert len(providers) == 1
    return providers[0]


def _warden_scope(rendered):
    deployment = k.one(rendered, "Deployment", "warden")
    args = k.container(deployment, "warden")["args"]
    return deployment, k.flag_value(args, "--namespace"), k.parse_labels(k.flag_value(args, "--workload-labels"))


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)", duration)
    assert match, duration
    return float(match[1]) / (1000 if match[2] == "ms" else 1)


def test_extension_provider_points_at_the_warden_service_and_fails_closed(provider, rendered):
    grpc = provider["envoyExtAuthzGrpc"]
    assert set(grpc) <= {"service", "port", "timeout", "failOpen", "statusOnError", "clearRouteCache",
                         "includeRequestBodyInCheck"}
    assert grpc["failOpen"] is False
    assert 0 < _seconds(grpc["timeout"]) <= 1
    name, namespace, suffix = grpc["service"].split(".", 2)
    assert suffix == "svc.cluster.local"
    service = k.one(rendered, "Service", name)
    assert service["metadata"]["namespace"] == namespace
    port = next(p for p in service["spec"]["ports"] if p["port"] == grpc["port"])
    assert port["appProtocol"] == "grpc" and port["name"].startswith("grpc")  # Istio's protocol selection


def test_custom_policy_selects_the_workload_warden_decides_for(provider, rendered):
    custom = [r for r in k.by_kind(rendered, "AuthorizationPolicy") if r["spec"].get("action") == "CUSTOM"]
    assert len(custom) == 1
    policy = custom[0]
    assert policy["spec"]["provider"] == {"name": provider["name"]}
    _, namespace, labels = _warden_scope(rendered)
    assert policy["metadata"]["namespace"] == namespace
    assert policy["spec"]["selector"]["matchLabels"] == labels
    assert policy["spec"]["rules"], "CUSTOM needs rules: they choose which requests go to Warden"


def test_no_jwt_rule_is_left_in_istio(rendered):
    """Warden strips the token: Istio-side RequestAuthentication or claim rules would see no token."""
    istio = [r for r in rendered if r["apiVersion"].startswith("security.istio.io/")]
    assert {r["kind"] for r in istio} == {"AuthorizationPolicy", "PeerAuthentication"}
    for policy in istio:
        for rule in policy["spec"].get("rules", []):
            for source in rule.get("from", []):
                assert not JWT_SOURCE_FIELDS & set(source["source"]), policy["metadata"]["name"]
            for condition in rule.get("when", []):
                assert not condition["key"].startswith("request.auth."), policy["metadata"]["name"]
    peer = k.one(rendered, "PeerAuthentication")
    assert peer["spec"]["mtls"]["mode"] == "STRICT"


def test_wardens_configmap_holds_the_moved_policies(rendered):
    deployment, namespace, labels = _warden_scope(rendered)
    configmap = k.one(rendered, "ConfigMap", k.mounted_configmap_files(deployment, "warden", "/etc/warden/policies")[0])
    assert k.policy_documents(configmap) == load_policy_dir(WARDEN_POLICIES)
    for doc in load_policy_dir(WARDEN_POLICIES):
        assert doc["metadata"]["namespace"] == namespace
        assert doc["spec"]["selector"]["matchLabels"] == labels
        assert doc["kind"] in ("RequestAuthentication", "AuthorizationPolicy")
        assert doc["spec"].get("action", "ALLOW") != "CUSTOM"


# Field names of security.istio.io/v1 (istio/api security/v1beta1/*.proto, JSON names): a typo in a CRD is
# silently pruned by the API server, so catch it here. `None` = a leaf or free-form map.
_STRING_LIST = None
_OPERATION = {k: None for k in ("hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths")}
_SOURCE = {k: None for k in ("principals", "notPrincipals", "requestPrincipals", "notRequestPrincipals", "namespaces",
                              "notNamespaces", "ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks",
                              "serviceAccounts", "notServiceAccounts", "trustDomains", "notTrustDomains")}
_SELECTOR = {"matchLabels": None}
_METADATA = {"name": None, "namespace": None, "labels": None, "annotations": None}
ISTIO_FIELDS = {
    "AuthorizationPolicy": {"apiVersion": None, "kind": None, "metadata": _METADATA, "spec": {
        "selector": _SELECTOR, "targetRef": None, "targetRefs": None, "action": None, "provider": {"name": None},
        "rules": [{"from": [{"source": _SOURCE}], "to": [{"operation": _OPERATION}],
                   "when": [{"key": None, "values": None, "notValues": None}]}]}},
    "PeerAuthentication": {"apiVersion": None, "kind": None, "metadata": _METADATA, "spec": {
        "selector": _SELECTOR, "mtls": {"mode": None}, "portLevelMtls": None}},
}


def _unknown_fields(value, schema, path="") -> list[str]:
    if schema is None:
        return []
    if isinstance(schema, list):
        return [e for i, item in enumerate(value) for e in _unknown_fields(item, schema[0], f"{path}[{i}]")]
    errors = [f"{path}.{key}" for key in value if key not in schema]
    return errors + [e for key, item in value.items() if key in schema for e in _unknown_fields(item, schema[key], f"{path}.{key}")]


def test_istio_resources_use_only_known_fields(rendered):
    istio = [r for r in rendered if r["apiVersion"].startswith("security.istio.io/")]
    assert istio
    for resource in istio:
        assert _unknown_fields(resource, ISTIO_FIELDS[resource["kind"]]) == [], resource["metadata"]["name"]
    assert _unknown_fields({"spec": {"rules": [{"to": [{"operation": {"path": ["/x"]}}]}]}},
                           {"spec": ISTIO_FIELDS["AuthorizationPolicy"]["spec"]}) == [".spec.rules[0].to[0].operation.path"]
    for action in {r["spec"].get("action", "ALLOW") for r in istio if r["kind"] == "AuthorizationPolicy"}:
        assert action in ("ALLOW", "DENY", "AUDIT", "CUSTOM")


# -- the moved policies in a real Warden behind a real Envoy -----------------------------------------------------
@pytest.fixture(scope="module")
def istio_rig(rendered, module_idp, upstream, warden_bin, tmp_path_factory):
    base = tmp_path_factory.mktemp("istio")
    deployment, _, _ = _warden_scope(rendered)
    args = k.container(deployment, "warden")["args"]
    policies = render_policies(load_policy_dir(WARDEN_POLICIES), base / "policies", jwks_uri=module_idp.jwks_uri)
    warden = Warden([], binary=warden_bin, work_dir=base / "warden",
                    extra_args=k.local_warden_args(args, policy_dir=policies, cache_dir=base / "cache"))
    envoy = Envoy(load_for_rig(MAIN, upstream_port=upstream.port, warden_port=warden.port), work_dir=base / "envoy")
    yield envoy
    envoy.stop()
    warden.stop()
    warden.process.unregister()


CASES = orders_api.COMMON + orders_api.ISTIO_EXTRA


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_moved_policies_give_the_documented_decisions(istio_rig, module_idp, upstream, case):
    orders_api.check(case, istio_rig.base_url, Minter(module_idp, audience=orders_api.AUDIENCE), upstream)
