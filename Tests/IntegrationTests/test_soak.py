"""Short chaos soak (scripts/soak.py) as part of `make test`: real Envoy → two Warden replicas under load
while the IdP goes down, keys rotate, the policy directory is swapped (good and broken), SIGHUP arrives and a
replica is restarted with SIGTERM. `make soak` runs the same for SOAK_SECONDS (default 120)."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "soak.py"


def _load_soak():
    spec = importlib.util.spec_from_file_location("warden_soak", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_short_chaos_soak(warden_bin, tmp_path):
    soak_mod = _load_soak()
    seconds = float(os.environ.get("WARDEN_SOAK_SECONDS", "22"))
    soak = soak_mod.Soak(seconds, clients=4, work_dir=tmp_path / "soak", log=lambda line: print(line), binary=warden_bin)
    try:
        result = soak.run()
    finally:
        soak.close()
    print({k: result[k] for k in ("requests", "rps", "by_class", "envoy_retries", "warden_checks", "reloads", "rss")})
    assert result["failures"] == [], result["failures"]
    # The short run reaches the disruptive events: a graceful restart, an IdP outage, a key rotation, a broken policy.
    assert {"restart", "jwks-outage", "rotate", "policy-broken"} <= set(result["kinds_done"]), result["kinds_done"]
    assert result["requests"] > 1000
    assert all(life["exit"] == 0 for life in result["rss"] if life["exit"] is not None)
