"""Waiting for keys never outlives the caller, nor crowds out other checks (issue 14, "Waiting").

Through the real `warden` binary (and the real Envoy where the behaviour is visible there):
  - a caller that sends no deadline gets `--default-deadline` (100 ms) as its bound;
  - a flood of unverifiable tokens for a slow issuer parks at most `--jwks-max-waiters` checks on it: valid
    tokens of another issuer, and cached-key tokens of the same one, are still answered at once;
  - a check whose client goes away (Envoy resets the ext_authz stream when its downstream disconnects) is
    freed at once: counted, its place among the source's waiters released;
  - a check that reaches Warden too close to its deadline is shed (UNAVAILABLE, counted), which Envoy
    turns into its fail-closed 403.
"""
from __future__ import annotations

import socket
import time

import grpc
import pytest

from harness import httpclient
from harness.grpc_client import AuthzClient, make_check_request
from harness.idp import IdP, generate_key
from harness.ports import wait_until
from harness.tokens import Minter
from harness.warden import ALLOW_ALL_POLICY, write_policy_dir
from test_jwks_store import FETCH_FAILED, KID_MISMATCH, metric

SLOW = 3.0  # seconds the slow IdP takes; every bound asserted here is far below it


def two_issuer_policies(directory, slow: IdP, fast: IdP):
    ra = ("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n"
          "metadata: {name: jwt, namespace: default}\nspec:\n  jwtRules:\n"
          f"  - issuer: {slow.issuer}\n    jwksUri: {slow.jwks_uri}\n"
          f"  - issuer: {fast.issuer}\n    jwksUri: {fast.jwks_uri}\n")
    return write_policy_dir(directory, {"allow-all.yaml": ALLOW_ALL_POLICY, "ra.yaml": ra})


@pytest.fixture
def issuers():
    slow, fast = IdP(issuer_path="/slow"), IdP(issuer_path="/fast")
    yield slow, fast
    slow.close()
    fast.close()


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_without_a_deadline_the_default_deadline_bounds_the_wait(make_warden, issuers, tmp_path):
    """gRPC without `grpc-timeout` (a caller other than Envoy, or Envoy with `timeout: 0s`): a cold key
    source used to hold the check for the whole fetch; now `--default-deadline` answers it from the keys at
    hand (none: 401 `Jwks remote fetch is failed`)."""
    slow, fast = issuers
    slow.delay = SLOW
    w = make_warden(two_issuer_policies(tmp_path / "p", slow, fast), extra_args=["--ready-timeout", "0"])
    with AuthzClient(w.address) as client:
        started = time.monotonic()
        response = client.check(headers=bearer(Minter(slow).mint()), timeout=None)
        took = time.monotonic() - started
    assert response.denied_response.body == FETCH_FAILED
    assert took < 1.0, f"waited {took:.2f} s with no deadline; the default is 100 ms"


def test_a_flood_on_a_slow_issuer_does_not_delay_other_checks(make_warden, make_envoy, upstream, issuers, tmp_path):
    """Unsigned tokens naming the slow issuer with unknown kids (each wants a refetch) used to park one
    call slot each until the IdP answered; 400 of them took every slot of a one-thread Warden, and valid
    users behind them waited too. Now at most `--jwks-max-waiters` wait on one source; the rest are answered
    at once from the keys at hand (401), and other checks are never queued behind them."""
    slow, fast = issuers
    w = make_warden(two_issuer_policies(tmp_path / "p", slow, fast), threads=1,
                    extra_args=["--jwks-max-waiters", "16"])
    envoy = make_envoy(upstream_port=upstream.port, warden_port=w.port, timeout="10s")
    cached_slow = Minter(slow).mint(sub="cached")
    valid_fast = Minter(fast).mint(sub="fast")
    for token in (cached_slow, valid_fast):  # keys of both sources fetched and warm
        assert httpclient.request("GET", envoy.url("/warm"), headers=bearer(token)).status == 200

    slow.delay = SLOW
    forger = generate_key("RS256", "unknown")
    flood = [make_check_request(headers=bearer(Minter(slow).mint(key=forger, kid=f"unknown-{n}"))) for n in range(400)]
    with AuthzClient(w.address) as client:
        futures = [client.check_future(request, timeout=20) for request in flood]
        wait_until(lambda: metric(w, "warden_jwks_waiting_checks", source=slow.jwks_uri) == 16, 5,
                   what="the slow source's waiters at their cap")
        started = time.monotonic()
        for token in (valid_fast, cached_slow) * 5:
            assert httpclient.request("GET", envoy.url("/data"), headers=bearer(token), timeout=5).status == 200
        took = time.monotonic() - started
        assert took < SLOW / 2, f"10 valid checks took {took:.2f} s behind the flood"
        bodies = [f.result(timeout=20).denied_response.body for f in futures]
    assert set(bodies) == {KID_MISMATCH}
    assert metric(w, "warden_jwks_waiters_refused_total", source=slow.jwks_uri) >= 400 - 16 - 1


def test_a_check_whose_client_goes_away_is_freed_at_once(make_warden, make_envoy, upstream, issuers, tmp_path):
    """The downstream client disconnects while its check waits for a slow refetch: Envoy resets the
    ext_authz stream, and Warden frees the call and the waiter place then, not when the IdP answers."""
    slow, fast = issuers
    w = make_warden(two_issuer_policies(tmp_path / "p", slow, fast))
    envoy = make_envoy(upstream_port=upstream.port, warden_port=w.port, timeout="10s")
    assert httpclient.request("GET", envoy.url("/warm"), headers=bearer(Minter(slow).mint())).status == 200
    slow.delay = SLOW
    forged = Minter(slow).mint(key=generate_key("RS256", "gone"), kid="gone")

    with socket.create_connection(("127.0.0.1", envoy.port)) as client:
        client.sendall(f"GET /data HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {forged}\r\n\r\n".encode())
        wait_until(lambda: metric(w, "warden_jwks_waiting_checks", source=slow.jwks_uri) == 1, 5,
                   what="the check waiting for the refetch")
        started = time.monotonic()
    wait_until(lambda: metric(w, "warden_checks_cancelled_total") == 1, SLOW / 2, what="the cancellation counted")
    assert metric(w, "warden_jwks_waiting_checks", source=slow.jwks_uri) == 0
    assert time.monotonic() - started < SLOW / 2


@pytest.mark.parametrize("failure_mode_allow", [False, True])
def test_a_check_arriving_too_close_to_its_deadline_is_shed(make_warden, make_envoy, upstream, policy_dir,
                                                           failure_mode_allow):
    """`--shed-margin`: a check with less time left than that is answered UNAVAILABLE at once, without being
    decoded, and counted. Envoy applies its failure mode: 403 fail-closed by default; with
    `failure_mode_allow` (Istio `failOpen`) the operator chose to let such requests through."""
    w = make_warden(policy_dir, extra_args=["--shed-margin", "500ms"])
    envoy = make_envoy(upstream_port=upstream.port, warden_port=w.port, timeout="0.4s",
                       failure_mode_allow=failure_mode_allow)
    response = httpclient.request("GET", envoy.url("/data"))
    assert response.status == (200 if failure_mode_allow else 403), response.body
    assert metric(w, "warden_checks_shed_total") == 1

    with AuthzClient(w.address) as client:
        with pytest.raises(grpc.RpcError) as shed:
            client.check(timeout=0.3)
        assert shed.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "deadline" in shed.value.details()
        assert client.check(timeout=2).HasField("ok_response")  # enough time left: decided as usual
    assert metric(w, "warden_checks_shed_total") == 2
