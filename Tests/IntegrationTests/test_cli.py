"""The command-line contract: help, version, and usage errors (one line naming the flag, exit code 2)."""
from __future__ import annotations

import subprocess

import pytest

from harness.warden import warden_binary, missing_binary_reason

BIN = warden_binary()
pytestmark = pytest.mark.skipif(not BIN, reason=missing_binary_reason() if not BIN else "")


def run(*args: str, timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args, needle", [
    (["--help"], "warden serve --listen HOST:PORT"),
    (["serve", "--help"], "--workload-labels"),
    (["version"], "warden "),
])
def test_help_and_version_exit_zero(args, needle):
    r = run(*args)
    assert r.returncode == 0, r.stderr
    assert needle in r.stdout


@pytest.mark.parametrize("args, message", [
    (["serve", "--policy", "p", "--bogus"], "unknown flag --bogus"),
    (["serve", "--policy", "p", "--listen", "nope"], "invalid value 'nope' for --listen"),
    (["serve", "--policy", "p", "--threads", "0"], "invalid value '0' for --threads"),
    (["serve", "--policy", "p", "--workload-labels", "app"], "expected key=value"),
    (["serve", "--policy", "p", "--log-level", "loud"], "--log-level"),
    (["serve", "--policy", "p", "--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"),
    (["serve", "--policy"], "flag --policy needs a value"),
    (["serve", "--policy", "p", "--target", "gateway-without-kind"], "invalid value 'gateway-without-kind' for --target"),
    (["serve", "--policy", "p", "--target", "none", "--target", "Gateway/gw"], "--target none cannot be combined"),
    (["serve"], "missing --policy"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    ([], "Usage:"),
])
def test_usage_errors_name_the_problem_and_exit_two(args, message):
    r = run(*args)
    assert r.returncode == 2
    assert message in r.stderr
    if args:  # one line naming the flag or value
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_unreadable_policy_path_fails_with_the_path(tmp_path):
    missing = tmp_path / "nope.yaml"
    r = run("serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--policy", str(missing))
    assert r.returncode == 1
    assert str(missing) in r.stderr


def test_broken_policy_at_start_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: x}\nspec:\n  action: DENY\n")
    r = run("serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--policy", str(bad))
    assert r.returncode == 1
    assert f"{bad}:" in r.stderr or "bad.yaml:" in r.stderr


TARGETED_ALLOW = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: gw-allow, namespace: default}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw}]
  action: ALLOW
  rules: [{to: [{operation: {paths: ["/public/*"]}}]}]
"""


def test_targetrefs_without_a_target_is_refused_unless_stated(tmp_path):
    """An ALLOW with targetRefs, skipped because Warden was not told its target, would turn "deny by
    default" into "allow": serve refuses the set (file:line, the resource, the flag) until --target says
    which Gateway/Service it fronts, or --target none says none."""
    policy = tmp_path / "gw.yaml"
    policy.write_text(TARGETED_ALLOW)
    base = ["serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--policy", str(policy)]
    r = run(*base)
    assert r.returncode == 1
    assert "gw.yaml:1" in r.stderr and "default/gw-allow" in r.stderr and "--target" in r.stderr
    for extra in (["--target", "none"], ["--target", "Gateway/gw"]):
        p = subprocess.Popen([BIN, *base, *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            with pytest.raises(subprocess.TimeoutExpired):
                p.wait(timeout=1.5)  # serving, not refused
        finally:
            p.terminate()
            p.wait(timeout=10)
