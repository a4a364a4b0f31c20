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
