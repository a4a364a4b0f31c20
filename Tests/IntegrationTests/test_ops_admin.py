"""Warden's admin endpoint and decision logs over real HTTP/gRPC (needs WARDEN_BIN):
readiness through a JWKS outage, metrics moving with checks, /config_dump content and secrecy,
decision logs as JSON without tokens or redacted claims."""
from __future__ import annotations

import json
import re
import time

import pytest

from harness import httpclient
from harness.grpc_client import AuthzClient, make_check_request
from harness.ports import wait_until
from harness.warden import write_policy_dir

OK = 0
HMAC_SECRET_B64 = "c3VwZXItc2VjcmV0LWhtYWMta2V5LXRoYXQtbXVzdC1uZXZlci1sZWFr"  # oct "k" value


def ra_yaml(issuer: str, jwks_uri: str, namespace: str = "default", audiences=("warden-test",), name: str = "jwt") -> str:
    aud = "".join(f"\n    - {a}" for a in audiences)
    return f"""
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  jwtRules:
  - issuer: {issuer}
    jwksUri: {jwks_uri}
    audiences:{aud}
"""


REQUIRE_JWT = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: require-jwt, namespace: default}
spec:
  action: ALLOW
  rules:
  - from:
    - source:
        requestPrincipals: ["*"]
"""


def metrics(warden) -> dict[str, float]:
    """`name{labels}` → value from /metrics (Prometheus text format)."""
    status, body = warden.admin_status("/metrics")
    assert status == 200
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def metric(values: dict[str, float], name: str, **labels) -> float:
    """Sum of the series of `name` whose labels include `labels`."""
    total = 0.0
    for key, value in values.items():
        base, _, rest = key.partition("{")
        if base != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', rest))
        if all(found.get(k) == v for k, v in labels.items()):
            total += value
    return total


def decision_lines(warden) -> list[dict]:
    lines = [json.loads(line) for line in warden.log_text().splitlines() if line.startswith("{")]
    return [entry for entry in lines if entry.get("msg") == "decision"]


def test_readiness_follows_a_jwks_outage_at_start(make_warden, idp, tmp_path):
    """IdP down at start: /readyz is 503 and says which source and why; /healthz stays 200; once the
    IdP is back and the retry succeeds, /readyz turns 200 and /config_dump shows the keys."""
    idp.go_down()
    policies = write_policy_dir(tmp_path / "p", {"ra.yaml": ra_yaml(idp.issuer, idp.jwks_uri), "ap.yaml": REQUIRE_JWT})
    w = make_warden(policies, wait_ready=False, extra_args=["--ready-timeout", "120", "--jwks-fetch-timeout", "1"])
    wait_until(lambda: w.admin_status("/healthz")[0] == 200, 10, what="admin up")

    def failing_reported():
        status, body = w.admin_status("/readyz")
        assert status == 503, body
        return "failed fetch" in body
    wait_until(failing_reported, 10, what="/readyz names the failing fetch")
    status, body = w.admin_status("/readyz")
    assert status == 503 and idp.jwks_uri in body and "not ready" in body
    m = metrics(w)
    assert m["warden_ready"] == 0
    assert metric(m, "warden_jwks_fetches_total", issuer=idp.issuer, result="failed") >= 1
    assert metric(m, "warden_jwks_available", issuer=idp.issuer) == 0
    dump = json.loads(w.admin_status("/config_dump")[1])
    (source,) = dump["jwks"]
    assert source["available"] is False and source["last_error"] and source["kids"] == []

    idp.come_up()
    wait_until(lambda: w.admin_status("/readyz")[0] == 200, 30, what="/readyz 200 after the IdP came back")
    assert w.admin_status("/readyz")[1].strip() == "ready"
    m = metrics(w)
    assert m["warden_ready"] == 1
    assert metric(m, "warden_jwks_keys", issuer=idp.issuer) == 3
    dump = json.loads(w.admin_status("/config_dump")[1])
    (source,) = dump["jwks"]
    assert source["available"] is True and sorted(source["kids"]) == ["ec-1", "ed-1", "rsa-1"]
    assert source["fetched_at"].endswith("Z") and source["expires_at"].endswith("Z")
    assert source["fetches"]["failed"] >= 1 and source["fetches"]["success"] >= 1


def test_stale_keys_keep_warden_ready_through_a_later_outage(make_warden, idp, minter, tmp_path):
    policies = write_policy_dir(tmp_path / "p", {"ra.yaml": ra_yaml(idp.issuer, idp.jwks_uri)})
    w = make_warden(policies, extra_args=["--jwks-cache-duration", "1"])
    idp.go_down()
    time.sleep(2.5)  # keys expire; refreshes fail; last good keys keep serving
    assert w.admin_status("/readyz")[0] == 200
    with AuthzClient(w.address) as client:
        r = client.check(headers={"authorization": f"Bearer {minter.mint()}"})
    assert r.status.code == OK
    dump = json.loads(w.admin_status("/config_dump")[1])
    assert dump["jwks"][0]["last_error"] and dump["jwks"][0]["consecutive_failures"] >= 1


def test_metrics_move_as_checks_happen(make_warden, idp, minter, tmp_path):
    policies = write_policy_dir(tmp_path / "p", {"ra.yaml": ra_yaml(idp.issuer, idp.jwks_uri), "ap.yaml": REQUIRE_JWT})
    w = make_warden(policies, extra_args=["--reload-interval", "0.2"])
    before = metrics(w)
    token = minter.mint()
    with AuthzClient(w.address) as client:
        for _ in range(3):
            assert client.check(headers={"authorization": f"Bearer {token}"}).status.code == OK
        assert client.check(headers={"authorization": f"Bearer {minter.expired()}"}).status.code != OK
        assert client.check(headers={"authorization": f"Bearer {minter.mint(aud='other')}"}).status.code != OK
        assert client.check().status.code != OK  # no token → no ALLOW matched
    after = metrics(w)

    def delta(name, **labels):
        return metric(after, name, **labels) - metric(before, name, **labels)
    assert delta("warden_checks_total", decision="allowed", reason="allowed") == 3
    assert delta("warden_checks_total", decision="denied", reason="jwt_expired") == 1
    assert delta("warden_checks_total", decision="denied", reason="jwt_audience_mismatch") == 1
    assert delta("warden_checks_total", decision="denied", reason="no_allow_policy_matched") == 1
    assert delta("warden_check_duration_seconds_count") == 6
    assert after['warden_check_duration_seconds_bucket{le="+Inf"}'] == after["warden_check_duration_seconds_count"]
    assert delta("warden_token_cache_hits_total") >= 2
    assert delta("warden_token_cache_misses_total") >= 1
    assert after["warden_token_cache_entries"] >= 1
    assert after["warden_inflight_checks"] == 0
    assert metric(after, "warden_jwks_fetches_total", issuer=idp.issuer, source=idp.jwks_uri, result="success") >= 1
    assert metric(after, "warden_jwks_age_seconds", issuer=idp.issuer) >= 0
    assert after["warden_policy_generation"] == 1

    # A policy reload moves the generation and the reload counter; a broken file counts as failed.
    (policies / "extra.yaml").write_text(REQUIRE_JWT.replace("require-jwt", "require-jwt-2"))
    wait_until(lambda: metrics(w)["warden_policy_generation"] == 2, 10, what="generation 2")
    assert metric(metrics(w), "warden_policy_reloads_total", result="ok") == 1
    (policies / "broken.yaml").write_text("kind: AuthorizationPolicy\napiVersion: security.istio.io/v1\nmetadata: {name: x}\nspec: {action: NOPE}\n")
    wait_until(lambda: metric(metrics(w), "warden_policy_reloads_total", result="failed") == 1, 10, what="failed reload")
    assert metrics(w)["warden_policy_generation"] == 2
    assert "broken.yaml" in json.loads(w.admin_status("/config_dump")[1])["last_reload_error"]


def test_config_dump_shows_scoped_policies_and_never_secrets(make_warden, idp, minter, tmp_path):
    inline = json.dumps({"keys": [{"kty": "oct", "kid": "hs-1", "alg": "HS256", "k": HMAC_SECRET_B64}]})
    policies = write_policy_dir(tmp_path / "p", {
        "ra.yaml": ra_yaml(idp.issuer, idp.jwks_uri) + f"""
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: internal, namespace: default}}
spec:
  jwtRules:
  - issuer: internal
    jwks: '{inline}'
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: elsewhere, namespace: other}}
spec:
  jwtRules:
  - issuer: https://elsewhere.example.com
    jwksUri: https://elsewhere.example.com/jwks
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: with-credentials, namespace: default}}
spec:
  jwtRules:
  - issuer: with-credentials
    jwksUri: {idp.jwks_uri.replace("://", "://reader:pa55word@")}?api_key=k3y-s3cret
""",
        "ap.yaml": REQUIRE_JWT + """
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: istio-system}
spec:
  action: DENY
  rules:
  - to:
    - operation: {paths: ["/admin/*"], methods: ["POST"]}
    when:
    - key: request.headers[x-env]
      values: ["prod"]
    - key: "experimental.envoy.filters.http.header_to_metadata[api_key]"
      notValues: ["m3ta-s3cret"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: other-ns, namespace: other}
spec:
  action: ALLOW
  rules: [{}]
""",
    })
    w = make_warden(policies, extra_args=["--log-level", "debug"])
    token = minter.mint()
    with AuthzClient(w.address) as client:
        assert client.check(headers={"authorization": f"Bearer {token}"}).status.code == OK
    status, body = w.admin_status("/config_dump")
    assert status == 200
    dump = json.loads(body)
    assert dump["generation"] == 1
    assert sorted(file_name(f) for f in dump["files"]) == ["ap.yaml", "ra.yaml"]
    assert dump["scope"]["namespace"] == "default"
    ras = {ra["name"]: ra for ra in dump["request_authentications"]}
    assert sorted(ras) == ["internal", "jwt", "with-credentials"]  # `elsewhere` is in another namespace
    assert ras["internal"]["jwt_rules"][0]["jwks"] == "<inline, 1 key>"
    assert ras["jwt"]["jwt_rules"][0]["jwks_uri"] == idp.jwks_uri
    assert ras["jwt"]["jwt_rules"][0]["audiences"] == ["warden-test"]
    assert re.fullmatch(r".*ra\.yaml:\d+", ras["jwt"]["origin"])
    aps = {ap["name"]: ap for ap in dump["authorization_policies"]}
    assert sorted(aps) == ["deny-admin", "require-jwt"]  # root namespace applies; `other` does not
    assert aps["deny-admin"]["action"] == "DENY"
    assert aps["deny-admin"]["rules"][0]["to"][0]["operation"] == {"paths": ["/admin/*"], "methods": ["POST"]}
    # A header `when` value may be an API key: /config_dump shows that one is there, not what it is.
    assert aps["deny-admin"]["rules"][0]["when"][0] == {"key": "request.headers[x-env]", "values": ["<redacted, 4 bytes>"]}
    # So may metadata another filter copied from a header (header_to_metadata).
    assert aps["deny-admin"]["rules"][0]["when"][1] == {"key": "experimental.envoy.filters.http.header_to_metadata[api_key]",
                                                        "notValues": ["<redacted, 11 bytes>"]}
    creds = ras["with-credentials"]["jwt_rules"][0]
    assert creds["jwks_uri"] == idp.jwks_uri.replace("://", "://<redacted>@") + "?api_key=…"
    assert aps["require-jwt"]["rules"][0]["from"][0]["source"]["requestPrincipals"] == ["*"]
    assert re.fullmatch(r".*ap\.yaml:\d+", aps["deny-admin"]["origin"])
    sources = {s["source"]: s for s in dump["jwks"]}
    remote = sources[f"remote:{idp.jwks_uri}"]
    assert remote["issuer"] == idp.issuer and sorted(remote["kids"]) == ["ec-1", "ed-1", "rsa-1"]
    assert any(s["kids"] == ["hs-1"] for s in dump["jwks"])

    # No secret in any admin output or in the log: not the HMAC key, not the token, not its signature.
    signature = token.split(".")[2]
    outputs = [w.admin_status(p)[1] for p in ("/config_dump", "/metrics", "/readyz", "/healthz")]
    for text in outputs:
        assert HMAC_SECRET_B64 not in text
        assert token not in text and signature not in text
        assert "pa55word" not in text and "k3y-s3cret" not in text and '"prod"' not in text and "m3ta-s3cret" not in text
    assert HMAC_SECRET_B64 not in w.log_text() and token not in w.log_text()
    assert "pa55word" not in w.log_text() and "k3y-s3cret" not in w.log_text()


def file_name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def test_admin_is_bound_to_the_given_address_only(warden):
    assert warden.admin_status("/healthz")[0] == 200
    response = None
    try:
        response = httpclient.get(f"http://127.0.0.2:{warden.admin_port}/healthz", timeout=1)
    except OSError:
        pass
    assert response is None or response.status == 0
    assert warden.admin_status("/nope")[0] == 404


def test_decision_logs_are_json_without_tokens_or_redacted_claims(make_warden, idp, minter, tmp_path):
    policies = write_policy_dir(tmp_path / "p", {"ra.yaml": ra_yaml(idp.issuer, idp.jwks_uri), "ap.yaml": REQUIRE_JWT})
    w = make_warden(policies, extra_args=["--log-level", "debug", "--redact-claims", "sub,email", "--redact-claims", "aud"])
    secret_sub = "user-8f14e45f"
    email = "alice@example.org"
    good = minter.mint(sub=secret_sub, email=email)
    wrong_aud = minter.mint(sub=secret_sub, aud="secret-audience-7")
    with AuthzClient(w.address) as client:
        r = client.check(make_check_request("GET", f"/users/{secret_sub}/profile", {"authorization": f"Bearer {good}", "x-request-id": "req-allow"},
                                            request_id="req-allow"))
        assert r.status.code == OK
        r = client.check(make_check_request("GET", f"/orders?access_token={good}", {"x-request-id": "req-query"}, request_id="req-query"))
        assert r.status.code == OK
        r = client.check(make_check_request("GET", "/orders", {"authorization": f"Bearer {wrong_aud}", "x-request-id": "req-aud"}, request_id="req-aud"))
        assert r.status.code != OK
        r = client.check(make_check_request("GET", "/orders", {"x-request-id": "req-none"}, request_id="req-none"))
        assert r.status.code != OK
    wait_until(lambda: len(decision_lines(w)) >= 4, 5, what="4 decision lines")

    text = w.log_text()
    for line in text.splitlines():
        if line.startswith("{"):
            json.loads(line)  # every structured line is valid JSON
    for secret in (good, wrong_aud, good.split(".")[2], secret_sub, email, "secret-audience-7"):
        assert secret not in text
    by_id = {d["request_id"]: d for d in decision_lines(w)}
    allow = by_id["req-allow"]
    assert allow["level"] == "debug" and allow["decision"] == "allow" and allow["status"] == 200
    assert allow["principal"] == f"{idp.issuer}/[redacted]"
    assert allow["path"] == "/users/[redacted]/profile"
    assert allow["policy"] == "default/require-jwt rule[0]"
    for field in ("time", "method", "host", "reason", "reason_code", "latency_ms", "generation"):
        assert field in allow
    assert by_id["req-query"]["path"] == "/orders?access_token=…"
    aud = by_id["req-aud"]
    assert aud["level"] == "info" and aud["status"] == 403 and aud["reason_code"] == "jwt_audience_mismatch"
    assert "[redacted]" in aud["reason"]
    none = by_id["req-none"]
    assert none["status"] == 403 and none["reason_code"] == "no_allow_policy_matched" and "principal" not in none


def test_denials_only_at_info_level(make_warden, idp, minter, tmp_path):
    policies = write_policy_dir(tmp_path / "p", {"ra.yaml": ra_yaml(idp.issuer, idp.jwks_uri), "ap.yaml": REQUIRE_JWT})
    w = make_warden(policies, extra_args=["--log-format", "json"])
    with AuthzClient(w.address) as client:
        client.check(make_check_request("GET", "/", {"authorization": f"Bearer {minter.mint()}"}, request_id="ok-1"))
        client.check(make_check_request("GET", "/", {"authorization": f"Bearer {minter.expired()}"}, request_id="expired-1"))
    wait_until(lambda: len(decision_lines(w)) >= 1, 5, what="a decision line")
    time.sleep(0.2)
    ids = [d["request_id"] for d in decision_lines(w)]
    assert ids == ["expired-1"]


def test_config_dump_shows_each_rules_presence(make_warden, idp, tmp_path):
    """`presence` (Istio API v1.31) decides whether a request without a token passes: the dump says which."""
    ra = ("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: default}\n"
          f"spec:\n  jwtRules:\n  - issuer: {idp.issuer}\n    jwksUri: {idp.jwks_uri}\n    presence: REQUIRED\n"
          f"  - issuer: {idp.issuer}/other\n    jwksUri: {idp.jwks_uri}\n")
    w = make_warden(write_policy_dir(tmp_path / "p", {"ra.yaml": ra}))
    dump = json.loads(w.admin_status("/config_dump")[1])
    text = json.dumps(dump)
    assert '"presence": "REQUIRED"' in text and '"presence": "OPTIONAL"' in text
