"""Overload, bounded version of `make bench`'s overload mode (issue 14, "Waiting"): offered twice what one
Warden thread can decide, with a deadline on every call, Warden keeps answering within the deadlines, its
memory stays bounded, and it answers at once when the load drops.

The load generator is h2load (nghttp2-client, installed by `make test`) sending one pre-encoded CheckRequest
at a fixed rate per connection, Envoy-like: 4 connections × 256 streams (Envoy's default circuit breaker
allows 1024 requests in flight). Every check verifies an RS256 signature (`--token-cache-size 0`), so
Warden, not the client, is the bottleneck. Latencies are the client's, per request, from h2load's log.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from harness.grpc_client import AuthzClient, make_check_request
from test_jwks_store import metric, policies

DEADLINE_MS = 250
SECONDS = 3
CLIENTS, STREAMS = 4, 256

pytestmark = pytest.mark.skipif(shutil.which("h2load") is None, reason="h2load missing (make test installs nghttp2-client)")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def h2load(url: str, body: Path, log: Path, *extra: str) -> tuple[dict, list[int]]:
    argv = ["h2load", "-t1", "-c", str(CLIENTS), "-m", str(STREAMS), "-d", str(body), "--log-file", str(log),
            "-H", "content-type: application/grpc", "-H", "te: trailers", "-H", f"grpc-timeout: {DEADLINE_MS}m",
            *extra, url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120).stdout
    m = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
    req = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    assert m and req, out
    latencies = sorted(int(line.split("\t")[2]) for line in log.read_text().splitlines() if line.count("\t") >= 2)
    return {"rps": float(m.group(1)), "started": int(req.group(2)), "done": int(req.group(3)),
            "succeeded": int(req.group(4)), "failed": int(req.group(5)) + int(req.group(6))}, latencies


def test_twice_the_capacity_is_answered_within_deadlines_and_recovers(make_warden, idp, minter, tmp_path):
    w = make_warden(policies(tmp_path / "p", idp), threads=1, extra_args=["--token-cache-size", "0"])
    token = minter.mint(sub="load")
    frame = make_check_request(headers={"authorization": f"Bearer {token}"}).SerializeToString()
    body = tmp_path / "check.grpc"
    body.write_bytes(b"\x00" + len(frame).to_bytes(4, "big") + frame)
    url = f"http://{w.address}/envoy.service.auth.v3.Authorization/Check"

    capacity, _ = h2load(url, body, tmp_path / "max.log", "-n", "6000")
    rss_before = rss_kib(w.process.pid)
    allowed_before = metric(w, "warden_checks_total", decision="allowed")
    rate = 2 * capacity["rps"] / CLIENTS
    load, latencies = h2load(url, body, tmp_path / "load.log", "--rps", f"{rate:.1f}", "-D", str(SECONDS))

    # h2load stops at the end of the duration: calls still in flight then are neither done nor failed.
    assert load["failed"] == 0 and load["started"] - load["done"] <= CLIENTS * STREAMS, load
    late = [us for us in latencies if us > DEADLINE_MS * 1000]
    assert not late, f"{len(late)} of {len(latencies)} answers came after the {DEADLINE_MS} ms deadline (max {latencies[-1]} µs)"
    allowed = metric(w, "warden_checks_total", decision="allowed") - allowed_before
    shed = metric(w, "warden_checks_shed_total")
    assert load["done"] <= allowed + shed <= load["started"], "every call is decided or shed, and counted"
    assert rss_kib(w.process.pid) - rss_before < 64 * 1024, "memory grew by more than 64 MiB under overload"

    # The load drops: the next checks are decided at once, not after a backlog.
    with AuthzClient(w.address) as client:
        for n in range(20):
            started = time.monotonic()
            response = client.check(headers={"authorization": f"Bearer {minter.mint(sub=f'after-{n}')}"}, timeout=DEADLINE_MS / 1000)
            assert response.HasField("ok_response")
            assert time.monotonic() - started < DEADLINE_MS / 1000
