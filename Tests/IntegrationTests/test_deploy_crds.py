"""deploy/crds/tokenpolicy.yaml, the CRD of Warden's own kind: the README's TokenPolicy example loads in
Warden (`warden validate`) and every field it uses is in the CRD's schema, so the documented file can be
`kubectl apply`-ed next to the Istio resources; fields Warden rejects are not in the schema either."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CRD = ROOT / "deploy" / "crds" / "tokenpolicy.yaml"


def readme_example(heading: str = "### TokenPolicy (Warden's own kind)") -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index(heading):]
    return re.search(r"```yaml\n(.*?)```", section, re.S).group(1)


def schema_paths(schema: dict, prefix: str = "") -> set[str]:
    out = set()
    for name, sub in (schema.get("properties") or {}).items():
        path = f"{prefix}.{name}" if prefix else name
        out.add(path)
        if sub.get("type") == "array":
            out |= schema_paths(sub.get("items") or {}, path + "[]")
        else:
            out |= schema_paths(sub, path)
    return out


def document_paths(value, prefix: str = "") -> set[str]:
    out = set()
    if isinstance(value, dict):
        for k, v in value.items():
            path = f"{prefix}.{k}" if prefix else k
            out.add(path)
            if not (prefix.endswith("matchLabels") or k == "matchLabels"):
                out |= document_paths(v, path)
    elif isinstance(value, list):
        for item in value:
            out |= document_paths(item, prefix + "[]")
    return out


def test_crd_is_a_structural_v1_crd():
    crd = yaml.safe_load(CRD.read_text())
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1" and crd["kind"] == "CustomResourceDefinition"
    assert crd["spec"]["group"] == "security.warden.io" and crd["spec"]["names"]["kind"] == "TokenPolicy"
    assert [v["name"] for v in crd["spec"]["versions"]] == ["v1alpha1"]


@pytest.mark.parametrize("heading", ["### TokenPolicy (Warden's own kind)", "### Opaque tokens (introspection, RFC 7662)",
                                     "### Token exchange at the edge (RFC 8693)"])
def test_readme_example_loads_in_warden_and_fits_the_crd(warden_bin, tmp_path, heading):
    example = readme_example(heading)
    ra = ("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: shop}\n"
          "spec:\n  jwtRules: [{issuer: https://idp.example.com, jwksUri: https://idp.example.com/jwks.json}]\n---\n")
    (tmp_path / "p.yaml").write_text(ra + example)
    result = subprocess.run([warden_bin, "validate", "--policy", str(tmp_path / "p.yaml")], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr

    crd = yaml.safe_load(CRD.read_text())
    allowed = schema_paths(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"])
    used = document_paths(yaml.safe_load(example)["spec"])
    assert used <= allowed, f"fields the CRD lacks: {sorted(used - allowed)}"


def test_a_field_outside_the_schema_is_refused_by_warden_too(warden_bin, tmp_path):
    bad = readme_example().replace("    senderConstrained: true", "    senderConstrained: true\n    audience: other")
    (tmp_path / "p.yaml").write_text(bad)
    result = subprocess.run([warden_bin, "validate", "--policy", str(tmp_path / "p.yaml")], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "audience" in result.stdout
