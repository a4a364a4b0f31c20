"""`warden validate` on good, risky and broken policy files: exit codes, file:line:field errors,
warnings for risky configurations. Outputs are golden files (WARDEN_UPDATE_GOLDEN=1 regenerates)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden" / "validate"
UPDATE = os.environ.get("WARDEN_UPDATE_GOLDEN") == "1"


def validate(warden_bin: str, *args: str, cwd: Path = GOLDEN) -> subprocess.CompletedProcess:
    return subprocess.run([warden_bin, "validate", *args], cwd=cwd, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("name, code", [("good", 0), ("risky", 0), ("broken", 1), ("syntax", 1)])
def test_validate_golden(warden_bin, name, code):
    result = validate(warden_bin, "--policy", f"{name}.yaml")
    assert result.returncode == code, result.stdout + result.stderr
    golden = GOLDEN / f"{name}.out"
    if UPDATE or not golden.exists():
        golden.write_text(result.stdout)
        if not UPDATE:
            pytest.fail(f"golden {golden.name} was missing and has been written; review it and rerun")
    assert result.stdout == golden.read_text(), f"output differs from {golden} (WARDEN_UPDATE_GOLDEN=1 to regenerate)"


def test_broken_file_names_every_error_with_file_line_and_field(warden_bin):
    out = validate(warden_bin, "--policy", "broken.yaml").stdout
    assert "error: broken.yaml:8: spec.action: unknown action \"PERMIT\"" in out
    assert "error: broken.yaml:20: spec.rules[0].to[0].operation.methods:" in out
    assert "error: broken.yaml:29: spec.jwtRules[0]: issuer must be set" in out
    assert out.rstrip().endswith("invalid: 3 error(s)")


def test_risky_warnings(warden_bin):
    out = validate(warden_bin, "--policy", "risky.yaml").stdout
    assert "warning: risky.yaml:25: RequestAuthentication billing/lonely blocks nothing" in out
    assert "warning: risky.yaml:3: spec.jwtRules[0].issuer: issuer \"http://idp.example.com\" is not https" in out
    assert "warning: risky.yaml:3: spec.jwtRules[0].jwksUri:" in out
    assert "warning: risky.yaml:13: ALLOW policy shop/require-jwt trusts request.auth" in out and "without audiences" in out
    assert "warning:" not in validate(warden_bin, "--policy", "good.yaml").stdout


def test_strict_turns_warnings_into_failure(warden_bin):
    assert validate(warden_bin, "--policy", "risky.yaml", "--strict").returncode == 1
    assert validate(warden_bin, "--policy", "good.yaml", "--strict").returncode == 0


def test_directory_with_good_and_broken_files_is_invalid(warden_bin, tmp_path):
    for name in ("good.yaml", "broken.yaml"):
        (tmp_path / name).write_text((GOLDEN / name).read_text())
    result = validate(warden_bin, "--policy", str(tmp_path))
    assert result.returncode == 1
    assert f"{tmp_path}/broken.yaml:8:" in result.stdout


def test_a_deny_policy_on_not_request_principals_backs_a_request_authentication(warden_bin, tmp_path):
    (tmp_path / "p.yaml").write_text("""
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: istio-system}
spec:
  jwtRules:
  - issuer: https://idp.example.com
    audiences: [api]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: require-token, namespace: istio-system}
spec:
  action: DENY
  rules:
  - from:
    - source:
        notRequestPrincipals: ["*"]
""")
    result = validate(warden_bin, "--policy", "p.yaml", cwd=tmp_path)
    assert result.returncode == 0 and "warning:" not in result.stdout, result.stdout


@pytest.mark.parametrize("args", [[], ["--policy"], ["--policy", "good.yaml", "--nope"]])
def test_usage_errors_exit_2(warden_bin, args):
    assert validate(warden_bin, *args).returncode == 2


def test_missing_file_is_an_error_not_a_crash(warden_bin):
    result = validate(warden_bin, "--policy", "nope.yaml")
    assert result.returncode == 1 and "nope.yaml" in result.stdout


def test_filter_metadata_keys_hint_how_to_configure_envoy(warden_bin, tmp_path):
    """`experimental.envoy.filters.*` conditions need Envoy to send that metadata: validate says how, as a
    hint (not a warning: --strict still passes), and that `[a][b]` is one field, as istiod reads it."""
    (tmp_path / "md.yaml").write_text("""\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-writes, namespace: shop}
spec:
  action: DENY
  rules:
  - when:
    - key: "experimental.envoy.filters.network.mysql_proxy[db.table]"
      values: ["[update]"]
    - key: "experimental.envoy.filters.http.set_metadata[a][b]"
      values: [x]
""")
    result = validate(warden_bin, "--policy", "md.yaml", "--strict", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].startswith("hint: md.yaml:1: spec.rules[0].when[0].key: experimental.envoy.filters.network.mysql_proxy[db.table]")
    assert "metadata_context_namespaces: [envoy.filters.network.mysql_proxy]" in lines[0]
    assert "this DENY rule matches as if the condition held (fail closed" in lines[0]
    assert "metadata_context_namespaces: [envoy.filters.http.set_metadata]" in lines[1]
    assert '"[a][b]" is the one field "a][b", not a nested path' in lines[1]
    assert lines[-1].endswith("0 warning(s)")
