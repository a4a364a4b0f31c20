"""The JWKS store end to end through the real `warden` binary and a local IdP (issue 3): OIDC discovery,
rotation with one unknown-kid refetch, stale-while-error through an outage, restart during an outage with
--cache-dir, a bogus-kid flood against the rate limit, a slow IdP that must not slow warm checks, cold start
with the IdP down, and readiness bounded by --ready-timeout. Needs WARDEN_BIN.

Short cache durations (--jwks-cache-duration 2s) force refreshes within a test; the unknown-kid rate limit
(one refetch per issuer per 30 s) is asserted as a bound rather than waited out.
"""
from __future__ import annotations

import json
import random
import re
import string
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.grpc_client import SERVING, AuthzClient
from harness import httpclient
from harness.idp import IdP, generate_key
from harness.ports import wait_until
from harness.tokens import Minter, raw_token
from harness.warden import ALLOW_ALL_POLICY, write_policy_dir

KID_MISMATCH = "Jwks doesn't have key to match kid or alg from Jwt"
FETCH_FAILED = "Jwks remote fetch is failed"


def policies(directory, idp: IdP, *, jwks_uri: bool = True):
    rule = f"  - issuer: {idp.issuer}\n"
    if jwks_uri:
        rule += f"    jwksUri: {idp.jwks_uri}\n"
    ra = ("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n"
          "metadata: {name: jwt, namespace: default}\nspec:\n  jwtRules:\n" + rule)
    return write_policy_dir(directory, {"allow-all.yaml": ALLOW_ALL_POLICY, "ra.yaml": ra})


def outcome(client: AuthzClient, token: str, path: str = "/", timeout: float = 5.0) -> str:
    """"allow", or the denial body."""
    response = client.check(path=path, headers={"authorization": f"Bearer {token}"}, timeout=timeout)
    return "allow" if response.HasField("ok_response") else response.denied_response.body


def metric_samples(warden) -> list[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of every sample on /metrics."""
    status, text = warden.admin_status("/metrics")
    assert status == 200
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        name, _, rest = key.partition("{")
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', rest))
        samples.append((name, labels, float(value)))
    return samples


def metric(warden, name: str, **labels: str) -> float:
    """The value of the one sample of `name` whose labels include `labels`."""
    found = [v for n, l, v in metric_samples(warden) if n == name and labels.items() <= l.items()]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0]


def fetches(warden, uri: str, result: str) -> float:
    return metric(warden, "warden_jwks_fetches_total", source=uri, result=result)


def refetches(warden, uri: str) -> float:
    return metric(warden, "warden_jwks_unknown_kid_refetches_total", source=uri)


def decision_reason(warden, path: str) -> str:
    def find():
        for raw in warden.log_text().splitlines():
            if raw.startswith("{"):
                entry = json.loads(raw)
                if entry.get("msg") == "decision" and entry.get("path") == path:
                    return entry["reason"]
        return None
    return wait_until(find, 3, what=f"decision line for {path}")


@pytest.fixture
def client_for():
    clients: list[AuthzClient] = []

    def make(warden) -> AuthzClient:
        clients.append(AuthzClient(warden.address))
        return clients[-1]
    yield make
    for c in clients:
        c.close()


# -- sources -----------------------------------------------------------------------------------------------

def test_oidc_discovery_when_the_rule_has_no_jwks_uri(make_warden, client_for, tmp_path):
    idp = IdP(issuer_path="/realms/acme")
    try:
        w = make_warden(policies(tmp_path / "p", idp, jwks_uri=False))
        client = client_for(w)
        assert outcome(client, Minter(idp).mint(alg="ES256")) == "allow"
        assert idp.count("/.well-known/openid-configuration") == 1
        assert idp.count("/jwks.json") == 1
        # The store reports the jwks_uri it discovered.
        assert fetches(w, idp.jwks_uri, "success") == 1
    finally:
        idp.close()


# -- rotation and the unknown-kid refetch ------------------------------------------------------------------

def test_rotation_is_picked_up_by_exactly_one_refetch_then_rate_limited(make_warden, client_for, idp, minter, tmp_path):
    w = make_warden(policies(tmp_path / "p", idp))
    client = client_for(w)
    old_token = minter.mint()
    assert outcome(client, old_token, "/before") == "allow"
    assert refetches(w, idp.jwks_uri) == 0
    idp.reset_counts()

    new_key = idp.rotate("RS256")  # rsa-1 is gone, a new kid is published
    assert outcome(client, minter.mint(kid=new_key.kid), "/rotated") == "allow"
    assert idp.count() == 1
    assert refetches(w, idp.jwks_uri) == 1

    # The old key left the JWKS: its token is rejected although it was verified (and cached) before.
    assert outcome(client, old_token, "/old-after-rotation") == KID_MISMATCH
    # A second rotation within the rate-limit interval (30 s) is not fetched: the IdP sees no new request.
    newer = idp.rotate("RS256")
    assert outcome(client, minter.mint(kid=newer.kid), "/rotated-again") == KID_MISMATCH
    assert idp.count() == 1
    assert refetches(w, idp.jwks_uri) == 1


def test_bogus_kid_flood_costs_the_idp_at_most_one_fetch(make_warden, client_for, idp, minter, tmp_path):
    w = make_warden(policies(tmp_path / "p", idp))
    client = client_for(w)
    assert outcome(client, minter.mint()) == "allow"
    idp.reset_counts()
    rng = random.Random(3)
    tokens = [raw_token({"alg": "RS256", "typ": "JWT", "kid": "".join(rng.choices(string.ascii_letters, k=20))},
                        minter.claims(), rng.randbytes(256)) for _ in range(300)]
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        bodies = list(pool.map(lambda t: outcome(client, t[1], f"/flood/{t[0]}"), enumerate(tokens)))
    elapsed = time.monotonic() - start
    assert bodies == [KID_MISMATCH] * 300
    assert idp.count() <= 1  # default limit: one unknown-kid refetch per issuer per 30 s
    assert refetches(w, idp.jwks_uri) == 1
    # The others joined that one fetch or were refused by the limit (answered at once from the current keys).
    assert metric(w, "warden_jwks_unknown_kid_rate_limited_total", source=idp.jwks_uri) >= 200
    assert elapsed < 10, f"300 rejections took {elapsed:.1f} s"
    assert outcome(client, minter.mint(sub="after-flood")) == "allow"


# -- outages -----------------------------------------------------------------------------------------------

def test_outage_after_a_warm_cache_keeps_validating(make_warden, client_for, idp, minter, tmp_path):
    w = make_warden(policies(tmp_path / "p", idp), extra_args=["--jwks-cache-duration", "2s"])
    client = client_for(w)
    assert outcome(client, minter.mint(sub="warm")) == "allow"
    down_at = time.monotonic()
    idp.go_down()
    # The refresh at 80 % of 2 s fails; the keys outlive their cache duration (stale-while-error).
    wait_until(lambda: fetches(w, idp.jwks_uri, "failed") >= 1, 5, what="a failed refresh in /metrics")
    time.sleep(max(0.0, 2.5 - (time.monotonic() - down_at)))
    for n in range(3):  # fresh tokens: no verified-token cache hit, the stale keys verify them
        assert outcome(client, minter.mint(sub=f"outage-{n}"), f"/outage/{n}") == "allow"
    assert w.admin_status("/readyz")[0] == 200
    assert "fetch failed" in w.log_text() and "serving last good keys" in w.log_text()
    # The IdP returns: a retry (exponential backoff from 1 s) succeeds again.
    ok_before = fetches(w, idp.jwks_uri, "success") + fetches(w, idp.jwks_uri, "not_modified")
    idp.come_up()
    wait_until(lambda: fetches(w, idp.jwks_uri, "success") + fetches(w, idp.jwks_uri, "not_modified") > ok_before,
               8, what="a successful fetch after the IdP came back")


def test_max_staleness_bounds_how_long_last_good_keys_serve(make_warden, client_for, idp, minter, tmp_path):
    """--jwks-max-staleness: past cache duration + max staleness, keys the IdP can no longer confirm stop
    verifying (a revoked key cannot outlive the bound); with the default (24 h) the same outage is ridden out."""
    w = make_warden(policies(tmp_path / "p", idp), extra_args=["--jwks-cache-duration", "1s", "--jwks-max-staleness", "1s"])
    client = client_for(w)
    assert outcome(client, minter.mint(sub="warm")) == "allow"
    idp.go_down()
    time.sleep(2.5)  # cache duration (1 s) + max staleness (1 s) have passed
    assert outcome(client, minter.mint(sub="after")) == FETCH_FAILED
    idp.come_up()


def test_a_slow_refetch_never_outlives_envoys_deadline(make_warden, make_envoy, upstream, idp, minter, tmp_path):
    """An unverifiable token (right issuer, unknown kid) parks its check on a refetch; with a slow IdP that
    outlived Envoy's ext_authz timeout, and with failure_mode_allow (Istio failOpen) Envoy then let the
    request through. Warden honours the deadline Envoy sends (grpc-timeout) and answers from the keys at
    hand before it: 401, never a timeout, never a bypass."""
    w = make_warden(policies(tmp_path / "p", idp))
    envoy = make_envoy(upstream_port=upstream.port, warden_port=w.port, timeout="0.25s", failure_mode_allow=True)
    idp.delay = 1.5
    upstream.clear()
    forged = minter.mint(key=generate_key("RS256", "not-published"), kid="not-published")
    started = time.monotonic()
    response = httpclient.request("GET", envoy.url("/data"), headers={"authorization": f"Bearer {forged}"})
    assert response.status == 401, (response.status, response.body)
    assert response.body == KID_MISMATCH.encode()
    assert upstream.count() == 0
    assert time.monotonic() - started < 1.0  # answered, not waited out
    idp.delay = 0


@pytest.mark.parametrize("source", ["jwksUri", "discovery"])
def test_restart_during_an_outage_validates_with_the_persisted_keys(make_warden, client_for, tmp_path, source):
    idp = IdP(issuer_path="/persisted")
    try:
        minter = Minter(idp)
        cache = tmp_path / "jwks-cache"
        with_uri = source == "jwksUri"
        first = make_warden(policies(tmp_path / "p", idp, jwks_uri=with_uri), cache_dir=cache)
        assert outcome(client_for(first), minter.mint(sub="first")) == "allow"
        # Written right after the keys are installed (so possibly just after the first check is answered).
        wait_until(lambda: len(list(cache.glob("jwks-*.json"))) == 1, 3, what="the persisted JWKS file")
        assert first.stop() == 0

        idp.go_down()
        second = make_warden(policies(tmp_path / "p2", idp, jwks_uri=with_uri), cache_dir=cache)  # ready at once
        client = client_for(second)
        assert outcome(client, minter.mint(sub="second")) == "allow"
        wait_until(lambda: fetches(second, idp.jwks_uri, "failed") >= 1, 5, what="the failed fetch in /metrics")
        assert outcome(client, minter.mint(sub="second-after-failed-fetch")) == "allow"
        assert "loaded persisted JWKS" in second.log_text()

        # Without the cache directory the same outage leaves a new process without keys.
        third = make_warden(policies(tmp_path / "p3", idp, jwks_uri=with_uri), extra_args=["--ready-timeout", "0"])
        assert outcome(client_for(third), minter.mint(sub="third")) == FETCH_FAILED
    finally:
        idp.close()


def test_concurrent_cold_checks_coalesce_into_one_fetch(make_warden, client_for, idp, minter, tmp_path):
    idp.delay = 1.0
    w = make_warden(policies(tmp_path / "p", idp), extra_args=["--ready-timeout", "0"])
    client = client_for(w)
    tokens = [minter.mint(alg="ES256", sub=f"cold-{n}") for n in range(40)]
    with ThreadPoolExecutor(max_workers=40) as pool:
        results = list(pool.map(lambda t: outcome(client, t), tokens))
    assert results == ["allow"] * 40
    assert idp.count() == 1


def test_cold_start_with_the_idp_down(make_warden, client_for, idp, minter, tmp_path):
    idp.go_down()
    started = time.monotonic()
    w = make_warden(policies(tmp_path / "p", idp), wait_ready=False, extra_args=["--ready-timeout", "2"])
    client = client_for(w)
    client.wait_ready()
    # Not ready while no keys, with the reason; checks are answered meanwhile with Envoy's failed-fetch body.
    wait_until(lambda: "failed fetch(es)" in w.admin_status("/readyz")[1], 2, what="/readyz naming the failed fetch")
    status, body = w.admin_status("/readyz")
    assert status == 503 and body.startswith("not ready: no JWKS keys yet for " + idp.jwks_uri)
    assert outcome(client, minter.mint(), "/cold") == FETCH_FAILED
    reason = decision_reason(w, "/cold")
    assert reason.startswith(FETCH_FAILED + ": the issuer's keys are unavailable: ")
    assert fetches(w, idp.jwks_uri, "failed") >= 1
    # --ready-timeout bounds the wait: then ready, degraded, so one dead IdP cannot keep every route down.
    wait_until(lambda: w.admin_status("/readyz")[0] == 200, 4, what="/readyz 200 after --ready-timeout")
    assert 1.8 <= time.monotonic() - started < 5
    assert w.admin_status("/readyz")[1].startswith("ready (degraded")
    # The IdP comes up: after the retry backoff a request gets keys again, and /readyz is plain ready.
    idp.come_up()
    wait_until(lambda: outcome(client, minter.mint(sub="recovered")) == "allow", 10, interval=0.3,
               what="allow once the IdP is back")
    assert w.admin_status("/readyz") == (200, "ready\n")


def test_slow_idp_does_not_slow_warm_checks(make_warden, client_for, idp, minter, tmp_path):
    w = make_warden(policies(tmp_path / "p", idp), extra_args=["--jwks-cache-duration", "2s"])
    client = client_for(w)
    assert outcome(client, minter.mint(alg="ES256")) == "allow"
    idp.delay = 3.0
    baseline = idp.count()
    wait_until(lambda: idp.count() > baseline, 4, what="the background refresh to reach the slow IdP")
    refresh_started = time.monotonic()
    latencies = []
    while time.monotonic() - refresh_started < 2.0:  # the refresh is still sleeping in the IdP
        token = minter.mint(alg="ES256", sub=f"slow-{len(latencies)}")
        t0 = time.monotonic()
        assert outcome(client, token) == "allow"
        latencies.append(time.monotonic() - t0)
    idp.delay = 0
    latencies.sort()
    assert len(latencies) >= 20
    # Generous bounds for a loaded CI machine; a check waiting on the refresh would take ~3 s.
    assert latencies[-1] < 1.0, f"slowest check {latencies[-1] * 1000:.0f} ms while the IdP took 3 s"
    assert latencies[len(latencies) // 2] < 0.1


# -- readiness and fetch timeout -----------------------------------------------------------------------------

def test_readiness_waits_for_the_first_fetch_bounded_by_ready_timeout(make_warden, client_for, idp, minter, tmp_path):
    idp.delay = 2.5
    t0 = time.monotonic()
    patient = make_warden(policies(tmp_path / "p1", idp), wait_ready=False, extra_args=["--ready-timeout", "10"])
    hasty = make_warden(policies(tmp_path / "p2", idp), wait_ready=False, extra_args=["--ready-timeout", "1"])

    def ready_after(w) -> float:
        wait_until(lambda: w.admin_status("/readyz")[0] == 200, 8, interval=0.05, what="/readyz 200")
        return time.monotonic() - t0
    wait_until(lambda: patient.admin_status("/readyz")[0] == 503, 3, what="/readyz answering 503")
    status, body = patient.admin_status("/readyz")
    assert status == 503 and body.startswith("not ready: no JWKS keys yet") and "first fetch in progress" in body
    hasty_ready = ready_after(hasty)
    patient_ready = ready_after(patient)
    assert hasty_ready < min(2.4, patient_ready - 0.5), f"--ready-timeout 1: ready after {hasty_ready:.1f} s"
    assert 2.2 <= patient_ready < 6, f"ready after {patient_ready:.1f} s; the first fetch takes 2.5 s"
    # The hasty one became ready before its keys: a check now joins the in-flight fetch and succeeds.
    assert outcome(client_for(hasty), minter.mint(), timeout=8) == "allow"
    assert outcome(client_for(patient), minter.mint()) == "allow"


def test_jwks_fetch_timeout_bounds_a_cold_check(make_warden, client_for, idp, minter, tmp_path):
    idp.delay = 3.0
    w = make_warden(policies(tmp_path / "p", idp), extra_args=["--jwks-fetch-timeout", "1", "--ready-timeout", "0"])
    client = client_for(w)
    t0 = time.monotonic()
    assert outcome(client, minter.mint(), "/timeout") == FETCH_FAILED
    assert time.monotonic() - t0 < 2.0
    assert "timed out" in decision_reason(w, "/timeout").lower()
    idp.delay = 0



@pytest.mark.parametrize("name,setup,why", [
    ("only-an-oct-key", lambda idp: idp.serve_raw_jwks(json.dumps(
        {"keys": [{"kty": "oct", "kid": "hs", "alg": "HS256", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}]}
    ).encode()), "symmetric (oct) keys are accepted only from operator-configured key sets"),
    ("not-json", lambda idp: idp.serve_raw_jwks(b"<html>login</html>"), "malformed JWKS"),
    ("no-keys-array", lambda idp: idp.serve_raw_jwks(b'{"kid":"x"}'), "malformed JWKS"),
    ("http-500", lambda idp: idp.fail_with(500), "HTTP status 500"),
])
def test_an_unusable_jwks_is_a_failed_fetch(make_warden, client_for, idp, minter, tmp_path, name, setup, why):
    """Envoy reports an invalid remote JWKS as a failed fetch (JwksFetchFail), and so does Warden."""
    setup(idp)
    w = make_warden(policies(tmp_path / "p", idp), extra_args=["--ready-timeout", "0"])
    client = client_for(w)
    assert outcome(client, minter.mint(), f"/unusable/{name}") == FETCH_FAILED
    assert why in decision_reason(w, f"/unusable/{name}")
    assert fetches(w, idp.jwks_uri, "failed") >= 1


def test_the_refetch_rate_limit_is_per_issuer(make_warden, client_for, idp, minter, tmp_path):
    other = IdP(issuer_path="/other")
    try:
        rules = "".join(f"  - issuer: {i.issuer}\n    jwksUri: {i.jwks_uri}\n" for i in (idp, other))
        ra = ("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n"
              "metadata: {name: jwt, namespace: default}\nspec:\n  jwtRules:\n" + rules)
        w = make_warden(write_policy_dir(tmp_path / "p", {"allow-all.yaml": ALLOW_ALL_POLICY, "ra.yaml": ra}))
        client = client_for(w)
        # Spend the first issuer's refetch on a bogus kid …
        assert outcome(client, minter.unknown_kid(kid="bogus")) == KID_MISMATCH
        assert refetches(w, idp.jwks_uri) == 1
        # … the second issuer's rotation is still picked up at once.
        new = other.rotate("ES256")
        assert outcome(client, Minter(other).mint(alg="ES256", kid=new.kid)) == "allow"
        assert refetches(w, other.jwks_uri) == 1
    finally:
        other.close()


def test_rotation_is_picked_up_through_discovery_too(make_warden, client_for, tmp_path):
    idp = IdP(issuer_path="/realms/rotating")
    try:
        w = make_warden(policies(tmp_path / "p", idp, jwks_uri=False))
        client = client_for(w)
        minter = Minter(idp)
        assert outcome(client, minter.mint()) == "allow"
        idp.reset_counts()
        new = idp.rotate("RS256")
        assert outcome(client, minter.mint(kid=new.kid)) == "allow"
        assert idp.count("/jwks.json") == 1
        assert refetches(w, idp.jwks_uri) == 1
    finally:
        idp.close()


def test_a_sub_second_cache_duration_is_a_usage_error(tmp_path, idp):
    """--jwks-cache-duration 0 once refetched in a tight loop (~1500 requests/s); the CLI now refuses values
    under 1 s (the store also keeps refreshes at least 1 s apart: WardenJWKS unit tests)."""
    import subprocess
    from harness.warden import warden_binary
    p = policies(tmp_path / "p", idp)
    r = subprocess.run([warden_binary(), "serve", "--policy", str(p), "--jwks-cache-duration", "0"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
    assert "--jwks-cache-duration" in r.stderr
    assert idp.count() == 0


def test_the_shortest_cache_duration_does_not_hammer_the_idp(make_warden, idp, tmp_path):
    make_warden(policies(tmp_path / "p", idp), extra_args=["--jwks-cache-duration", "1s"])
    idp.reset_counts()
    time.sleep(2.5)
    assert idp.count() <= 4  # about one refresh a second (refreshed ahead of expiry), not a loop
