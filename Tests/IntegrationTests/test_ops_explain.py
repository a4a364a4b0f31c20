"""`warden explain` golden outputs, one per branch of the 401/403 flowchart, and `warden decode`.

Deterministic: fixed keys (golden/explain/*.pem; RS256 signatures are deterministic), fixed claims and
`--now`. Regenerate after an intended output change with WARDEN_UPDATE_GOLDEN=1 and review the diff.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from harness.tokens import b64url, raw_token

GOLDEN = Path(__file__).resolve().parent / "golden" / "explain"
NOW = 1700000000
ISS = "https://idp.example.com"
KC_ISS = "https://sso.example.com/realms/shop"
UPDATE = os.environ.get("WARDEN_UPDATE_GOLDEN") == "1"


def _key(name: str) -> RSAKey:
    return RSAKey.import_key((GOLDEN / name).read_text())


def token(claims: dict | None = None, *, kid: str = "k1", key: str = "signing-key.pem", **overrides) -> str:
    payload = {"iss": ISS, "sub": "alice", "aud": "orders", "iat": NOW - 60, "exp": NOW + 3600}
    payload.update(claims or {})
    for name, value in overrides.items():
        if value is None:
            payload.pop(name, None)
        else:
            payload[name] = value
    return jwt.encode({"alg": "RS256", "kid": kid, "typ": "JWT"}, payload, _key(key))


def tampered() -> str:
    h, _, s = token().split(".")
    forged = b64url('{"aud":"orders","exp":1700003600,"iat":1699999940,"iss":"https://idp.example.com","sub":"admin"}')
    return f"{h}.{forged}.{s}"


def bearer(t: str) -> list[str]:
    return ["--header", f"authorization: Bearer {t}"]


# name → (extra args, expected exit code, expected final status in the output)
CASES = {
    "allow": (["--method", "POST", "--path", "/orders"] + bearer(token()), 0, "200 allowed"),
    "missing-token-403": (["--path", "/orders"], 1, "403 Forbidden"),
    "wrong-scheme-prefix": (["--path", "/orders", "--header", "authorization: Token abc.def.ghi"], 1, "403 Forbidden"),
    "malformed": (["--path", "/orders"] + bearer("not-a-jwt"), 1, "401 Unauthorized"),
    "alg-none": (["--path", "/orders"] + bearer(raw_token({"alg": "none"}, {"iss": ISS, "sub": "x"}, b"sig")), 1, "401 Unauthorized"),
    "issuer-trailing-slash": (["--path", "/orders"] + bearer(token(iss=ISS + "/")), 1, "401 Unauthorized"),
    "issuer-http": (["--path", "/orders"] + bearer(token(iss="http://idp.example.com")), 1, "401 Unauthorized"),
    "issuer-realm-path": (["--path", "/orders"] + bearer(token(iss="https://sso.example.com/auth/realms/shop")), 1, "401 Unauthorized"),
    "expired": (["--path", "/orders"] + bearer(token(iat=NOW - 7200, exp=NOW - 3600)), 1, "401 Unauthorized"),
    "expired-within-skew": (["--path", "/orders"] + bearer(token(exp=NOW - 30)), 0, "200 allowed"),
    "not-yet-valid": (["--path", "/orders"] + bearer(token(nbf=NOW + 600)), 1, "401 Unauthorized"),
    "audience": (["--path", "/orders"] + bearer(token(aud=["billing"])), 1, "403 Forbidden"),
    "unknown-kid-inline": (["--path", "/orders"] + bearer(token(kid="k2")), 1, "401 Unauthorized"),
    "unknown-kid-remote": (["--path", "/orders", "--jwks", "jwks.json"] + bearer(token(iss=KC_ISS, kid="k9")), 1, "401 Unauthorized"),
    "remote-no-keys": (["--path", "/orders"] + bearer(token(iss=KC_ISS)), 1, "401 Unauthorized"),
    "remote-allow-with-jwks": (["--path", "/orders/7", "--jwks", "jwks.json"] + bearer(token(iss=KC_ISS)), 0, "200 allowed"),
    "bad-signature-other-key": (["--path", "/orders"] + bearer(token(key="other-key.pem")), 1, "401 Unauthorized"),
    "bad-signature-tampered": (["--path", "/orders"] + bearer(tampered()), 1, "401 Unauthorized"),
    "deny-policy-403": (["--path", "/admin/users"] + bearer(token()), 1, "403 Forbidden"),
    "no-allow-matched-403": (["--method", "DELETE", "--path", "/orders/7"] + bearer(token()), 1, "403 Forbidden"),
    "other-namespace-no-policies": (["--namespace", "other", "--path", "/anything"], 0, "200 allowed"),
    "claim-not-a-header-value": (["--method", "POST", "--path", "/orders"] + bearer(token(sub="alice\nx-admin: yes")), 0, "200 allowed"),
    # Two tokens: the last one found (the query parameter) is checked first, fails, and the other is not checked.
    "two-tokens-last-checked-first": (["--path", "/orders?access_token=not-a-jwt"] + bearer(token()), 1, "401 Unauthorized"),
    # Two valid tokens: each identity is evaluated and must be allowed; the second has no `sub`, so
    # `requestPrincipals: ["*"]` does not allow it (issue 14).
    "two-tokens-each-identity-evaluated": (["--path", f"/orders?access_token={token(sub=None)}"] + bearer(token()), 1, "403 Forbidden"),
    # Two valid tokens of two issuers whose rules both read the default locations: Envoy's jwt_authn rejects.
    "two-issuers-at-shared-locations": (["--path", f"/orders?access_token={token(iss=KC_ISS)}", "--jwks", "jwks.json"]
                                        + bearer(token()), 1, "401 Unauthorized"),
}


def run_warden(warden_bin: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([warden_bin, *args], cwd=GOLDEN, capture_output=True, text=True, timeout=30)


def explain(warden_bin: str, name: str) -> subprocess.CompletedProcess:
    args = CASES[name][0]
    namespace = [] if "--namespace" in args else ["--namespace", "shop"]
    return run_warden(warden_bin, "explain", "--policy", "policies.yaml", *namespace, "--now", str(NOW), *args)


@pytest.mark.parametrize("name", sorted(CASES))
def test_explain_golden(warden_bin, name):
    args, code, status = CASES[name]
    result = explain(warden_bin, name)
    assert result.returncode == code, result.stdout + result.stderr
    assert f"Result: {'✓' if code == 0 else '✗'} {status}" in result.stdout
    # The token never appears whole in the output (header and payload are shown decoded).
    for i, arg in enumerate(args):
        if arg.startswith("authorization: Bearer ") and arg.count(".") == 2:
            assert arg.removeprefix("authorization: Bearer ") not in result.stdout
    golden = GOLDEN / f"{name}.txt"
    if UPDATE or not golden.exists():
        golden.write_text(result.stdout)
        if not UPDATE:
            pytest.fail(f"golden {golden.name} was missing and has been written; review it and rerun")
    assert result.stdout == golden.read_text(), f"output differs from {golden} (WARDEN_UPDATE_GOLDEN=1 to regenerate)"


def test_explain_never_prints_a_query_token(warden_bin):
    """A token in `?access_token=` is dropped from the headline, as from the decision log's path."""
    good = token()
    result = run_warden(warden_bin, "explain", "--policy", "policies.yaml", "--namespace", "shop", "--now", str(NOW),
                        "--method", "POST", "--path", f"/orders?access_token={good}&x=1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warden explain: POST /orders?access_token=…&x=… (host" in result.stdout
    assert good not in result.stdout
    # A rejected token in the query: the 401's WWW-Authenticate realm is the request URI; its query is cut too.
    bad = token(iat=NOW - 7200, exp=NOW - 3600)
    denied = run_warden(warden_bin, "explain", "--policy", "policies.yaml", "--namespace", "shop", "--now", str(NOW),
                        "--path", f"/orders?access_token={bad}")
    assert denied.returncode == 1 and 'realm="http://example.com/orders?…"' in denied.stdout, denied.stdout
    assert bad not in denied.stdout


@pytest.mark.parametrize("args, message", [
    ([], "missing --policy"),
    (["--policy", "policies.yaml", "--bogus"], "unknown flag --bogus"),
    (["--policy", "policies.yaml", "--header", "no-colon"], "--header"),
    (["--policy", "policies.yaml", "--jwks", "jwks.json", "--fetch"], "alternatives"),
    (["--policy", "policies.yaml", "--now", "yesterday"], "--now"),
    (["--policy", "does-not-exist.yaml"], "does-not-exist.yaml"),
])
def test_explain_usage_errors_exit_2(warden_bin, args, message):
    result = run_warden(warden_bin, "explain", *args)
    assert result.returncode == 2
    assert message in result.stderr


# The walk's step for the check each token reason code comes from (TokenCheck, in Warden's order).
TOKEN_STEPS = ["Decoded", "Issuer", "Expiry and not-before", "Audience", "Key (kid)", "Signature"]
STEP_OF_REASON = {
    "jwt_malformed": "Decoded", "jwt_token_too_large": "Decoded", "jwt_unsupported_algorithm": "Decoded",
    "jwt_issuer_not_configured": "Issuer", "jwt_issuer_mismatch": "Issuer", "jwt_mixed_issuers": "Signature",
    "jwt_expired": "Expiry and not-before", "jwt_not_yet_valid": "Expiry and not-before",
    "jwt_missing_expiration": "Expiry and not-before", "jwt_lifetime_too_long": "Expiry and not-before",
    "jwt_audience_mismatch": "Audience",
    "jwt_jwks_unavailable": "Key (kid)", "jwt_unknown_kid": "Key (kid)",
    "jwt_bad_signature": "Signature", "jwt_lenient_encoding": "Signature",
}


def steps(text: str) -> list[tuple[str, str, list[str]]]:
    """(check, token label, lines) per numbered step; check is a TOKEN_STEPS entry, or the title."""
    out: list[tuple[str, str, list[str]]] = []
    for line in text.split("\n"):
        m = re.match(r"^\d+\. (.+)$", line)
        if m:
            title = m.group(1).split(" — ")[0]
            check = next((c for c in TOKEN_STEPS if title.startswith(c)), title)
            label = re.search(r"\(token \d+\)", title)
            out.append((check, label.group(0) if label else "", []))
        elif line.startswith("Result:"):
            out.append(("Result", "", [line]))
        elif out:
            out[-1][2].append(line)
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_explain_walk_ends_at_the_check_that_decided(warden_bin, name):
    """explain renders the check's own record, so its walk must agree with the decision: the ✗ is at the
    step of the check the reason code comes from, that token's later checks are marked as not run (never
    ✓), and AuthorizationPolicies are evaluated exactly when no token was rejected."""
    text = explain(warden_bin, name).stdout
    walk = steps(text)
    result = re.search(r"^Result: [✓✗] (\d+) .*\((\w+)\)$", text, re.M)
    assert result, text
    status, code = result.groups()
    tokens = [s for s in walk if s[0] in TOKEN_STEPS]
    failed = [i for i, (_, _, lines) in enumerate(tokens) if any(line.startswith("  ✗ ") for line in lines)]
    authorization = next(lines for check, _, lines in walk if check == "Authorization")
    if code in STEP_OF_REASON:
        assert len(failed) == 1, text
        check, label, _ = tokens[failed[0]]
        assert check == STEP_OF_REASON[code], text
        rest = [lines for c, l, lines in tokens[failed[0] + 1:] if l == label]
        assert len(rest) == len(TOKEN_STEPS) - 1 - TOKEN_STEPS.index(check), text
        for lines in rest:
            assert lines[0] == "  · not checked: Warden stops at the first failed check", text
            assert not any(line.startswith(("  ✓ ", "  ✗ ")) for line in lines), text
        assert f"the request is rejected with {status}" in "\n".join(rest[-1] if rest else tokens[failed[0]][2]), text
        assert authorization[0].startswith(f"  · not evaluated: a token that fails verification is rejected with {status}"), text
    else:
        assert not failed and "not checked" not in text, text
        reason = re.search(r"^  · reason: (.*)$", text, re.M).group(1)
        assert f"  {'✓' if status == '200' else '✗'} {reason}" in authorization, text


def test_decode_prints_unverified_header_payload_and_dates(warden_bin):
    result = run_warden(warden_bin, "decode", "--now", str(NOW), "Bearer " + token(nbf=NOW - 10))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("NOT VERIFIED")
    assert '"kid": "k1"' in out and '"sub": "alice"' in out
    assert "2023-11-14T23:13:20Z (in 60 min)" in out  # exp
    assert "2023-11-14T22:13:10Z (10 s ago)" in out  # nbf
    assert "256 bytes (not checked)" in out


@pytest.mark.parametrize("tok, code", [("a.b", 1), ("!!!.e30.", 1), ("", 2)])
def test_decode_rejects_non_jwts(warden_bin, tok, code):
    result = run_warden(warden_bin, *(["decode", tok] if tok else ["decode"]))
    assert result.returncode == code


def test_decode_reads_stdin(warden_bin):
    result = subprocess.run([warden_bin, "decode", "-"], input=token() + "\n", capture_output=True, text=True, timeout=10)
    assert result.returncode == 0 and '"iss": "https://idp.example.com"' in result.stdout


def test_explain_fetch_uses_the_live_idp(warden_bin, idp, minter, tmp_path):
    """--fetch fetches the issuer's JWKS as serve would (here from the rig's IdP on 127.0.0.1)."""
    (tmp_path / "p.yaml").write_text(f"""
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: jwt, namespace: default}}
spec:
  jwtRules:
  - issuer: {idp.issuer}
    jwksUri: {idp.jwks_uri}
    audiences: [warden-test]
""")
    base = [warden_bin, "explain", "--policy", str(tmp_path / "p.yaml"), "--fetch", "--path", "/x"]
    ok = subprocess.run(base + bearer(minter.mint()), capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"keys from {idp.jwks_uri}: 3 key(s)" in ok.stdout and "Result: ✓ 200 allowed" in ok.stdout
    stranger = idp.add_key("RS256", kid="unpublished", published=False)
    bad = subprocess.run(base + bearer(minter.mint(key=stranger)), capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1
    assert 'kid "unpublished" is not in the JWKS' in bad.stdout
    assert "a refetch would not help" in bad.stdout
    assert "Result: ✗ 401 Unauthorized (jwt_unknown_kid)" in bad.stdout



@pytest.mark.parametrize("forward, status", [(False, "✗ 403 Forbidden"), (True, "✓ 200 allowed")])
def test_explain_a_token_jwt_authn_removed_is_no_principal(warden_bin, idp, minter, tmp_path, forward, status):
    """The brief's repro: a jwt_authn provider (forward false) ahead of an Istio ALLOW on requestPrincipals. In
    Envoy's chain the jwt_authn filter removes the token it verified (authenticator.cc handleGoodJwt → removeJwt),
    so Istio's filter sees none: 403 RBAC: access denied, and explain says why. With `forward: true`: 200."""
    (tmp_path / "p.yaml").write_text(f"""
name: envoy.filters.http.jwt_authn
typed_config:
  providers:
    p:
      issuer: {idp.issuer}
      remote_jwks: {{http_uri: {{uri: {idp.jwks_uri}}}}}
      forward: {str(forward).lower()}
  rules:
  - match: {{prefix: /}}
    requires: {{provider_name: p}}
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: jwt, namespace: default}}
spec:
  jwtRules:
  - issuer: {idp.issuer}
    jwksUri: {idp.jwks_uri}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: principals, namespace: default}}
spec:
  action: ALLOW
  rules: [{{from: [{{source: {{requestPrincipals: ["{idp.issuer}/*"]}}}}]}}]
""")
    r = subprocess.run([warden_bin, "explain", "--policy", str(tmp_path / "p.yaml"), "--fetch", "--path", "/api",
                        *bearer(minter.mint())], capture_output=True, text=True, timeout=30)
    assert f"Result: {status}" in r.stdout, r.stdout + r.stderr
    assert ("verified and removed the token at header authorization" in r.stdout) == (not forward), r.stdout

CONNECTION_POLICIES = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: conn, namespace: edge}
spec:
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/ops/sa/admin"]}}]
    to: [{operation: {ports: ["8443"]}}]
  - from: [{source: {ipBlocks: ["10.1.0.0/16"], remoteIpBlocks: ["203.0.113.0/24"]}}]
    when: [{key: connection.sni, values: ["api.example.com"]}, {key: destination.ip, values: ["192.0.2.10"]}]
  - when: [{key: "experimental.envoy.filters.http.header_to_metadata[tier]", values: ["gold"]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: only-orders, namespace: edge}
spec:
  selector: {matchLabels: {app: orders}}
  action: DENY
  rules: [{to: [{operation: {paths: ["/private"]}}]}]
"""


def test_explain_can_set_every_attribute_a_policy_matches(warden_bin, tmp_path):
    """Destination port and address, the mTLS peer (principal or certificate), source address and
    x-forwarded-for, SNI, context extensions and metadata: any rule can be explained offline (issue 15)."""
    from harness.pki import PKI
    (tmp_path / "p.yaml").write_text(CONNECTION_POLICIES)
    pki = PKI(tmp_path / "pki")
    spiffe = pki.issue("admin", uri="spiffe://cluster.local/ns/ops/sa/admin")
    dns_only = pki.issue("web", dns=["web.example.com"])

    def run(*args: str) -> subprocess.CompletedProcess:
        return run_warden(warden_bin, "explain", "--policy", str(tmp_path / "p.yaml"), "--namespace", "edge", *args)

    assert run("--destination-port", "8443", "--source-principal", "spiffe://cluster.local/ns/ops/sa/admin").returncode == 0
    assert run("--destination-port", "8080", "--source-principal", "spiffe://cluster.local/ns/ops/sa/admin").returncode == 1
    by_cert = run("--destination-port", "8443", "--peer-certificate", spiffe.cert_path)
    assert by_cert.returncode == 0, by_cert.stdout + by_cert.stderr
    assert "mTLS peer \"spiffe://cluster.local/ns/ops/sa/admin\"" in by_cert.stdout
    other_cert = run("--destination-port", "8443", "--peer-certificate", dns_only.cert_path)
    assert other_cert.returncode == 1 and "mTLS peer \"web.example.com\"" in other_cert.stdout
    no_san = run("--peer-certificate", pki.issue("plain").cert_path)  # no SAN: the subject, RFC 2253
    assert "mTLS peer \"CN=plain\"" in no_san.stdout

    network = ["--source-ip", "10.1.2.3:40000", "--header", "x-forwarded-for: 203.0.113.9", "--destination-ip", "192.0.2.10"]
    assert run(*network, "--sni", "api.example.com").returncode == 0
    assert run(*network, "--sni", "other.example.com").returncode == 1
    assert run("--source-ip", "10.1.2.3", "--header", "x-forwarded-for: 198.51.100.1", "--destination-ip", "192.0.2.10",
               "--sni", "api.example.com").returncode == 1  # remote.ip from x-forwarded-for

    assert run("--metadata", 'envoy.filters.http.header_to_metadata={"tier":"gold"}').returncode == 0
    assert run("--metadata", 'envoy.filters.http.header_to_metadata={"tier":"silver"}').returncode == 1

    # context_extensions select the workload scope as in serve: the orders workload's DENY applies.
    private = ["--path", "/private", "--metadata", 'envoy.filters.http.header_to_metadata={"tier":"gold"}']
    assert run(*private).returncode == 0
    scoped = run(*private, "--context-extension", "label.app=orders")
    assert scoped.returncode == 1 and "edge/only-orders" in scoped.stdout

    bad = run("--peer-certificate", str(tmp_path / "p.yaml"))
    assert bad.returncode == 2 and "no certificate" in bad.stderr
    assert run("--source-ip", "not-an-ip").returncode == 2


def test_explain_presence_required_and_trust_domain(warden_bin, tmp_path):
    """Istio API v1.31: a rule with presence: REQUIRED explains a request without a token as 401 jwt_missing;
    `when: source.trustDomain` is explained against --source-principal."""
    (tmp_path / "p.yaml").write_text("""\
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: ra, namespace: default}
spec:
  jwtRules:
  - issuer: https://idp.example
    jwks: '{"keys":[{"kty":"oct","kid":"k1","alg":"HS256","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0ISE"}]}'
    presence: REQUIRED
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: td, namespace: default}
spec:
  action: DENY
  rules:
  - when: [{key: source.trustDomain, values: ["evil.*"]}]
""")
    base = ["explain", "--policy", str(tmp_path / "p.yaml"), "--path", "/x"]
    missing = run_warden(warden_bin, *base)
    assert missing.returncode == 1, missing.stdout + missing.stderr
    assert "Result: ✗ 401 Unauthorized (jwt_missing)" in missing.stdout
    assert "presence: REQUIRED" in missing.stdout and 'www-authenticate: Bearer realm="http://example.com/x"' in missing.stdout
    token = "Authorization: Bearer " + _hs256({"iss": "https://idp.example", "sub": "alice", "exp": 4102444800})
    good = run_warden(warden_bin, *base, "--header", token, "--source-principal", "spiffe://cluster.local/ns/a/sa/b")
    assert good.returncode == 0, good.stdout
    evil = run_warden(warden_bin, *base, "--header", token, "--source-principal", "spiffe://evil.example/ns/a/sa/b")
    assert evil.returncode == 1 and "(policy_denied)" in evil.stdout, evil.stdout


def _hs256(claims: dict) -> str:
    import base64, hashlib, hmac, json as _json
    enc = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
    signing = enc(b'{"alg":"HS256","kid":"k1"}') + "." + enc(_json.dumps(claims).encode())
    mac = hmac.new(b"secretsecretsecretsecretsecret!!", signing.encode(), hashlib.sha256).digest()
    return signing + "." + enc(mac)
