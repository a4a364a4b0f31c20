"""The deploy/envoy examples, made runnable in the rig (TLS file paths swapped for a generated PKI)."""
from __future__ import annotations

from pathlib import Path

from .pki import PKI

DEPLOY_ENVOY = Path(__file__).resolve().parents[3] / "deploy" / "envoy"
CONFIGS = sorted(DEPLOY_ENVOY.glob("*.yaml"))
MAIN = DEPLOY_ENVOY / "envoy.yaml"
MTLS = DEPLOY_ENVOY / "envoy-mtls.yaml"
# Where the deploy examples expect the Envoy→Warden TLS files; tests substitute a generated PKI.
TLS_DIR = "/etc/envoy/warden-tls/"
ENVOY_SPIFFE = "spiffe://cluster.local/ns/default/sa/envoy"


def materialize(config: Path, tmp_path: Path) -> tuple[Path, PKI | None]:
    """A copy of `config` whose TLS file paths point at a freshly generated PKI (when it uses any)."""
    text = config.read_text()
    pki = None
    if TLS_DIR in text:
        pki = PKI(tmp_path / "tls")
        pki.issue("envoy-client", uri=ENVOY_SPIFFE, server=False)
        pki.issue("warden", dns=["warden.local"], ips=["127.0.0.1"], client=False)
        text = text.replace(TLS_DIR, str(pki.directory) + "/")
    out = tmp_path / config.name
    out.write_text(text)
    return out, pki
