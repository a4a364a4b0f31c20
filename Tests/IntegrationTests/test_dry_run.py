"""Dry-run token rules (issue 19) through a real Envoy: a RequestAuthentication or TokenPolicy annotated
`istio.io/dry-run: "true"` (a Warden extension; Istio accepts the annotation on AuthorizationPolicy only) is
evaluated on every request and never enforced. What Warden would have answered is counted in
`warden_dry_run_decisions_total{resource,would}` and logged on the decision line; removing the annotation
(a policy reload) enforces it. Per-AuthorizationPolicy counters: `warden_policy_decisions_total`."""
from __future__ import annotations

import json
import re
import signal

from harness import httpclient
from harness.ports import wait_until
from harness.tokens import Minter
from harness.warden import write_policy_dir

RA = "RequestAuthentication/default/jwt"


def request_authentication(idp, audience: str, dry_run: bool) -> str:
    annotations = '\n  annotations: {istio.io/dry-run: "true"}' if dry_run else ""
    return ("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n"
            f"metadata:\n  name: jwt\n  namespace: default{annotations}\n"
            f"spec:\n  jwtRules:\n  - issuer: {idp.issuer}\n    audiences: [{audience}]\n    jwks: '{json.dumps(idp.jwks())}'\n")


ALLOW_ORDERS = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: orders, namespace: default}
spec:
  action: ALLOW
  rules:
  - to: [{operation: {paths: ["/orders*"]}}]
"""


def metric(warden, family: str, **labels) -> float:
    status, text = warden.admin_status("/metrics")
    assert status == 200
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        m = re.fullmatch(re.escape(family) + r"\{(.*)\} (\S+)", line)
        if m and m.group(1) == want:
            return float(m.group(2))
    return 0.0


def decision_lines(warden) -> list[dict]:
    lines = [json.loads(line) for line in warden.log_text().splitlines() if line.startswith("{")]
    return [entry for entry in lines if entry.get("msg") == "decision"]


def get(envoy, path: str, token: str | None, request_id: str) -> httpclient.HTTPResponse:
    headers = {"x-request-id": request_id}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return httpclient.request("GET", envoy.url(path), headers=headers)


def test_dry_run_request_authentication_counts_then_enforces_after_reload(module_idp, make_warden, make_envoy, upstream, tmp_path):
    directory = write_policy_dir(tmp_path / "p", {"ra.yaml": request_authentication(module_idp, "not-warden-test", dry_run=True),
                                                  "ap.yaml": ALLOW_ORDERS})
    w = make_warden(directory, extra_args=["--log-format", "json"], debug_headers=False)
    envoy = make_envoy(upstream_port=upstream.port, warden_port=w.port)
    minter = Minter(module_idp)  # aud warden-test: not the RequestAuthentication's audience
    good, expired = minter.mint(), minter.mint(exp_in=-600)

    # Dry-run: wrong audience and expired tokens pass; what they would have got is counted and logged.
    for i in range(3):
        assert get(envoy, "/orders/1", good, f"aud-{i}").status == 200
    assert get(envoy, "/orders/2", expired, "expired-0").status == 200
    assert get(envoy, "/orders/3", None, "none-0").status == 200
    assert metric(w, "warden_dry_run_decisions_total", resource=RA, would="deny_403") == 3
    assert metric(w, "warden_dry_run_decisions_total", resource=RA, would="deny_401") == 1
    assert metric(w, "warden_dry_run_decisions_total", resource=RA, would="allow") == 1  # no token: passes a RequestAuthentication
    assert metric(w, "warden_policy_decisions_total", namespace="default", name="orders", action="ALLOW", result="matched") == 5

    wait_until(lambda: {"aud-0", "expired-0"} <= {d["request_id"] for d in decision_lines(w)}, 5, what="dry-run decision lines")
    lines = {d["request_id"]: d for d in decision_lines(w)}
    aud = lines["aud-0"]  # an allow, logged at info because the dry run would deny it
    assert aud["decision"] == "allow" and aud["status"] == 200 and aud["level"] == "info"
    assert aud["dry_run"] == {"resources": [RA], "would": "deny_403", "status": 403, "reason_code": "jwt_audience_mismatch",
                              "reason": aud["dry_run"]["reason"]}
    assert lines["expired-0"]["dry_run"]["reason_code"] == "jwt_expired"
    assert good not in w.log_text()

    # Remove the annotation and reload: the same audience rule is enforced.
    (directory / "ra.yaml").write_text(request_authentication(module_idp, "not-warden-test", dry_run=False))
    w.process.send_signal(signal.SIGHUP)
    wait_until(lambda: get(envoy, "/orders/1", good, "enforced").status == 403, 5, what="the reloaded RequestAuthentication enforced")
    r = get(envoy, "/orders/1", good, "enforced-2")
    assert (r.status, r.body) == (403, b"Audiences in Jwt are not allowed")
    assert get(envoy, "/orders/2", expired, "enforced-3").status == 401
    before = metric(w, "warden_dry_run_decisions_total", resource=RA, would="deny_403")
    get(envoy, "/orders/1", good, "enforced-4")
    assert metric(w, "warden_dry_run_decisions_total", resource=RA, would="deny_403") == before  # counted no more


def test_dry_run_token_policy(module_idp, make_warden, make_envoy, upstream, tmp_path):
    tp = ("apiVersion: security.warden.io/v1alpha1\nkind: TokenPolicy\n"
          'metadata:\n  name: strict\n  namespace: default\n  annotations: {istio.io/dry-run: "true"}\n'
          f"spec:\n  jwtRules:\n  - issuer: {module_idp.issuer}\n    requiredClaims: [{{name: client_id}}]\n")
    directory = write_policy_dir(tmp_path / "p", {"ra.yaml": request_authentication(module_idp, "warden-test", dry_run=False),
                                                  "tp.yaml": tp})
    w = make_warden(directory)
    envoy = make_envoy(upstream_port=upstream.port, warden_port=w.port)
    minter = Minter(module_idp)
    assert get(envoy, "/", minter.mint(), "no-client-id").status == 200
    assert get(envoy, "/", minter.mint(client_id="web"), "client-id").status == 200
    assert get(envoy, "/", minter.mint(exp_in=-600), "expired").status == 401  # the enforced RequestAuthentication still rules
    assert metric(w, "warden_dry_run_decisions_total", resource="TokenPolicy/default/strict", would="deny_401") == 2
    assert metric(w, "warden_dry_run_decisions_total", resource="TokenPolicy/default/strict", would="allow") == 1


def test_explain_shows_what_the_dry_run_would_answer(module_idp, warden_bin, tmp_path):
    import subprocess
    directory = write_policy_dir(tmp_path / "p", {"ra.yaml": request_authentication(module_idp, "not-warden-test", dry_run=True)})
    token = Minter(module_idp).mint()
    out = subprocess.run([warden_bin, "explain", "--policy", str(directory), "--path", "/orders",
                          "--header", f"authorization: Bearer {token}"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr  # allowed: the RequestAuthentication is not enforced
    text = out.stdout
    assert "Result: ✓ 200 allowed" in text
    assert f"Dry run (istio.io/dry-run, not enforced): {RA}" in text
    assert "✗ would answer 403 Forbidden (jwt_audience_mismatch)" in text
    assert "enforcing it would deny this request, which is allowed now" in text
    assert token not in text


def test_explain_fetches_a_dry_run_rules_keys_first(module_idp, warden_bin, tmp_path):
    """The dry-run check uses only keys at hand; explain fetches every source first (as serve's refresher has
    by then), so a dry-run rule with a jwksUri is judged on its keys (the signature is checked: an audience or
    expiry failure would be found before the keys), not reported as unavailable."""
    import subprocess
    ra = ("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n"
          'metadata:\n  name: jwt\n  namespace: default\n  annotations: {istio.io/dry-run: "true"}\n'
          f"spec:\n  jwtRules:\n  - issuer: {module_idp.issuer}\n    audiences: [warden-test]\n    jwksUri: {module_idp.jwks_uri}\n")
    directory = write_policy_dir(tmp_path / "p", {"ra.yaml": ra})
    out = subprocess.run([warden_bin, "explain", "--policy", str(directory), "--path", "/orders", "--fetch",
                          "--header", f"authorization: Bearer {Minter(module_idp).mint()}"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "✓ would answer 200 allowed (allowed)" in out.stdout, out.stdout
