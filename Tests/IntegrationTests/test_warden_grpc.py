"""Warden's gRPC surface called like Envoy calls it: grpcio + xds-protos (needs WARDEN_BIN)."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from harness.grpc_client import SERVING, AuthzClient, header_mutations, make_check_request
from harness.warden import write_policy_dir

OK = 0  # google.rpc.Code.OK


def test_admin_healthz_and_readyz(warden):
    assert warden.admin_status("/healthz")[0] == 200
    assert warden.admin_status("/readyz")[0] == 200


def test_health_serving(authz):
    assert authz.health() == SERVING


def test_check_allows_with_decision_header(authz):
    response = authz.check(method="GET", path="/orders?id=7", headers={"authorization": "Bearer x"},
                           source_principal="spiffe://cluster.local/ns/default/sa/client",
                           context_extensions={"route": "orders"})
    assert response.status.code == OK
    assert response.HasField("ok_response")
    assert header_mutations(response)["x-warden-decision"] == "allow"


@pytest.mark.parametrize("payload", [
    pytest.param(b"\x0a\xff\xff\xff\xff", id="truncated-length-varint"),
    pytest.param(b"\x0a\x10abc", id="length-past-end"),
    pytest.param(b"\x0f\x01", id="invalid-wire-type"),
    pytest.param(b"\x0a\x05" + b"\x0a\x03" + b"\x12\x01", id="nested-truncated"),
])
def test_malformed_body_is_invalid_argument(authz, payload):
    with pytest.raises(grpc.RpcError) as error:
        authz.check_raw(payload)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # The server survives and keeps answering.
    assert authz.check().status.code == OK


def test_empty_body_is_a_valid_empty_check_request(authz):
    """An empty message is a valid (all-default) CheckRequest; Warden must decide, not crash."""
    response = authz.check_raw(b"")
    assert isinstance(response, bytes)


def test_concurrent_checks_from_16_threads(warden):
    per_thread = 25
    with AuthzClient(warden.address) as client:
        def worker(index: int) -> list[int]:
            codes = []
            for n in range(per_thread):
                response = client.check(path=f"/t{index}/{n}", request_id=f"{index}-{n}")
                codes.append(response.status.code)
            return codes
        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(worker, range(16)))
    assert [len(r) for r in results] == [per_thread] * 16
    assert all(code == OK for r in results for code in r)


def test_graceful_shutdown_answers_every_in_flight_call(make_warden, idp, minter, tmp_path):
    """20 checks are in flight inside Warden (waiting on a slow first JWKS fetch) when SIGTERM arrives:
    Warden stops accepting, answers every one of them, and exits 0 within the grace period."""
    policies = tmp_path / "policies"
    write_policy_dir(policies, {"ra.yaml": f"""
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: jwt, namespace: default}}
spec:
  jwtRules:
  - issuer: {idp.issuer}
    jwksUri: {idp.jwks_uri}
"""})
    idp.delay = 2.0
    w = make_warden(policies=policies, shutdown_grace=10, extra_args=["--ready-timeout", "0"])
    token = minter.mint()
    with AuthzClient(w.address) as client:
        client.wait_ready()
        futures = [client.check_future(make_check_request(path=f"/inflight/{i}", headers={"authorization": f"Bearer {token}"}))
                   for i in range(20)]
        time.sleep(0.5)  # the 20 checks are now waiting on the JWKS fetch inside Warden
        w.terminate()
        time.sleep(0.3)  # the server is now draining
        with AuthzClient(w.address) as newcomer:  # stopped accepting: a new connection gets nowhere
            with pytest.raises(grpc.RpcError) as refused:
                newcomer.check(timeout=1)
            assert refused.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
        responses = [f.result(timeout=10) for f in futures]
    assert [r.status.code for r in responses] == [OK] * 20
    assert w.wait(timeout=15) == 0


def test_sigterm_when_idle_exits_zero(make_warden):
    w = make_warden()
    w.terminate()
    assert w.wait(timeout=15) == 0
