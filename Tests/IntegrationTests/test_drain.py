"""--drain-delay: on SIGTERM Warden first reports NOT_SERVING (gRPC health, /readyz) while it keeps answering
checks, so Envoy's health checks move traffic away before the listener closes; then it exits 0."""
from __future__ import annotations

import time

from harness.grpc_client import NOT_SERVING, SERVING, AuthzClient



def test_drain_delay_keeps_answering_while_health_says_not_serving(make_warden):
    w = make_warden(extra_args=["--drain-delay", "2"])
    with AuthzClient(w.address) as client:
        client.wait_ready()
        assert client.health() == SERVING
        w.terminate()
        time.sleep(0.5)
        assert client.health() == NOT_SERVING
        assert w.admin_status("/readyz")[0] == 503
        assert client.check().HasField("ok_response")  # still deciding during the drain
    assert w.wait(timeout=15) == 0
