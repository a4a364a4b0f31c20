"""`warden validate` on good, risky and broken policy files: exit codes, file:line:field errors,
warnings for risky configurations. Outputs are golden files (WARDEN_UPDATE_GOLDEN=1 regenerates)."""
from __future__ import annotations

import json
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
    # istiod's ParseJwksURI (Go's url.Parse): a port that is not a number
    assert "error: broken.yaml:30: spec.jwtRules[0].jwksUri: parse \"https://idp.example.com:https/jwks.json\": invalid port \":https\" after host" in out
    assert out.rstrip().endswith("invalid: 3 error(s)")


def test_risky_warnings(warden_bin):
    out = validate(warden_bin, "--policy", "risky.yaml").stdout
    assert "warning[ra-blocks-nothing]: risky.yaml:25: RequestAuthentication billing/lonely blocks nothing" in out
    assert "warning[issuer-not-https]: risky.yaml:3: spec.jwtRules[0].issuer: issuer \"http://idp.example.com\" is not https" in out
    assert "warning[jwksuri-not-https]: risky.yaml:3: spec.jwtRules[0].jwksUri:" in out
    assert "warning[allow-any-audience]: risky.yaml:13: ALLOW policy shop/require-jwt trusts request.auth" in out and "without audiences" in out
    assert "warning" not in validate(warden_bin, "--policy", "good.yaml").stdout.replace("0 warning(s)", "")


def test_strict_turns_warnings_into_failure(warden_bin):
    assert validate(warden_bin, "--policy", "risky.yaml", "--strict").returncode == 1
    assert validate(warden_bin, "--policy", "good.yaml", "--strict").returncode == 0


def test_fail_on_fails_only_for_the_chosen_codes(warden_bin):
    """CI pipelines choose which warnings block a merge: `--fail-on CODE,…` (repeatable)."""
    chosen = validate(warden_bin, "--policy", "risky.yaml", "--fail-on", "jwksuri-not-https")
    assert chosen.returncode == 1
    assert chosen.stdout.rstrip().endswith("failed: 1 warning(s) with code(s) jwksuri-not-https (--fail-on)")
    other = validate(warden_bin, "--policy", "risky.yaml", "--fail-on", "wildcard-both-ends,selector-without-labels")
    assert other.returncode == 0, other.stdout
    unknown = validate(warden_bin, "--policy", "risky.yaml", "--fail-on", "no-such-code")
    assert unknown.returncode == 2 and "unknown warning code 'no-such-code'" in unknown.stderr + unknown.stdout


CONTAINS_MATCH = """apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: shop}
spec:
  jwtRules:
  - issuer: https://idp.example.com
    audiences: [orders]
    jwks: '{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cLxW9lbDmc7Wz9iwDOAqvk"}]}'
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: writers, namespace: shop}
spec:
  selector: {matchLabels: {}}
  action: ALLOW
  rules:
  - from: [{source: {requestPrincipals: ["*/*", "https://idp.example.com/*"]}}]
    to: [{operation: {methods: [POST], paths: ["/orders/{*}/items", "/api/*/v1"]}}]
    when:
    - key: request.auth.claims[scope]
      values: ['*orders:write*']
"""


def test_warnings_for_the_traps_users_copy(warden_bin, tmp_path):
    """The seed's example wrote `values: ['*orders:write*']` for "the scope contains orders:write": Istio has no
    contains-match, so every write was denied. Warned, with what to write instead; a `*` inside a value, a
    selector without labels and private key material in inline jwks too (Istio warns on the last two)."""
    (tmp_path / "p.yaml").write_text(CONTAINS_MATCH)
    result = validate(warden_bin, "--policy", str(tmp_path / "p.yaml"))
    assert result.returncode == 0, result.stdout
    out = result.stdout
    assert ("spec.rules[0].when[0].values[0]: \"*orders:write*\" is not a contains-match (Istio has none)" in out
            and "request.auth.claims[scope] is split on spaces, so each scope is matched on its own: write \"orders:write\"" in out)
    assert "warning[wildcard-both-ends]" in out
    assert "warning[wildcard-inside]" in out and "spec.rules[0].to[0].operation.paths[1]: \"/api/*/v1\": a * inside a value is literal text" in out
    assert "paths[0]" not in out  # a URI template is Istio syntax
    # istiod compiles `*/*` as any issuer with the subject *exactly* "*" (the leading * wins): a trap too.
    assert "spec.rules[0].from[0].source.requestPrincipals[0]: \"*/*\": a * inside a value is literal text" in out
    assert "requestPrincipals[1]" not in out
    assert "warning[selector-without-labels]" in out and "spec.selector: workload selector specified without labels" in out
    assert "warning[jwks-private-key]" in out and "jwks key at index 0 contains private key material" in out
    assert validate(warden_bin, "--policy", str(tmp_path / "p.yaml"), "--fail-on", "wildcard-both-ends").returncode == 1


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


def test_serve_logs_the_warnings_with_their_codes(make_warden, tmp_path):
    """What `warden validate` warns about is also logged when `warden serve` loads the policies."""
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "p.yaml").write_text(CONTAINS_MATCH)
    w = make_warden(tmp_path / "p", extra_args=["--ready-timeout", "0"])  # the inline key is private: no usable key
    warnings = [json.loads(line) for line in w.log_text().splitlines()
                if line.startswith("{") and json.loads(line).get("msg") == "policy warning"]
    codes = sorted(entry["code"] for entry in warnings)
    assert codes == ["jwks-private-key", "selector-without-labels", "wildcard-both-ends", "wildcard-inside", "wildcard-inside"], warnings
    assert all(entry["level"] == "warn" and entry["location"].endswith(".yaml:" + entry["location"].rsplit(":", 1)[1])
               for entry in warnings)
