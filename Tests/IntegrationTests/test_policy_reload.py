"""Policy hot reload: good → bad → good under concurrent checks, by file-change poll, by SIGHUP, and by a
Kubernetes ConfigMap `..data` symlink swap. A broken set is rejected (logged with file:line) and the
last good set keeps deciding; no check fails or errors while sets are swapped."""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from harness.grpc_client import AuthzClient, make_check_request
from harness.ports import wait_until

AP = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"


def allow_only(path: str, name: str = "only") -> str:
    return f"""{AP}metadata:
  name: {name}
  namespace: default
spec:
  rules:
  - to:
    - operation:
        paths: ["{path}"]
"""


# Line 10 holds the unknown field `pathz`: the error must name bad.yaml:10.
BAD = f"""{AP}metadata:
  name: broken
  namespace: default
spec:
  rules:
  - to:
    - operation:
        pathz: ["/x"]
"""
BAD_LINE = 10


def allowed(client: AuthzClient, path: str) -> bool:
    return client.check(make_check_request("GET", path)).status.code == 0


def decisions(client: AuthzClient) -> tuple[bool, bool]:
    return allowed(client, "/a"), allowed(client, "/b")


class Hammer:
    """Checks in a background thread; every answer must be a clean allow or deny."""

    def __init__(self, address: str):
        self.client = AuthzClient(address)
        self.stop = threading.Event()
        self.count = 0
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        paths = ["/a", "/b", "/c"]
        while not self.stop.is_set():
            try:
                response = self.client.check(make_check_request("GET", paths[self.count % 3]), timeout=5)
                assert response.status.code in (0, 7), response
                self.count += 1
            except BaseException as error:  # noqa: BLE001 - reported by finish()
                self.errors.append(error)
                return

    def finish(self) -> int:
        self.stop.set()
        self.thread.join(timeout=10)
        self.client.close()
        assert not self.errors, self.errors[:1]
        return self.count


def test_good_bad_good_by_file_change_under_load(make_warden, tmp_path):
    policies = tmp_path / "p"
    policies.mkdir()
    (policies / "main.yaml").write_text(allow_only("/a"))
    w = make_warden(policies, extra_args=["--reload-interval", "0.2"])
    client = AuthzClient(w.address)
    hammer = Hammer(w.address)
    try:
        assert decisions(client) == (True, False)

        (policies / "bad.yaml").write_text(BAD)
        wait_until(lambda: "policy reload rejected" in w.log_text(), 10, what="reload rejected in the log")
        log = w.log_text()
        assert f"bad.yaml:{BAD_LINE}" in log, log[-2000:]
        assert "pathz" in log
        assert decisions(client) == (True, False)          # the last good set keeps deciding

        (policies / "bad.yaml").unlink()
        (policies / "main.yaml").write_text(allow_only("/b"))
        wait_until(lambda: decisions(client) == (False, True), 10, what="fixed set picked up")
        status, _ = w.admin_status("/readyz")
        assert status == 200
    finally:
        checks = hammer.finish()
        client.close()
    assert checks > 20


def test_sighup_reloads_when_polling_is_off(make_warden, tmp_path):
    policies = tmp_path / "p"
    policies.mkdir()
    (policies / "main.yaml").write_text(allow_only("/a"))
    w = make_warden(policies, extra_args=["--reload-interval", "0"])
    with AuthzClient(w.address) as client:
        assert decisions(client) == (True, False)
        (policies / "main.yaml").write_text(allow_only("/b"))
        time.sleep(0.5)
        assert decisions(client) == (True, False)           # no poll: nothing changes by itself
        w.process.send_signal(signal.SIGHUP)
        wait_until(lambda: decisions(client) == (False, True), 5, what="SIGHUP reload")

        (policies / "main.yaml").write_text(BAD.replace("broken", "only"))
        w.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "policy reload rejected" in w.log_text(), 5, what="rejected SIGHUP reload")
        assert f"main.yaml:{BAD_LINE}" in w.log_text()
        assert decisions(client) == (False, True)


def _configmap_publish(mount: Path, version: int, files: dict[str, str]) -> None:
    """Does what the kubelet's AtomicWriter does: write `..<ts>/`, point `..data_tmp` at it, rename it over
    `..data`; the visible names are symlinks `name -> ..data/name` created once."""
    target = mount / f"..2026_11_24_00_00_{version:02d}.000000000"
    target.mkdir()
    for name, text in files.items():
        (target / name).write_text(text)
    tmp = mount / "..data_tmp"
    tmp.symlink_to(target.name)
    os.rename(tmp, mount / "..data")
    for name in files:
        link = mount / name
        if not link.is_symlink():
            link.symlink_to(f"..data/{name}")


def test_configmap_symlink_swap_is_picked_up(make_warden, tmp_path):
    mount = tmp_path / "configmap"
    mount.mkdir()
    _configmap_publish(mount, 1, {"policy.yaml": allow_only("/a")})
    w = make_warden(mount, extra_args=["--reload-interval", "0.2"])
    with AuthzClient(w.address) as client:
        assert decisions(client) == (True, False)
        # Same file size and name, new content (and same mtime second is possible): only the swap changes.
        _configmap_publish(mount, 2, {"policy.yaml": allow_only("/b")})
        wait_until(lambda: decisions(client) == (False, True), 10, what="ConfigMap swap picked up")
        # The hidden ..<timestamp> directories are not read twice (no duplicate-policy error).
        assert "duplicate" not in w.log_text()


@pytest.mark.parametrize("broken,needle", [
    ("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: x}\nspec:\n  action: DENY\n",
     "DENY policy must have at least one rule"),
    ("kind: [unclosed\n", "x.yaml:"),
])
def test_invalid_set_at_start_refuses_to_serve(warden_bin, tmp_path, broken, needle):
    import subprocess
    (tmp_path / "x.yaml").write_text(broken)
    run = subprocess.run([warden_bin, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                          "--policy", str(tmp_path / "x.yaml")], capture_output=True, text=True, timeout=20)
    assert run.returncode != 0
    assert needle in run.stderr + run.stdout


@pytest.mark.parametrize("name,spec,needle", [
    # validateWorkloadSelector (istio 86c9f01 pkg/config/validation/validation.go L1368-L1371)
    ("wildcard-selector", "  action: DENY\n  selector: {matchLabels: {app: \"web-*\"}}\n  rules: [{}]\n",
     "spec.selector.matchLabels.app: wildcard is not supported in selector: \"app=web-*\""),
    # validatePolicyTargetReference (validation.go L1340-L1343): a DENY naming another namespace's Gateway
    ("cross-namespace", "  action: DENY\n  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw, namespace: bar}]\n"
     "  rules: [{}]\n", "targetRef namespace must not be set; cross namespace referencing is not supported"),
])
def test_istio_invalid_reload_is_refused_and_the_last_good_set_serves(make_warden, tmp_path, name, spec, needle):
    """A set istiod would refuse (Tests/WardenPolicyTests/IstioValidationTests.swift has the rule rows) is
    refused on reload with file, line and Istio's message; the last good set keeps deciding."""
    policies = tmp_path / "p"
    policies.mkdir()
    (policies / "main.yaml").write_text(allow_only("/a"))
    w = make_warden(policies, extra_args=["--reload-interval", "0"])
    with AuthzClient(w.address) as client:
        assert decisions(client) == (True, False)
        (policies / "deny.yaml").write_text("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
                                            f"metadata: {{name: {name}, namespace: default}}\nspec:\n{spec}")
        w.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "policy reload rejected" in w.log_text(), 5, what="rejected SIGHUP reload")
        log = w.log_text()
        assert "deny.yaml:" in log and needle.replace('"', '\\"') in log, log[-2000:]   # JSON-escaped in the log
        assert decisions(client) == (True, False)
