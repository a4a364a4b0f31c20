#!/usr/bin/env python3
"""Chaos soak: real Envoy → two Warden replicas under steady load while things break.

Traffic (keep-alive HTTP/1.1 from N client threads, through Envoy's ext_authz with a retry policy and
gRPC health checks over a two-endpoint `warden` cluster), each request with a fixed expected answer:

    allow   valid token (current key), GET /api/…      → 200 (and the upstream sees x-warden-decision: allow)
    anon    no token,                  GET /api/…      → 403 (ALLOW rule needs a request principal)
    forged  tampered token,            GET /api/…      → 401
    expired expired token,             GET /api/…      → 401
    admin   valid token,               GET /admin/…    → 403 (DENY rule)

Chaos, one event at a time in a loop until the time is up:
    jwks-outage   the IdP refuses connections for a while (cached keys keep serving), then comes back
    rotate        a new signing key is published next to the old one, clients switch to it 3 s later (Warden
                  refreshes every 2 s), the old key is unpublished
    policy-good   the ConfigMap-style policy directory is swapped (`..data` symlink) to an equivalent version
    policy-broken swapped to a broken version: reloads fail, the last good set keeps serving; then restored
    sighup        SIGHUP to both replicas (forced reload)
    restart       one replica gets SIGTERM (graceful drain), exits 0, and is started again on the same ports

Asserted at the end (exit 1 with a report otherwise): every response had its expected status (no wrong
allow/deny, no 5xx at any time — including during drains); every replica exited 0 on SIGTERM; RSS growth
per replica lifetime bounded; policy reload counters moved as expected; the checks counted in /metrics
(summed over replicas and restarts) cover every request the clients sent, with at most Envoy's retries extra.

Usage: scripts/soak.py [--seconds 120] [--clients 4] [--json]     (needs WARDEN_BIN; Envoy from the venv)
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Tests/IntegrationTests"))

from harness import process as process_mod  # noqa: E402
from harness import warden as warden_mod  # noqa: E402
from harness.envoy import Envoy, render_config  # noqa: E402
from harness.idp import IdP  # noqa: E402
from harness.ports import LOCALHOST, free_port, wait_until  # noqa: E402
from harness.tokens import Minter  # noqa: E402
from harness.upstream import EchoUpstream  # noqa: E402

EXPECTED = {"allow": 200, "anon": 403, "forged": 401, "expired": 401, "admin": 403}


def policy_files(idp: IdP, variant: str) -> dict[str, str]:
    ra = f"""apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: jwt, namespace: default}}
spec:
  jwtRules:
  - issuer: {idp.issuer}
    jwksUri: {idp.jwks_uri}
"""
    allow = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: require-jwt, namespace: default}
spec:
  action: ALLOW
  rules:
  - from: [{source: {requestPrincipals: ["*"]}}]
"""
    deny = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: default}
spec:
  action: DENY
  rules:
  - to: [{operation: {paths: ["/admin/*"]}}]
"""
    files = {"ra.yaml": ra, "allow.yaml": allow, "deny.yaml": deny}
    if variant == "v2":  # equivalent for the traffic: an extra DENY on a path nobody requests
        files["deny.yaml"] = deny.replace('["/admin/*"]', '["/admin/*", "/never-requested"]')
    elif variant == "broken":
        files["deny.yaml"] = deny.replace("action: DENY", "action: [DENY")  # YAML syntax error
        files["extra.yaml"] = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nspec: 7\n"
    return files


class ConfigMapDir:
    """A directory laid out like a mounted ConfigMap: `name.yaml -> ..data/name.yaml`, `..data -> ..gen-N`;
    `publish()` writes a new generation and swaps `..data` atomically (rename of a symlink)."""

    def __init__(self, path: Path):
        self.path = path
        self.path.mkdir(parents=True, exist_ok=True)
        self.generation = 0

    def publish(self, files: dict[str, str]) -> None:
        self.generation += 1
        gen = self.path / f"..gen-{self.generation}"
        gen.mkdir()
        for name, text in files.items():
            (gen / name).write_text(text)
        tmp = self.path / "..data_tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(gen.name)
        os.replace(tmp, self.path / "..data")
        for name in files:
            link = self.path / name
            if not link.is_symlink():
                link.symlink_to(f"..data/{name}")
        for stale in self.path.iterdir():  # names gone from this generation: dangling links are removed
            if stale.is_symlink() and not stale.name.startswith("..") and stale.name not in files:
                stale.unlink()
        for old in self.path.glob("..gen-*"):
            if old != gen:
                shutil.rmtree(old, ignore_errors=True)


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def scrape(w: warden_mod.Warden) -> dict[str, float]:
    status, text = w.admin_status("/metrics", timeout=2)
    out: dict[str, float] = {}
    if status != 200:
        return out
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            pass
    return out


def checks_by_decision(metrics: dict[str, float]) -> Counter:
    c: Counter = Counter()
    for name, value in metrics.items():
        if name.startswith("warden_checks_total{"):
            c["allowed" if 'decision="allowed"' in name else "denied"] += int(value)
    return c


@dataclass
class Replica:
    name: str
    port: int
    admin_port: int
    work: Path
    policy_dir: Path
    binary: str
    warden: warden_mod.Warden | None = None
    started_rss: int = 0
    lifetimes: list[dict] = field(default_factory=list)
    retired_checks: Counter = field(default_factory=Counter)
    retired_reloads: Counter = field(default_factory=Counter)
    unscraped: int = 0

    def start(self) -> None:
        ports = iter([self.port, self.admin_port])
        original = warden_mod.free_port
        warden_mod.free_port = lambda: next(ports)  # same ports on every restart: Envoy's endpoints are static
        try:
            self.work.mkdir(parents=True, exist_ok=True)
            self.warden = warden_mod.Warden(
                self.policy_dir, binary=self.binary, work_dir=self.work / f"run-{len(self.lifetimes)}",
                cache_dir=self.work / "jwks-cache", shutdown_grace=5,
                extra_args=["--reload-interval", "0.5", "--jwks-cache-duration", "2s", "--log-level", "warn"], ready_timeout=20)
        finally:
            warden_mod.free_port = original
        self.lifetimes.append({"pid": self.warden.process.pid, "rss_start_kib": 0, "rss_end_kib": 0, "exit": None})

    def sample_rss(self, which: str) -> None:
        if self.warden is not None:
            self.lifetimes[-1][f"rss_{which}_kib"] = rss_kib(self.warden.process.pid)

    def reloads(self) -> Counter:
        m = scrape(self.warden) if self.warden else {}
        c = Counter(self.retired_reloads)
        for r in ("ok", "failed"):
            c[r] += int(m.get(f'warden_policy_reloads_total{{result="{r}"}}', 0))
        return c

    def stop(self, graceful: bool = True, completed=lambda: 0) -> int:
        """SIGTERM (or SIGKILL) after a last /metrics scrape. Checks answered between that scrape and the
        exit cannot be counted; `unscraped` bounds them by every response completed in that window."""
        assert self.warden is not None
        self.sample_rss("end")
        before = completed()
        m = scrape(self.warden)
        self.retired_checks += checks_by_decision(m)
        for r in ("ok", "failed"):
            self.retired_reloads[r] += int(m.get(f'warden_policy_reloads_total{{result="{r}"}}', 0))
        code = self.warden.stop(timeout=15) if graceful else self.warden.process.stop(signal.SIGKILL)
        self.lifetimes[-1]["exit"] = code
        self.unscraped += completed() - before
        self.warden.process.unregister()
        self.warden = None
        return code

    def total_checks(self) -> Counter:
        c = Counter(self.retired_checks)
        if self.warden:
            c += checks_by_decision(scrape(self.warden))
        return c


class Soak:
    def __init__(self, seconds: float, clients: int = 4, work_dir: Path | None = None, log=print,
                 binary: str | None = None):
        self.binary = binary or os.environ["WARDEN_BIN"]
        self.seconds = seconds
        self.clients = clients
        self.work = Path(work_dir or tempfile.mkdtemp(prefix="warden-soak-"))
        self.log = log
        self.events: list[tuple[float, str]] = []
        self.results: Counter = Counter()  # (class, status) → n
        self.mismatches: list[dict] = []
        self.mismatch_groups: Counter = Counter()  # (class, status, body, last event) → n
        self.lock = threading.Lock()
        self.stop_load = threading.Event()
        self.t0 = time.monotonic()

    # -- setup --------------------------------------------------------------------------------------------
    def start(self) -> None:
        self.idp = IdP()
        self.minter = Minter(self.idp)
        self.upstream = EchoUpstream()
        self.policies = ConfigMapDir(self.work / "policies")
        self.policies.publish(policy_files(self.idp, "v1"))
        self.replicas = [Replica(f"warden-{i}", free_port(), free_port(), self.work / f"warden-{i}", self.policies.path,
                                 self.binary) for i in (1, 2)]
        for r in self.replicas:
            r.start()
        config = render_config(upstream_port=self.upstream.port, warden_port=self.replicas[0].port,
                               warden_health_check=True, timeout="2s")
        self._two_endpoints_with_retries(config)
        self.envoy = Envoy(config, work_dir=self.work / "envoy", log_level="warn")
        self.tokens = {"kid": None}
        self._refresh_tokens()

    def _two_endpoints_with_retries(self, config: dict) -> None:
        clusters = config["static_resources"]["clusters"]
        warden = next(c for c in clusters if c["name"] == "warden")
        warden["load_assignment"]["endpoints"][0]["lb_endpoints"] = [
            {"endpoint": {"address": {"socket_address": {"address": LOCALHOST, "port_value": r.port}}}}
            for r in self.replicas]
        warden["health_checks"][0].update({"interval": "0.5s", "timeout": "0.4s", "unhealthy_threshold": 1,
                                           "healthy_threshold": 1, "no_traffic_interval": "0.5s"})
        # A replica that refuses connections is ejected at its first local-origin failure (the health check
        # alone leaves up to one interval in which round-robin still picks it).
        warden["outlier_detection"] = {"split_external_local_origin_errors": True, "consecutive_local_origin_failure": 1,
                                       "interval": "0.5s", "base_ejection_time": "1s", "max_ejection_percent": 50}
        hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        ext_authz = hcm["http_filters"][0]["typed_config"]
        # Envoy's envoy_grpc.retry_policy is honoured for xDS only (envoyproxy/envoy#33108), so ext_authz
        # calls get their retries from the router's request headers, sent as initial metadata.
        ext_authz["grpc_service"]["initial_metadata"] = [
            {"key": "x-envoy-retry-on", "value": "connect-failure,refused-stream,reset"},
            {"key": "x-envoy-retry-grpc-on", "value": "cancelled,unavailable"},
            {"key": "x-envoy-max-retries", "value": "5"},
        ]

    def _refresh_tokens(self) -> None:
        key = self.idp.key_for("RS256")
        self.tokens = {
            "kid": key.kid,
            "valid": self.minter.mint(key=key, exp_in=3600),
            "forged": self.minter.tampered(key=key, exp_in=3600),
            "expired": self.minter.expired(key=key),
        }

    def event(self, text: str) -> None:
        t = time.monotonic() - self.t0
        self.events.append((t, text))
        self.log(f"[{t:7.2f}s] {text}")

    # -- load -------------------------------------------------------------------------------------------
    def _client(self, index: int) -> None:
        conn = http.client.HTTPConnection(LOCALHOST, self.envoy.port, timeout=10)
        classes = list(EXPECTED)
        n = index
        while not self.stop_load.is_set():
            cls = classes[n % len(classes)]
            n += 1
            tokens = self.tokens
            headers = {"host": "soak.example"}
            path = f"/api/item/{n}"
            if cls == "allow":
                headers["authorization"] = f"Bearer {tokens['valid']}"
            elif cls == "forged":
                headers["authorization"] = f"Bearer {tokens['forged']}"
            elif cls == "expired":
                headers["authorization"] = f"Bearer {tokens['expired']}"
            elif cls == "admin":
                headers["authorization"] = f"Bearer {tokens['valid']}"
                path = f"/admin/{n}"
            try:
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                status = resp.status
                if resp.getheader("connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException) as error:
                conn.close()
                conn = http.client.HTTPConnection(LOCALHOST, self.envoy.port, timeout=10)
                status, body = 0, str(error).encode()
            with self.lock:
                self.results[(cls, status)] += 1
                if status != EXPECTED[cls]:
                    self.mismatch_groups[(cls, status, body[:120].decode(errors="replace"),
                                          self.events[-1][1] if self.events else "")] += 1
                if status != EXPECTED[cls] and len(self.mismatches) < 200:
                    self.mismatches.append({"t": round(time.monotonic() - self.t0, 3), "class": cls, "status": status,
                                            "expected": EXPECTED[cls], "kid": tokens["kid"], "body": body[:200].decode(errors="replace"),
                                            "last_event": self.events[-1][1] if self.events else ""})
        conn.close()

    def completed(self) -> int:
        with self.lock:
            return sum(self.results.values())

    # -- chaos ------------------------------------------------------------------------------------------
    def _sleep(self, seconds: float) -> None:
        end = min(time.monotonic() + seconds, self.deadline)
        while time.monotonic() < end:
            time.sleep(0.05)

    def _wait_reload(self, result: str, before: list[int], timeout: float = 10) -> bool:
        try:
            wait_until(lambda: all(r.reloads()[result] > b for r, b in zip(self.replicas, before)), timeout,
                       what=f"policy reload {result} on both replicas")
            return True
        except Exception:  # noqa: BLE001 - recorded as a failure, the soak goes on
            self.failures.append(f"policy reload '{result}' not seen on both replicas within {timeout}s")
            return False

    def chaos(self) -> None:
        step = 0
        restart_next = 0
        while time.monotonic() < self.deadline:
            # Most disruptive first, so a short run (make test: ~20 s) still covers restart, outage and rotation.
            kind = ["restart", "jwks-outage", "rotate", "policy-broken", "sighup", "policy-good"][step % 6]
            step += 1
            self.kinds_done.add(kind)
            if kind == "jwks-outage":
                self.event("IdP down")
                self.idp.go_down()
                self._sleep(2.5)
                self.idp.come_up()
                self.event("IdP up")
            elif kind == "rotate":
                # As IdPs do it: publish the new key next to the old one, sign with it once relying parties
                # had time to refresh (here 2 s cache duration), retire the old key later. Tokens signed with
                # a kid Warden has not seen yet would rely on the unknown-kid refetch, which is rate-limited
                # (one per source per 30 s) on purpose.
                old = self.tokens["kid"]
                new = self.idp.rotate("RS256", keep_old=True)
                self.event(f"key {new.kid} published next to {old}")
                self._sleep(3.0)
                self._refresh_tokens()
                self.event(f"clients sign with {new.kid}")
                self._sleep(1.5)
                if old:
                    self.idp.unpublish(old)
                    self.event(f"old key {old} unpublished")
            elif kind == "policy-good":
                before = [r.reloads()["ok"] for r in self.replicas]
                self.policies.publish(policy_files(self.idp, "v2" if self.policies.generation % 2 else "v1"))
                self.event(f"policy dir swapped to an equivalent good version (gen {self.policies.generation})")
                self._wait_reload("ok", before)
            elif kind == "policy-broken":
                before = [r.reloads()["failed"] for r in self.replicas]
                self.policies.publish(policy_files(self.idp, "broken"))
                self.event(f"policy dir swapped to a BROKEN version (gen {self.policies.generation})")
                self._wait_reload("failed", before)
                self._sleep(1.0)
                before = [r.reloads()["ok"] for r in self.replicas]
                self.policies.publish(policy_files(self.idp, "v1"))
                self.event(f"policy dir restored (gen {self.policies.generation})")
                self._wait_reload("ok", before)
            elif kind == "sighup":
                for r in self.replicas:
                    r.warden.process.send_signal(signal.SIGHUP)
                self.event("SIGHUP to both replicas")
            elif kind == "restart":
                r = self.replicas[restart_next % 2]
                restart_next += 1
                self.event(f"SIGTERM {r.name} (graceful drain)")
                code = r.stop(completed=self.completed)
                if code != 0:
                    self.failures.append(f"{r.name} exited {code} on SIGTERM")
                self.event(f"{r.name} exited {code}; restarting on the same ports")
                self._sleep(0.5)
                r.start()
                self.event(f"{r.name} ready again")
                self._sleep(3.0)
                r.sample_rss("start")
            self._sleep(1.0)

    # -- run --------------------------------------------------------------------------------------------
    def run(self) -> dict:
        self.failures: list[str] = []
        self.kinds_done: set[str] = set()
        self.start()
        self.t0 = time.monotonic()
        self.deadline = self.t0 + self.seconds
        threads = [threading.Thread(target=self._client, args=(i,), daemon=True, name=f"client-{i}")
                   for i in range(self.clients)]
        for t in threads:
            t.start()
        self._sleep(2.0)  # warm up, then take the baseline RSS
        for r in self.replicas:
            r.sample_rss("start")
        try:
            self.chaos()
        finally:
            self.stop_load.set()
            for t in threads:
                t.join(timeout=15)
        time.sleep(0.5)
        return self.report()

    def report(self) -> dict:
        sent = sum(self.results.values())
        by_class: dict = defaultdict(dict)
        for (cls, status), n in sorted(self.results.items()):
            by_class[cls][str(status)] = n
        five_xx = sum(n for (cls, status), n in self.results.items() if status >= 500 or status == 0)
        if self.mismatches:
            self.failures.append(f"{sum(n for (c, s), n in self.results.items() if s != EXPECTED[c])} responses "
                                 f"differ from the expected decision (first: {self.mismatches[0]})")
        if five_xx:
            self.failures.append(f"{five_xx} responses were 5xx or connection errors")
        envoy_stats = self.envoy.stats("cluster.warden.")
        retries = envoy_stats.get("cluster.warden.upstream_rq_retry", 0)
        for r in self.replicas:
            r.sample_rss("end")
        checks = Counter()
        for r in self.replicas:
            checks += r.total_checks()
        counted = checks["allowed"] + checks["denied"]
        unscraped = sum(r.unscraped for r in self.replicas)
        if not (sent - unscraped <= counted <= sent + retries):
            self.failures.append(f"/metrics counted {counted} checks for {sent} requests sent (+{retries} Envoy retries, "
                                 f"-{unscraped} answered after a replica's last scrape)")
        allowed_responses = sum(n for (c, s), n in self.results.items() if s == 200)
        if not (allowed_responses - unscraped <= checks["allowed"] <= allowed_responses + retries):
            self.failures.append(f"/metrics counted {checks['allowed']} allows for {allowed_responses} 200 responses")
        rss = []
        for r in self.replicas:
            for life in r.lifetimes:
                start, end = life["rss_start_kib"], life["rss_end_kib"]
                rss.append({"replica": r.name, **life})
                # Bounded growth: caches (verified tokens, keys) fill up; nothing may grow with traffic.
                if start and end and end > start + max(64 * 1024, start // 2):
                    self.failures.append(f"{r.name} pid {life['pid']} RSS grew {start} → {end} KiB")
        reloads = {r.name: dict(r.reloads()) for r in self.replicas}
        result = {
            "seconds": round(time.monotonic() - self.t0, 1), "requests": sent,
            "rps": round(sent / max(1e-9, time.monotonic() - self.t0), 1),
            "by_class": by_class, "mismatches": self.mismatches[:20], "events": len(self.events),
            "mismatch_groups": [{"class": c, "status": st, "body": b, "after_event": e, "count": n}
                                for (c, st, b, e), n in self.mismatch_groups.most_common(20)],
            "warden_checks": dict(checks), "envoy_retries": retries, "unscraped_window": unscraped,
            "envoy_ext_authz": self.envoy.stats("http.ingress.ext_authz."),
            "rss": rss, "reloads": reloads, "failures": self.failures, "work_dir": str(self.work),
            "chaos": sorted({e for _, e in self.events}), "kinds_done": sorted(self.kinds_done),
        }
        return result

    def close(self) -> None:
        for r in self.replicas:
            if r.warden:
                try:
                    r.stop()
                except Exception:  # noqa: BLE001
                    pass
        for closer in (lambda: self.envoy.stop(), self.upstream.close, self.idp.close):
            try:
                closer()
            except Exception:  # noqa: BLE001
                pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 120)))
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    args = parser.parse_args()
    if not os.environ.get("WARDEN_BIN"):
        print("WARDEN_BIN is not set (build: swift build -c release --product warden)", file=sys.stderr)
        return 2
    soak = Soak(args.seconds, args.clients)
    try:
        result = soak.run()
    finally:
        soak.close()
        process_mod.kill_all()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"soak: {result['requests']} requests in {result['seconds']} s ({result['rps']} rps), "
              f"{result['events']} chaos events, Envoy retries {result['envoy_retries']}")
        for cls, statuses in result["by_class"].items():
            print(f"  {cls:8s} expected {EXPECTED[cls]}: {statuses}")
        for life in result["rss"]:
            print(f"  {life['replica']} pid {life['pid']}: RSS {life['rss_start_kib']} → {life['rss_end_kib']} KiB, exit {life['exit']}")
        print(f"  reloads {result['reloads']}  /metrics checks {result['warden_checks']}")
        for g in result["mismatch_groups"]:
            print(f"  MISMATCH x{g['count']}: {g['class']} got {g['status']} {g['body']!r} after '{g['after_event']}'")
    for failure in result["failures"]:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
