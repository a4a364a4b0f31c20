"""deploy/kubernetes (sidecar, central) and deploy/istio render with Kustomize, pass the Kubernetes schemas,
hang together (probes, ports, selectors, ConfigMaps, Warden's scope vs. its policies), the sidecar's Envoy
config validates with the real Envoy, and Warden started with the manifests' own flags serves the
documented decisions through it."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import grpc
import pytest
import yaml

from harness import kustomize as k
from harness import orders_api
from harness.envoy import Envoy, envoy_binary, load_for_rig, render_config, validate
from harness.grpc_client import AuthzClient
from harness.pki import PKI
from harness.policy_render import render_policies
from harness.tokens import Minter
from harness.warden import Warden

ALL = sorted(k.KUSTOMIZATIONS)
API_VERSIONS = {
    "Namespace": "v1", "ServiceAccount": "v1", "ConfigMap": "v1", "Service": "v1",
    "Deployment": "apps/v1", "PodDisruptionBudget": "policy/v1", "HorizontalPodAutoscaler": "autoscaling/v2",
    "NetworkPolicy": "networking.k8s.io/v1", "Ingress": "networking.k8s.io/v1",
    "AuthorizationPolicy": "security.istio.io/v1", "PeerAuthentication": "security.istio.io/v1",
}
EXPECTED_KINDS = {
    "sidecar": {"Namespace", "ServiceAccount", "ConfigMap", "Service", "Deployment", "NetworkPolicy"},
    "central": {"Namespace", "ServiceAccount", "ConfigMap", "Service", "Deployment", "PodDisruptionBudget",
                "HorizontalPodAutoscaler", "NetworkPolicy"},
    "ingress-nginx": {"Namespace", "ServiceAccount", "ConfigMap", "Service", "Deployment", "PodDisruptionBudget",
                      "HorizontalPodAutoscaler", "NetworkPolicy", "Ingress"},
    "istio": {"Namespace", "ServiceAccount", "ConfigMap", "Service", "Deployment", "PodDisruptionBudget",
              "HorizontalPodAutoscaler", "AuthorizationPolicy", "PeerAuthentication", "NetworkPolicy"},
}
POLICY_MOUNT = "/etc/warden/policies"


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {name: k.build(path) for name, path in k.KUSTOMIZATIONS.items()}


def _warden_deployment(resources):
    found = [d for d in k.by_kind(resources, "Deployment")
             if any(c["name"] == "warden" for c in k.pod_spec(d)["containers"])]
    assert len(found) == 1
    return found[0]


def _labels_match(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


# -- rendering and schemas ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_renders_the_expected_kinds_and_api_versions(rendered, name):
    resources = rendered[name]
    assert {r["kind"] for r in resources} == EXPECTED_KINDS[name]
    for r in resources:
        assert r["apiVersion"] == API_VERSIONS[r["kind"]], (r["kind"], r["apiVersion"])
        assert r["metadata"]["name"]
        if r["kind"] != "Namespace":
            assert r["metadata"].get("namespace"), f"{r['kind']}/{r['metadata']['name']} has no namespace"
    keys = [(r["kind"], r["metadata"].get("namespace"), r["metadata"]["name"]) for r in resources]
    assert len(keys) == len(set(keys)), "duplicate resources"


@pytest.mark.parametrize("name", ALL)
def test_kubernetes_resources_pass_the_schema(rendered, name):
    """Strict (no unknown fields) validation against the Kubernetes OpenAPI schemas shipped offline by
    the kubernetes-validate package."""
    kv = pytest.importorskip("kubernetes_validate.utils", reason="pip install kubernetes-validate")
    version = kv.latest_version()
    for r in rendered[name]:
        if r["apiVersion"].startswith("security.istio.io/"):
            continue  # CRDs: no offline schema; checked structurally in test_deploy_istio.py
        kv.validate(r, version, strict=True)


def test_schema_validation_rejects_a_broken_manifest(rendered):
    kv = pytest.importorskip("kubernetes_validate.utils", reason="pip install kubernetes-validate")
    deployment = json.loads(json.dumps(_warden_deployment(rendered["central"])))
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "grpc"
    with pytest.raises(kv.ValidationError):
        kv.validate(deployment, kv.latest_version(), strict=True)


@pytest.mark.parametrize("name", ALL)
def test_minimal_renderer_agrees_with_kubectl(rendered, name):
    if not k.kubectl():
        pytest.skip("kubectl not installed: only the minimal renderer is used")
    canon = lambda rs: sorted(json.dumps(r, sort_keys=True) for r in rs)  # noqa: E731
    assert canon(k.build_minimal(k.KUSTOMIZATIONS[name])) == canon(rendered[name])


def test_every_kustomization_resource_exists_and_overlays_build_on_the_base():
    base = k.DEPLOY / "kubernetes" / "base"
    central_base = k.DEPLOY / "kubernetes" / "central-base"
    for directory in [base, central_base, *k.KUSTOMIZATIONS.values()]:
        kust = k.load_kustomization(directory)
        for entry in kust.get("resources", []):
            assert (directory / entry).exists(), f"{directory}: missing {entry}"
        for gen in kust.get("configMapGenerator", []):
            for f in gen["files"]:
                assert (directory / f.split("=")[-1]).is_file(), f"{directory}: missing {f}"
        for patch in kust.get("patches", []):
            assert (directory / patch["path"]).is_file(), f"{directory}: missing {patch['path']}"
    assert "../../base" in k.load_kustomization(k.KUSTOMIZATIONS["sidecar"])["resources"]
    assert "../base" in k.load_kustomization(central_base)["resources"]
    # The central overlay is central-base plus mTLS; Istio's is central-base in the mesh.
    assert k.load_kustomization(k.KUSTOMIZATIONS["central"])["resources"] == ["../../central-base"]
    assert "../kubernetes/central-base" in k.load_kustomization(k.KUSTOMIZATIONS["istio"])["resources"]


# -- workloads -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_every_container_is_locked_down_and_bounded(rendered, name):
    for deployment in k.by_kind(rendered[name], "Deployment"):
        spec = k.pod_spec(deployment)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["automountServiceAccountToken"] is False
        assert _labels_match(deployment["spec"]["selector"]["matchLabels"], deployment["spec"]["template"]["metadata"]["labels"])
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, c["name"]
            assert sc["allowPrivilegeEscalation"] is False, c["name"]
            assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
            assert sc.get("runAsUser", 0) != 0, c["name"]
            for bound in ("requests", "limits"):
                assert set(c["resources"][bound]) == {"cpu", "memory"}, (c["name"], bound)


@pytest.mark.parametrize("name", ALL)
def test_warden_container_probes_mounts_and_flags(rendered, name):
    resources = rendered[name]
    deployment = _warden_deployment(resources)
    warden = k.container(deployment, "warden")
    args = warden["args"]
    ports = {p["name"]: p["containerPort"] for p in warden["ports"]}
    listen_host, _, listen_port = k.flag_value(args, "--listen").rpartition(":")
    admin_host, _, admin_port = k.flag_value(args, "--admin-listen").rpartition(":")
    # Kubelet probes the pod IP: Warden must listen beyond loopback, on the ports the container declares.
    assert listen_host == admin_host == "0.0.0.0"
    expected_ports = {"grpc": int(listen_port), "admin": int(admin_port)}
    if k.flag_value(args, "--http-listen"):
        http_host, _, http_port = k.flag_value(args, "--http-listen").rpartition(":")
        assert http_host == "0.0.0.0"
        expected_ports["http-authz"] = int(http_port)
    assert ports == expected_ports
    if k.flag_value(args, "--tls-cert"):
        # The kubelet's gRPC probe speaks no TLS: the admin port's /healthz and /readyz answer instead.
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert set(warden[probe]) & {"grpc", "tcpSocket", "exec"} == set(), probe
            assert warden[probe]["httpGet"]["port"] in ("admin", ports["admin"]), probe
        assert warden["startupProbe"]["httpGet"]["path"] == warden["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert warden["readinessProbe"]["httpGet"]["path"] == "/readyz"
    else:
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert warden[probe]["grpc"]["port"] == ports["grpc"], probe
        assert warden["readinessProbe"]["grpc"]["service"] == "envoy.service.auth.v3.Authorization"
        assert warden["livenessProbe"]["grpc"].get("service", "") == ""

    volumes = {v["name"]: v for v in k.pod_spec(deployment)["volumes"]}
    mounts = {m["mountPath"]: m for m in warden["volumeMounts"]}
    # --cache-dir on an emptyDir (the root filesystem is read-only).
    cache = mounts[k.flag_value(args, "--cache-dir")]
    assert "emptyDir" in volumes[cache["name"]] and not cache.get("readOnly")
    # --policy: a ConfigMap mounted as a directory (no subPath, no items), so kubelet's in-place updates
    # reach Warden's reloader.
    assert k.flag_values(args, "--policy") == [POLICY_MOUNT]
    policy_mount = mounts[POLICY_MOUNT]
    assert policy_mount["readOnly"] is True and "subPath" not in policy_mount
    cm_name, items = k.mounted_configmap_files(deployment, "warden", POLICY_MOUNT)
    assert items is None
    configmap = k.one(resources, "ConfigMap", cm_name)
    assert configmap["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert configmap["data"] and all(key.endswith(".yaml") for key in configmap["data"])


@pytest.mark.parametrize("name", ALL)
def test_every_policy_applies_to_the_workload_warden_stands_for(rendered, name):
    """Istio semantics: a policy whose namespace/selector miss the workload is ignored, and with no ALLOW
    policy left everything is allowed. The flags and the policies must agree."""
    resources = rendered[name]
    deployment = _warden_deployment(resources)
    args = k.container(deployment, "warden")["args"]
    namespace = k.flag_value(args, "--namespace", "default")
    labels = k.parse_labels(k.flag_value(args, "--workload-labels"))
    docs = k.policy_documents(k.one(resources, "ConfigMap", k.mounted_configmap_files(deployment, "warden", POLICY_MOUNT)[0]))
    kinds = [d["kind"] for d in docs]
    assert "RequestAuthentication" in kinds and "AuthorizationPolicy" in kinds
    assert any(d["kind"] == "AuthorizationPolicy" and d["spec"].get("action", "ALLOW") == "ALLOW" for d in docs)
    for d in docs:
        assert d["apiVersion"] == "security.istio.io/v1"
        assert d["metadata"]["namespace"] == namespace, d["metadata"]["name"]
        selector = (d["spec"].get("selector") or {}).get("matchLabels", {})
        assert all(labels.get(key) == value for key, value in selector.items()), d["metadata"]["name"]
    if name == "sidecar":
        assert namespace == deployment["metadata"]["namespace"]
        assert _labels_match(labels, deployment["spec"]["template"]["metadata"]["labels"])


@pytest.mark.parametrize("name", ALL)
def test_services_select_the_pods_and_target_declared_ports(rendered, name):
    resources = rendered[name]
    for service in k.by_kind(resources, "Service"):
        targets = [d for d in k.by_kind(resources, "Deployment")
                   if _labels_match(service["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])]
        assert len(targets) == 1, service["metadata"]["name"]
        declared = {p["name"]: (c["name"], p["containerPort"])
                    for c in k.pod_spec(targets[0])["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in declared, (service["metadata"]["name"], port)
            if name == "sidecar":  # the app is reachable only through Envoy
                assert declared[port["targetPort"]][0] == "envoy"
            elif port["targetPort"] == "http-authz":  # the HTTP front door (overlays/ingress-nginx)
                assert declared[port["targetPort"]] == ("warden", 9192) and port["appProtocol"] == "http"
            else:
                assert declared[port["targetPort"]] == ("warden", 9191) and port["appProtocol"] == "grpc"


def test_central_has_a_disruption_budget_and_an_autoscaler_on_cpu(rendered):
    for name in ("central", "istio"):
        resources = rendered[name]
        deployment = _warden_deployment(resources)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        pdb = k.one(resources, "PodDisruptionBudget")
        assert _labels_match(pdb["spec"]["selector"]["matchLabels"], labels) and pdb["spec"]["minAvailable"] >= 1
        hpa = k.one(resources, "HorizontalPodAutoscaler")
        ref = hpa["spec"]["scaleTargetRef"]
        assert (ref["apiVersion"], ref["kind"], ref["name"]) == ("apps/v1", "Deployment", deployment["metadata"]["name"])
        assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
        assert {m["resource"]["name"] for m in hpa["spec"]["metrics"]} == {"cpu"}
        assert k.container(deployment, "warden")["resources"]["requests"]["cpu"]
        assert k.one(resources, "Service", "warden-headless")["spec"]["clusterIP"] == "None"


def test_sidecar_network_policy_admits_only_envoy_ports(rendered):
    resources = rendered["sidecar"]
    deployment = k.one(resources, "Deployment", "orders")
    policy = k.one(resources, "NetworkPolicy")
    assert _labels_match(policy["spec"]["podSelector"]["matchLabels"], deployment["spec"]["template"]["metadata"]["labels"])
    envoy_ports = {p["name"] for p in k.container(deployment, "envoy")["ports"]}
    assert {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]} == envoy_ports


@pytest.mark.parametrize("name", ["central", "istio"])
def test_central_network_policy_admits_only_gateways_and_monitoring(rendered, name):
    """The central Warden is not open to the whole cluster: Check (gRPC) only from labelled gateway
    namespaces, the admin port (/config_dump, /metrics) only from the monitoring namespace, nothing else."""
    resources = rendered[name]
    deployment = k.one(resources, "Deployment", "warden")
    policy = k.one(resources, "NetworkPolicy")
    assert _labels_match(policy["spec"]["podSelector"]["matchLabels"], deployment["spec"]["template"]["metadata"]["labels"])
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    by_port = {p["port"]: rule["from"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert set(by_port) == {p["name"] for p in k.container(deployment, "warden")["ports"]} == {"grpc", "admin"}
    assert by_port["grpc"] == [{"namespaceSelector": {"matchLabels": {"warden.io/ext-authz-client": "true"}}}]
    assert by_port["admin"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]


# -- the sidecar's Envoy ---------------------------------------------------------------------------------------
def _sidecar_envoy(rendered):
    resources = rendered["sidecar"]
    deployment = k.one(resources, "Deployment", "orders")
    envoy = k.container(deployment, "envoy")
    config_path = k.flag_value(envoy["args"], "-c")
    mount_dir, _, key = config_path.rpartition("/")
    cm_name, items = k.mounted_configmap_files(deployment, "envoy", mount_dir)
    assert items is None or key in items
    text = k.one(resources, "ConfigMap", cm_name)["data"][key]
    return deployment, envoy, text


def test_sidecar_envoy_config_from_the_configmap_validates_with_the_container_args(rendered, tmp_path):
    _, envoy, text = _sidecar_envoy(rendered)
    path = tmp_path / "envoy.yaml"
    path.write_text(text)
    args = list(envoy["args"])
    args[args.index("-c") + 1] = str(path)
    result = validate(path)  # plain validation, as the harness does
    assert result.returncode == 0, result.stdout + result.stderr
    with_args = subprocess.run([envoy_binary(), "--mode", "validate", *args], capture_output=True, text=True, timeout=60)
    assert with_args.returncode == 0, with_args.stdout + with_args.stderr


def test_sidecar_envoy_ports_and_clusters_match_the_pod(rendered):
    deployment, envoy, text = _sidecar_envoy(rendered)
    config = yaml.safe_load(text)
    listeners = {l["name"]: l for l in config["static_resources"]["listeners"]}
    ports = {p["name"]: p["containerPort"] for p in envoy["ports"]}
    assert listeners["ingress"]["address"]["socket_address"]["port_value"] == ports["http"]
    assert listeners["readiness"]["address"]["socket_address"]["port_value"] == ports["envoy-ready"]
    readiness_hcm = listeners["readiness"]["filter_chains"][0]["filters"][0]["typed_config"]
    health = readiness_hcm["http_filters"][0]["typed_config"]
    assert health["headers"][0]["string_match"]["exact"] == envoy["readinessProbe"]["httpGet"]["path"]
    assert envoy["readinessProbe"]["httpGet"]["port"] == "envoy-ready"
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    warden_args = k.container(deployment, "warden")["args"]
    warden_addr = clusters["warden"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert (warden_addr["address"], warden_addr["port_value"]) == ("127.0.0.1", int(k.flag_value(warden_args, "--listen").rpartition(":")[2]))
    hcm = listeners["ingress"]["filter_chains"][0]["filters"][0]["typed_config"]
    authz = next(f for f in hcm["http_filters"] if f["name"] == "envoy.filters.http.ext_authz")["typed_config"]
    assert authz["failure_mode_allow"] is False and authz["transport_api_version"] == "V3"
    assert authz["grpc_service"]["envoy_grpc"]["cluster_name"] == "warden"


# -- Warden with the manifests' own flags ------------------------------------------------------------------
@pytest.fixture(scope="module")
def sidecar_rig(rendered, module_idp, upstream, warden_bin, tmp_path_factory):
    """Warden with the sidecar manifest's flags and ConfigMap policies (jwksUri → the rig IdP), behind
    the sidecar ConfigMap's Envoy config."""
    base = tmp_path_factory.mktemp("sidecar")
    deployment, _, envoy_text = _sidecar_envoy(rendered)
    args = k.container(deployment, "warden")["args"]
    docs = k.policy_documents(k.one(rendered["sidecar"], "ConfigMap", "warden-policies"))
    policies = render_policies(docs, base / "policies", jwks_uri=module_idp.jwks_uri)
    warden = Warden([], binary=warden_bin, work_dir=base / "warden",
                    extra_args=k.local_warden_args(args, policy_dir=policies, cache_dir=base / "cache"))
    (base / "envoy.yaml").write_text(envoy_text)
    envoy = Envoy(load_for_rig(base / "envoy.yaml", upstream_port=upstream.port, warden_port=warden.port),
                  work_dir=base / "envoy")
    yield warden, envoy
    envoy.stop()
    warden.stop()
    warden.process.unregister()


@pytest.mark.parametrize("case", orders_api.COMMON, ids=[c.name for c in orders_api.COMMON])
def test_sidecar_pod_gives_the_documented_decisions(sidecar_rig, module_idp, upstream, case):
    _, envoy = sidecar_rig
    orders_api.check(case, envoy.base_url, Minter(module_idp, audience=orders_api.AUDIENCE), upstream)


def test_sidecar_warden_persists_keys_in_its_cache_dir(sidecar_rig, module_idp, upstream):
    warden, envoy = sidecar_rig
    orders_api.check(orders_api.COMMON[2], envoy.base_url, Minter(module_idp, audience=orders_api.AUDIENCE), upstream)
    cache_dir = k.flag_value(warden.argv, "--cache-dir")
    assert any(p.is_file() for p in Path(cache_dir).rglob("*")), "nothing cached"


@pytest.mark.parametrize("name", ["central", "istio"])
def test_central_warden_starts_ready_with_the_manifest_flags(rendered, name, module_idp, make_warden, tmp_path):
    deployment = _warden_deployment(rendered[name])
    args = k.container(deployment, "warden")["args"]
    cm_name = k.mounted_configmap_files(deployment, "warden", POLICY_MOUNT)[0]
    docs = k.policy_documents(k.one(rendered[name], "ConfigMap", cm_name))
    policies = render_policies(docs, tmp_path / "policies", jwks_uri=module_idp.jwks_uri)
    files = _central_tls_files(deployment, PKI(tmp_path / "pki")) if name == "central" else None
    warden = make_warden([], extra_args=k.local_warden_args(args, policy_dir=policies, cache_dir=tmp_path / "cache", files=files))
    assert warden.admin_status("/readyz")[0] == 200


# -- the central overlay: gRPC over mTLS only ----------------------------------------------------------------
CENTRAL_DIR = k.KUSTOMIZATIONS["central"]
# The names the Secret's certificate carries (README: the cert-manager Certificate); the sample's SNI is one.
WARDEN_DNS = ["warden.warden-system.svc", "warden.warden-system.svc.cluster.local",
              "warden-headless.warden-system.svc", "warden-headless.warden-system.svc.cluster.local"]
TLS_FLAGS = ("--tls-cert", "--tls-key", "--tls-client-ca")


def _tls_secret_mount(deployment) -> tuple[str, dict]:
    """(mount path, secret volume source) of the Warden container's Secret volume."""
    warden = k.container(deployment, "warden")
    volumes = {v["name"]: v for v in k.pod_spec(deployment)["volumes"]}
    found = [(m["mountPath"], volumes[m["name"]]["secret"]) for m in warden["volumeMounts"] if "secret" in volumes[m["name"]]]
    assert len(found) == 1, found
    return found[0]


def _central_tls_files(deployment, pki: PKI) -> dict[str, str]:
    """The overlay's TLS paths (in the Secret's mount) → a generated server certificate, key and client CA."""
    issued = pki.issue("warden", dns=WARDEN_DNS, client=False)
    args = k.container(deployment, "warden")["args"]
    cert, key, ca = (k.flag_value(args, flag) for flag in TLS_FLAGS)
    return {cert: issued.cert_path, key: issued.key_path, ca: pki.ca_path}


def test_central_serves_grpc_over_mtls_only(rendered):
    """Warden's own listener in the central overlay: server certificate, key and client CA (so a client
    certificate is required) all from the read-only Secret volume `warden-tls`, in cert-manager's key names.
    Istio's rendering keeps the mesh's transport and Warden's gRPC probes."""
    deployment = _warden_deployment(rendered["central"])
    args = k.container(deployment, "warden")["args"]
    mount, secret = _tls_secret_mount(deployment)
    assert secret["secretName"] == "warden-tls" and not secret.get("optional", False)
    assert [k.flag_value(args, f) for f in TLS_FLAGS] == [f"{mount}/tls.crt", f"{mount}/tls.key", f"{mount}/ca.crt"]
    assert next(m for m in k.container(deployment, "warden")["volumeMounts"] if m["mountPath"] == mount)["readOnly"] is True
    assert k.flag_value(args, "--listen") == "0.0.0.0:9191"  # one gRPC listener, and it is the TLS one
    assert not any(r["kind"] == "Secret" for r in rendered["central"]), "keys are created out of band, never committed"
    istio_args = k.container(_warden_deployment(rendered["istio"]), "warden")["args"]
    assert not any(k.flag_values(istio_args, f) for f in TLS_FLAGS)


def test_central_envoy_cluster_sample_is_mtls_with_san_checks():
    cluster = yaml.safe_load((CENTRAL_DIR / "envoy-cluster.yaml").read_text())
    assert cluster["name"] == "warden" and cluster["type"] == "STRICT_DNS"
    address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert address == {"address": "warden-headless.warden-system.svc.cluster.local", "port_value": 9191}
    tls = cluster["transport_socket"]["typed_config"]
    assert tls["@type"].endswith("UpstreamTlsContext") and tls["sni"] in WARDEN_DNS
    common = tls["common_tls_context"]
    assert common["alpn_protocols"] == ["h2"] and len(common["tls_certificates"]) == 1
    sans = common["validation_context"]["match_typed_subject_alt_names"]
    assert sans == [{"san_type": "DNS", "matcher": {"exact": tls["sni"]}}]


@pytest.fixture
def central_mtls_rig(rendered, module_idp, upstream, warden_bin, make_envoy, tmp_path):
    """Warden with the central overlay's flags (TLS files generated for the Secret's paths) on 127.0.0.1,
    and an Envoy whose `warden` cluster is the overlay's envoy-cluster.yaml with a gateway client certificate."""
    deployment = _warden_deployment(rendered["central"])
    args = k.container(deployment, "warden")["args"]
    docs = k.policy_documents(k.one(rendered["central"], "ConfigMap", "warden-policies"))
    policies = render_policies(docs, tmp_path / "policies", jwks_uri=module_idp.jwks_uri)
    pki = PKI(tmp_path / "pki")
    files = _central_tls_files(deployment, pki)
    warden = Warden([], binary=warden_bin, work_dir=tmp_path / "warden", debug_headers=False,
                    extra_args=k.local_warden_args(args, policy_dir=policies, cache_dir=tmp_path / "cache", files=files))
    gateway = pki.issue("gateway", uri="spiffe://cluster.local/ns/istio-ingress/sa/gateway", server=False)
    client_dir = tmp_path / "gateway-tls"
    client_dir.mkdir()
    for name, source in (("tls.crt", gateway.cert_path), ("tls.key", gateway.key_path), ("ca.crt", pki.ca_path)):
        shutil.copy(source, client_dir / name)
    cluster = yaml.safe_load((CENTRAL_DIR / "envoy-cluster.yaml").read_text().replace("/etc/envoy/warden-tls/", f"{client_dir}/"))
    cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"] = \
        {"address": "127.0.0.1", "port_value": warden.port}
    config = render_config(upstream_port=upstream.port, warden_port=warden.port)
    clusters = config["static_resources"]["clusters"]
    clusters[[c["name"] for c in clusters].index("warden")] = cluster
    try:
        yield warden, make_envoy(config), pki
    finally:
        warden.stop()
        warden.process.unregister()


def test_central_gateway_is_decided_by_warden_over_mtls(central_mtls_rig, module_idp, upstream):
    """The sample cluster, as written, against Warden started as the overlay starts it: the documented
    decisions arrive over mTLS (handshakes counted by Envoy; health checks pass through the same TLS)."""
    warden, envoy, _ = central_mtls_rig
    minter = Minter(module_idp, audience=orders_api.AUDIENCE)
    for case in orders_api.COMMON[:5]:
        orders_api.check(case, envoy.base_url, minter, upstream)
    stats = envoy.stats("cluster.warden.")
    assert stats["cluster.warden.ssl.handshake"] >= 1, stats
    assert stats.get("cluster.warden.ssl.connection_error", 0) == 0, stats


def test_central_warden_refuses_clients_without_its_client_ca(central_mtls_rig, tmp_path):
    """Only certificates from Warden's client CA get a Check through: no client certificate, one from
    another CA, or plaintext — each connection is refused by Warden (UNAVAILABLE)."""
    warden, _, pki = central_mtls_rig
    ca = Path(pki.ca_path).read_bytes()
    stranger = PKI(tmp_path / "stranger").issue("gateway", server=False)
    attempts = {
        "no client certificate": grpc.ssl_channel_credentials(ca),
        "another CA's certificate": grpc.ssl_channel_credentials(ca, Path(stranger.key_path).read_bytes(),
                                                                  Path(stranger.cert_path).read_bytes()),
        "plaintext": None,
    }
    for what, credentials in attempts.items():
        options = [("grpc.ssl_target_name_override", WARDEN_DNS[0])] if credentials else []
        with AuthzClient(warden.address, credentials=credentials, options=options) as client:
            with pytest.raises(grpc.RpcError) as error:
                client.check(timeout=2)
            assert error.value.code() == grpc.StatusCode.UNAVAILABLE, what
    own = pki.issue("ops", server=False)
    credentials = grpc.ssl_channel_credentials(ca, Path(own.key_path).read_bytes(), Path(own.cert_path).read_bytes())
    with AuthzClient(warden.address, credentials=credentials, options=[("grpc.ssl_target_name_override", WARDEN_DNS[0])]) as client:
        assert client.check().status.code == 7  # decided (no token: PERMISSION_DENIED), not refused
