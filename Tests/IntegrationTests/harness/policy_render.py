"""Copies of deploy/ policy files pointed at a local IdP (the examples name https://idp.example.com)."""
from __future__ import annotations

import os
from pathlib import Path

import yaml


def render_policies(documents: list[dict], out_dir: str | os.PathLike, *, jwks_uri: str,
                    issuer: str | None = None, file_name: str = "policies.yaml") -> Path:
    """Writes `documents` to `out_dir/file_name` with every RequestAuthentication jwtRule's key source
    replaced by `jwks_uri` (inline `jwks` removed) and, when given, its issuer replaced by `issuer`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rendered = []
    for doc in documents:
        doc = yaml.safe_load(yaml.safe_dump(doc))  # deep copy
        if doc.get("kind") == "RequestAuthentication":
            for rule in doc["spec"].get("jwtRules", []):
                rule.pop("jwks", None)
                rule["jwksUri"] = jwks_uri
                if issuer:
                    rule["issuer"] = issuer
        rendered.append(doc)
    (out_dir / file_name).write_text(yaml.safe_dump_all(rendered, sort_keys=False))
    return out_dir


def load_policy_dir(directory: str | os.PathLike) -> list[dict]:
    """Every document of every *.yaml / *.yml file under `directory` (sorted by path)."""
    docs = []
    for path in sorted(Path(directory).rglob("*")):
        if path.suffix in (".yaml", ".yml"):
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs
