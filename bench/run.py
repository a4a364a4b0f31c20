#!/usr/bin/env python3
"""Warden benchmark: `make bench` (or `.venv/bin/python bench/run.py --warden .build/release/warden`).

One bounded run (~4-5 minutes), loopback only, side by side on this machine:
  1. through Envoy (wrk, a pool of RS256 tokens): (a) no auth, (b) jwt_authn + RBAC, (c) ext_authz → Warden,
     plus the p99 Envoy adds with Warden at half of (c)'s max rate (h2load --h1 --rps, open-ish loop);
  2. direct gRPC (h2load, pre-encoded CheckRequest): (i) warden-transport-bench (constant allow), (ii) a cached token,
     (iii) uncached RS256 / ES256 / EdDSA (--token-cache-size 0: every check verifies the signature);
  3. `openssl speed` verify/s;  4. Warden's RSS after 100k distinct cached tokens;
  5. overload: offered 1×, 1.5×, 2× the measured maximum with a deadline per call, then 0.5× (recovery):
     goodput, answers after the deadline, shed calls, p99, RSS;
  6. DPoP: Warden CPU per check, bearer vs DPoP;  7. tracing: Warden CPU per cached check, tracing off vs sampled.
Prints a Markdown table and writes bench/results/latest.md plus a dated copy.

Placement (2 cores): the server side (Envoy --concurrency 1, Warden --threads 1) is pinned to one CPU with
taskset, the load generator (wrk -t1 / h2load -t1 / grpcio) to the other.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
TMP = BENCH / "tmp"
sys.path.insert(0, str(ROOT / "Tests" / "IntegrationTests"))

ISSUER = "https://bench.warden.local"
AUDIENCE = "bench-api"
SCOPE = ["bench:read", "bench:write"]
POOL = 1000            # RS256 tokens rotated by wrk
MEMORY_TOKENS = 100_000
TOKEN_TTL = 7 * 86400  # pre-minted tokens are reused until a day before they expire
KIDS = {"RS256": "rs-bench", "ES256": "es-bench", "EdDSA": "ed-bench"}
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- keys and tokens

def b64u(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def load_or_create_keys() -> dict:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    TMP.mkdir(parents=True, exist_ok=True)
    makers = {"RS256": lambda: rsa.generate_private_key(65537, 2048), "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
              "EdDSA": ed25519.Ed25519PrivateKey.generate}
    keys = {}
    for alg, make in makers.items():
        path = TMP / f"{alg.lower()}.pem"
        if not path.exists():
            path.write_bytes(make().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
        keys[alg] = serialization.load_pem_private_key(path.read_bytes(), None)
    return keys


def jwks(keys: dict) -> str:
    out = []
    n = keys["RS256"].public_key().public_numbers()
    out.append({"kty": "RSA", "kid": KIDS["RS256"], "alg": "RS256", "use": "sig",
                "n": b64u(n.n.to_bytes(256, "big")), "e": b64u(n.e.to_bytes(3, "big"))})
    p = keys["ES256"].public_key().public_numbers()
    out.append({"kty": "EC", "kid": KIDS["ES256"], "alg": "ES256", "use": "sig", "crv": "P-256",
                "x": b64u(p.x.to_bytes(32, "big")), "y": b64u(p.y.to_bytes(32, "big"))})
    from cryptography.hazmat.primitives import serialization
    raw = keys["EdDSA"].public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    out.append({"kty": "OKP", "kid": KIDS["EdDSA"], "alg": "EdDSA", "use": "sig", "crv": "Ed25519", "x": b64u(raw)})
    return json.dumps({"keys": out}, separators=(",", ":"))


_worker_keys: dict = {}


def _init_worker():
    _worker_keys.update(load_or_create_keys())


def sign(alg: str, key, sub: str, exp: int) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    header = b64u(json.dumps({"alg": alg, "kid": KIDS[alg], "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {"iss": ISSUER, "sub": sub, "aud": AUDIENCE, "scope": SCOPE, "iat": exp - TOKEN_TTL, "exp": exp}
    payload = b64u(json.dumps(claims, separators=(",", ":")).encode())
    data = f"{header}.{payload}".encode()
    if alg == "RS256":
        sig = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        sig = key.sign(data)
    return f"{header}.{payload}.{b64u(sig)}"


def _mint_chunk(args):
    alg, start, count, exp = args
    return [sign(alg, _worker_keys[alg], f"user-{i:07d}", exp) for i in range(start, start + count)]


def tokens(alg: str, count: int, name: str) -> list[str]:
    """`count` distinct tokens, minted once into bench/tmp and reused while they are valid for a day more."""
    path = TMP / f"{name}.txt"
    if path.exists():
        lines = path.read_text().split()
        if len(lines) == count:
            exp = json.loads(base64.urlsafe_b64decode(lines[0].split(".")[1] + "==")).get("exp", 0)
            if exp > time.time() + 86400:
                return lines
    exp = int(time.time()) + TOKEN_TTL
    t0 = time.monotonic()
    chunk = 2000
    jobs = [(alg, s, min(chunk, count - s), exp) for s in range(0, count, chunk)]
    with concurrent.futures.ProcessPoolExecutor(max_workers=os.cpu_count(), initializer=_init_worker) as pool:
        out = [t for part in pool.map(_mint_chunk, jobs) for t in part]
    path.write_text("\n".join(out) + "\n")
    log(f"minted {count} {alg} tokens into {path.relative_to(ROOT)} in {time.monotonic() - t0:.1f}s")
    return out


# ---------------------------------------------------------------- processes

def log(msg: str):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}")
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class Proc:
    """A child pinned with taskset; killed (SIGTERM, then SIGKILL) on exit. Output goes to a log file."""

    def __init__(self, name: str, argv: list[str], cpus: str | None, run_dir: Path):
        self.name = name
        self.log_path = run_dir / f"{name}.log"
        self.log_file = open(self.log_path, "wb")
        full = NICE + (["taskset", "-c", cpus] if cpus else []) + [str(a) for a in argv]
        self.p = subprocess.Popen(full, stdout=self.log_file, stderr=subprocess.STDOUT, start_new_session=True)
        ALL.append(self)

    @property
    def pid(self) -> int:
        return self.p.pid  # taskset execs the program: same pid

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        self.log_file.close()
        if self in ALL:
            ALL.remove(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


ALL: list[Proc] = []
NICE: list[str] = []  # ["nice", "-n", N] with --nice N



async def send_checks(port: int, bodies, parallel: int = 64) -> None:
    """Sends pre-encoded CheckRequests to Warden on `port` with grpcio, `parallel` in flight (the DPoP,
    tracing and exchange phases' load: distinct bodies h2load cannot send)."""
    import grpc
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        call = ch.unary_unary("/envoy.service.auth.v3.Authorization/Check")
        it = iter(bodies)

        async def worker():
            for b in it:
                await call(b, timeout=10)
        await asyncio.gather(*(worker() for _ in range(parallel)))


class Warden(Proc):
    def __init__(self, binary: str, run_dir: Path, cpus: str | None, policy_dir: Path | None, extra: list[str] = ()):
        self.port, self.admin = free_port(), free_port()
        argv = [binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--admin-listen", f"127.0.0.1:{self.admin}",
                "--threads", "1", "--reload-interval", "0", "--log-level", "warn", *extra]
        if policy_dir:
            argv += ["--policy", str(policy_dir)]
        super().__init__("warden", argv, cpus, run_dir)
        wait_for(lambda: http_get(f"http://127.0.0.1:{self.admin}/readyz")[0] == 200, 20, "warden /readyz", self.p)

    def checks(self) -> dict[str, float]:
        """warden_checks_total by decision (allow/deny)."""
        out = {"allow": 0.0, "deny": 0.0}
        names = {"allowed": "allow", "denied": "deny"}
        for line in http_get(f"http://127.0.0.1:{self.admin}/metrics")[1].splitlines():
            m = re.match(r'warden_checks_total\{decision="(\w+)".*\}\s+(\S+)', line)
            if m:
                key = names.get(m.group(1), m.group(1))
                out[key] = out.get(key, 0.0) + float(m.group(2))
        return out

    def metric(self, name: str) -> float | None:
        for line in http_get(f"http://127.0.0.1:{self.admin}/metrics")[1].splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None


class Envoy(Proc):
    def __init__(self, binary: str, template: str, run_dir: Path, cpus: str | None, **values):
        self.port, self.admin = free_port(), free_port()
        text = string.Template((BENCH / "envoy" / template).read_text()).substitute(
            LISTEN_PORT=self.port, ADMIN_PORT=self.admin, **values)
        cfg = run_dir / template
        cfg.write_text(text)
        super().__init__("envoy-" + template.split(".")[0],
                         [binary, "-c", cfg, "--concurrency", "1", "--use-dynamic-base-id", "--log-level", "warn"], cpus, run_dir)
        wait_for(lambda: http_get(f"http://127.0.0.1:{self.admin}/ready")[1].strip() == "LIVE", 30, "envoy /ready", self.p)


class Nginx(Proc):
    """nginx from a bench/nginx template; CPU is the master's and its workers'."""

    def __init__(self, template: str, run_dir: Path, cpus: str | None, **values):
        self.port = free_port()
        (run_dir / "www").mkdir(exist_ok=True)
        (run_dir / "www" / "ok.txt").write_text("ok\n")
        (run_dir / "nginx-tmp").mkdir(exist_ok=True)
        text = string.Template((BENCH / "nginx" / template).read_text()).substitute(
            LISTEN_PORT=self.port, RUN_DIR=run_dir, **values)
        cfg = run_dir / ("nginx-" + template)
        cfg.write_text(text)
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        super().__init__("nginx-" + template.split(".")[0],
                         [binary, "-p", run_dir, "-c", cfg, "-g", f"daemon off; pid {run_dir}/nginx.pid; error_log {run_dir}/nginx-error.log warn;"],
                         cpus, run_dir)
        wait_for(lambda: _http_status(f"http://127.0.0.1:{self.port}/") in (200, 401, 403), 20, "nginx", self.p)

    def cpu_seconds(self) -> float:
        total = super().cpu_seconds()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.pid:  # ppid (field 4)
                total += (int(fields[11]) + int(fields[12])) / CLK_TCK
        return total


def _http_status(url: str) -> int:
    try:
        return http_get(url, 1.0)[0]
    except OSError:
        return 0


# ---------------------------------------------------------------- load generators

def run(argv: list[str], timeout: float) -> str:
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({r.returncode}): {r.stderr[-2000:]}{r.stdout[-2000:]}")
    return r.stdout


def wrk(url: str, token_file: Path, seconds: int, conns: int, cpus: str | None) -> dict:
    argv = NICE + (["taskset", "-c", cpus] if cpus else []) + ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "5s",
                                                       "-s", BENCH / "wrk_tokens.lua", url, "--", token_file]
    out = run(argv, seconds + 30)
    line = next(l for l in out.splitlines() if l.startswith("BENCH "))
    d = {k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    errors = d["status_errors"] + d["connect_errors"] + d["read_errors"] + d["write_errors"] + d["timeouts"]
    return {"rps": d["requests"] / (d["duration_us"] / 1e6), "p50_us": d["p50_us"], "p99_us": d["p99_us"],
            "requests": int(d["requests"]), "errors": int(errors)}


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, int(round(q / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[i]


def h2load(argv_tail: list[str], cpus: str | None, log_file: Path | None, timeout: float, late_us: float | None = None) -> dict:
    argv = NICE + (["taskset", "-c", cpus] if cpus else []) + ["h2load", "-t1", *argv_tail]
    if log_file:
        argv += ["--log-file", log_file]
    out = run(argv, timeout)
    m = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", out)
    req = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", out)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    res = {"rps": float(m.group(3)), "done": int(req.group(3)), "succeeded": int(req.group(4)),
           "failed": int(req.group(5)) + int(req.group(6)) + int(req.group(7)),
           "non2xx": int(codes.group(2)) + int(codes.group(3)) + int(codes.group(4))}
    if log_file:
        lat = sorted(int(l.split("\t")[2]) for l in log_file.read_text().splitlines() if l.count("\t") >= 2)
        res["p50_us"], res["p99_us"] = percentile(lat, 50), percentile(lat, 99)
        res["max_us"] = lat[-1] if lat else 0
        if late_us is not None:
            res["late"] = sum(1 for v in lat if v > late_us)
        log_file.unlink()
    return res


def grpc_frame(message: bytes) -> bytes:
    return b"\x00" + len(message).to_bytes(4, "big") + message


def check_request(token: str | None, traceparent: str | None = None) -> bytes:
    from harness.grpc_client import make_check_request
    headers = {"user-agent": "wrk", "accept": "*/*", "x-request-id": "0f2c1c56-4b1e-4a52-9a53-3c3f5b1c2a77",
               "x-forwarded-proto": "http"}
    if traceparent:
        headers["traceparent"] = traceparent
    if token:
        headers["authorization"] = f"Bearer {token}"
    return make_check_request("GET", "/bench", headers, host="127.0.0.1:8080").SerializeToString()


# ---------------------------------------------------------------- phases

class Bench:
    def __init__(self, a):
        self.a = a
        self.results: dict = {"notes": []}
        ncpu = os.cpu_count() or 1
        self.server_cpu = "0" if ncpu >= 2 else None
        self.load_cpu = "1" if ncpu >= 2 else None
        self.run_dir = TMP / "run"
        shutil.rmtree(self.run_dir, ignore_errors=True)
        self.run_dir.mkdir(parents=True)

    def setup(self):
        keys = load_or_create_keys()
        self.jwks = jwks(keys)
        self.pool = tokens("RS256", POOL, "pool-rs256")
        self.single = {alg: tokens(alg, 1, f"single-{alg.lower()}")[0] for alg in KIDS}
        self.pool_file = TMP / "pool-rs256.txt"
        pol = self.run_dir / "policies"
        pol.mkdir()
        (pol / "bench.yaml").write_text(f"""apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: bench-jwt, namespace: default}}
spec:
  jwtRules:
  - issuer: {ISSUER}
    audiences: [{AUDIENCE}]
    jwks: '{self.jwks}'
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: bench-scope, namespace: default}}
spec:
  action: ALLOW
  rules:
  - when:
    - key: request.auth.claims[scope]
      values: ["bench:read"]
""")
        self.policy_dir = pol

    def crypto(self):
        log("openssl speed -seconds 2 rsa2048 ecdsap256 ed25519")
        argv = NICE + (["taskset", "-c", self.server_cpu] if self.server_cpu else []) + \
            ["openssl", "speed", "-seconds", str(self.a.openssl_seconds), "rsa2048", "ecdsap256", "ed25519"]
        out = run(argv, 120)
        res = {}
        for alg, pat in (("RS256", r"^rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)"),
                         ("ES256", r"^\s*256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)"),
                         ("EdDSA", r"^\s*253 bits EdDSA \(Ed25519\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)")):
            m = re.search(pat, out, re.M)
            res[alg] = {"sign_s": float(m.group(1)), "verify_s": float(m.group(2)), "verify_us": 1e6 / float(m.group(2))}
        self.results["openssl"] = res

    def direct(self):
        """h2load straight at Warden's gRPC port."""
        s = self.a.direct_seconds
        files = {}
        for name, tok in [("constant", self.single["RS256"]), *[(alg, t) for alg, t in self.single.items()]]:
            path = self.run_dir / f"check-{name}.grpc"
            path.write_bytes(grpc_frame(check_request(tok)))
            files[name] = path
        base = ["-c", str(self.a.h2_clients), "-m", str(self.a.h2_streams), "-H", "content-type: application/grpc",
                "-H", "te: trailers"]
        res = {}

        def measure(w: Warden, label: str, data: Path, count_server: bool):
            url = f"http://127.0.0.1:{w.port}/envoy.service.auth.v3.Authorization/Check"
            h2load([*base, "-n", "20000", "-d", data, url], self.load_cpu, None, 60)  # warm-up
            c0, k0 = w.cpu_seconds(), w.checks()
            r = h2load([*base, "-D", str(s), "-d", data, url], self.load_cpu, self.run_dir / "h2.log", s + 60)
            c1, k1 = w.cpu_seconds(), w.checks()
            allowed, denied = k1["allow"] - k0["allow"], k1["deny"] - k0["deny"]
            checks = allowed if count_server else r["succeeded"]
            r.update(cpu_s=c1 - c0, allowed=allowed if count_server else None, denied=denied if count_server else None,
                     cpu_us_per_check=(c1 - c0) / checks * 1e6 if checks else float("nan"),
                     rss_kib=w.rss_kib())
            if count_server and (denied or allowed < r["succeeded"] * 0.99):
                self.results["notes"].append(f"direct {label}: server counted {allowed:.0f} allowed / {denied:.0f} denied "
                                             f"for {r['succeeded']} h2load 2xx")
            res[label] = r
            log(f"direct {label}: {r['rps']:.0f} req/s, p50 {r['p50_us']}µs p99 {r['p99_us']}µs, "
                f"{r['cpu_us_per_check']:.1f} µs CPU/check")

        # The transport alone: a separate bench executable (the warden binary has no allow-everything switch).
        with Warden(str(Path(self.a.warden).with_name("warden-transport-bench")), self.run_dir, self.server_cpu, None) as w:
            measure(w, "constant", files["constant"], False)
        with Warden(self.a.warden, self.run_dir, self.server_cpu, self.policy_dir) as w:
            measure(w, "cached RS256", files["RS256"], True)
            hits = w.metric("warden_token_cache_hits_total")
            res["cached RS256"]["cache_hits"] = hits
        with Warden(self.a.warden, self.run_dir, self.server_cpu, self.policy_dir, ["--token-cache-size", "0"]) as w:
            for alg in KIDS:
                measure(w, f"uncached {alg}", files[alg], True)
        self.results["direct"] = res

    def memory(self):
        """RSS after MEMORY_TOKENS distinct tokens, each sent once: with the default token-cache bounds
        (entries and estimated bytes), and with a byte bound large enough to cache every token (the
        heap one cached token really costs). A binary without --token-cache-bytes runs the first only."""
        toks = tokens("RS256", MEMORY_TOKENS, "memory-rs256")
        bodies = [check_request(t) for t in toks]
        has_bytes = "--token-cache-bytes" in subprocess.run([self.a.warden, "serve", "--help"], capture_output=True,
                                                             text=True).stdout
        self.results["memory"] = self.memory_run(bodies, [])
        if has_bytes:
            self.results["memory_all"] = self.memory_run(bodies, ["--token-cache-bytes", str(4 << 30)])

    def memory_run(self, bodies, extra):
        import grpc
        with Warden(self.a.warden, self.run_dir, self.server_cpu, self.policy_dir,
                    ["--token-cache-size", str(MEMORY_TOKENS), *extra]) as w:
            rss0 = w.rss_kib()
            t0 = time.monotonic()

            async def send_all():
                async with grpc.aio.insecure_channel(f"127.0.0.1:{w.port}") as ch:
                    call = ch.unary_unary("/envoy.service.auth.v3.Authorization/Check")
                    it = iter(bodies)

                    async def worker():
                        for b in it:
                            await call(b, timeout=10)
                    await asyncio.gather(*(worker() for _ in range(64)))
            if self.load_cpu:
                os.sched_setaffinity(0, {int(self.load_cpu)})
            try:
                asyncio.run(send_all())
            finally:
                os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
            secs = time.monotonic() - t0
            k = w.checks()
            entries = w.metric("warden_token_cache_entries")
            estimated = w.metric("warden_token_cache_bytes")
            rss1 = w.rss_kib()
            log(f"memory {' '.join(extra) or '(default bounds)'}: RSS {rss0 / 1024:.1f} → {rss1 / 1024:.1f} MiB with "
                f"{entries:.0f} cached tokens ({k['allow']:.0f} allowed in {secs:.1f}s)")
            return {"rss0_kib": rss0, "rss_kib": rss1, "entries": entries, "estimated_bytes": estimated,
                    "allowed": k["allow"], "denied": k["deny"], "seconds": secs, "args": " ".join(extra)}

    def overload(self):
        """Offered 1×, 1.5× and 2× the measured maximum, then 0.5× (recovery), open loop at a fixed rate per
        connection, every call with a deadline (`grpc-timeout`). The client is Envoy-like: 4 connections ×
        256 streams = 1024 calls in flight at most, Envoy's default `max_requests` circuit breaker. Every
        check verifies an RS256 signature (`--token-cache-size 0`), so one h2load core can offer 2× Warden's
        core. Then a client with 16 connections × 1000 streams at 2×: Warden's `--max-concurrent-streams`
        (256) bounds what each connection queues."""
        s, deadline_ms = self.a.overload_seconds, self.a.overload_deadline_ms
        data = self.run_dir / "check-overload.grpc"
        data.write_bytes(grpc_frame(check_request(self.single["RS256"])))
        res = {"deadline_ms": deadline_ms, "rows": []}

        def base(clients: int, streams: int) -> list[str]:
            return ["-c", str(clients), "-m", str(streams), "-H", "content-type: application/grpc", "-H", "te: trailers",
                    "-H", f"grpc-timeout: {deadline_ms}m"]

        with Warden(self.a.warden, self.run_dir, self.server_cpu, self.policy_dir, ["--token-cache-size", "0"]) as w:
            url = f"http://127.0.0.1:{w.port}/envoy.service.auth.v3.Authorization/Check"
            h2load([*base(4, 256), "-n", "20000", "-d", data, url], self.load_cpu, None, 60)  # warm-up
            top = h2load([*base(4, 256), "-D", str(s), "-d", data, url], self.load_cpu, self.run_dir / "h2.log", s + 60)
            res["max_rps"] = top["rps"]
            log(f"overload: closed-loop maximum {top['rps']:.0f} req/s (p99 {top['p99_us']} µs)")

            def phase(label: str, factor: float, clients: int, streams: int):
                k0, shed0, rss0 = w.checks(), w.metric("warden_checks_shed_total") or 0, w.rss_kib()
                offered = res["max_rps"] * factor
                r = h2load([*base(clients, streams), "--rps", f"{offered / clients:.2f}", "-D", str(s), "-d", data, url],
                           self.load_cpu, self.run_dir / "h2.log", s + 120, late_us=deadline_ms * 1000)
                k1, shed1 = w.checks(), w.metric("warden_checks_shed_total") or 0
                row = {"label": label, "factor": factor, "offered": offered, "answered": r["rps"], "done": r["done"],
                       "allowed_per_s": (k1["allow"] - k0["allow"]) / s, "shed": shed1 - shed0, "late": r.get("late", 0),
                       "p50_us": r["p50_us"], "p99_us": r["p99_us"], "max_us": r["max_us"], "rss_kib": w.rss_kib(),
                       "rss0_kib": rss0, "failed": r["failed"]}
                # Answered within the deadline and allowed: what the callers could use.
                row["goodput"] = row["allowed_per_s"] * (1 - row["late"] / max(1, r["done"]))
                res["rows"].append(row)
                log(f"overload {label}: offered {offered:.0f}/s, answered {r['rps']:.0f}/s, goodput {row['goodput']:.0f}/s, "
                    f"shed {row['shed']:.0f}, late {row['late']}, p99 {r['p99_us']} µs, max {r['max_us']} µs, RSS {row['rss_kib'] / 1024:.1f} MiB")

            for factor in (1.0, 1.5, 2.0):
                phase(f"{factor:g}×", factor, 4, 256)
            phase("0.5× right after (recovery)", 0.5, 4, 256)
            phase("2×, 16 connections × 1000 streams", 2.0, 16, 1000)
        self.results["overload"] = res

    def dpop(self):
        """Warden CPU per check: a cached bearer token vs the same cached token with the DPoP scheme and a
        fresh ES256 proof per request (proof verify + ath + jkt + replay lookup). Every request carries a
        distinct proof (a reused one is a replay), so the load is N pre-encoded distinct CheckRequests sent by
        grpcio (64 in flight), not h2load; both modes use the same client."""
        import hashlib
        import uuid
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        n = self.a.dpop_requests
        proof_key = ec.generate_private_key(ec.SECP256R1())
        pub = proof_key.public_key().public_numbers()
        jwk = {"crv": "P-256", "kty": "EC", "x": b64u(pub.x.to_bytes(32, "big")), "y": b64u(pub.y.to_bytes(32, "big"))}
        jkt = b64u(hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()).digest())
        keys = load_or_create_keys()
        exp = int(time.time()) + 3600
        header = b64u(json.dumps({"alg": "RS256", "kid": KIDS["RS256"], "typ": "JWT"}, separators=(",", ":")).encode())
        claims = {"iss": ISSUER, "sub": "dpop-user", "aud": AUDIENCE, "scope": SCOPE, "iat": exp - 3600, "exp": exp, "cnf": {"jkt": jkt}}
        payload = b64u(json.dumps(claims, separators=(",", ":")).encode())
        from cryptography.hazmat.primitives.asymmetric import padding
        token = f"{header}.{payload}." + b64u(keys["RS256"].sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256()))
        bearer = sign("RS256", keys["RS256"], "bearer-user", exp)
        htu = "http://127.0.0.1:8080/bench"
        ath = b64u(hashlib.sha256(token.encode()).digest())
        ph = b64u(json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}, separators=(",", ":")).encode())

        def proof() -> str:
            body = b64u(json.dumps({"jti": str(uuid.uuid4()), "htm": "GET", "htu": htu, "iat": int(time.time()), "ath": ath},
                                   separators=(",", ":")).encode())
            r, s = decode_dss_signature(proof_key.sign(f"{ph}.{body}".encode(), ec.ECDSA(hashes.SHA256())))
            return f"{ph}.{body}." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

        from harness.grpc_client import make_check_request

        def body(headers):
            return make_check_request("GET", "/bench", headers, host="127.0.0.1:8080").SerializeToString()
        log(f"dpop: minting {n} proofs")
        dpop_bodies = [body({"authorization": f"DPoP {token}", "dpop": proof()}) for _ in range(n)]
        bearer_bodies = [body({"authorization": f"Bearer {bearer}", "x-nonce": str(i)}) for i in range(n)]
        res = {}
        with Warden(self.a.warden, self.run_dir, self.server_cpu, self.policy_dir, ["--dpop-proof-window", "600s"]) as w:
            def send_all(bodies):
                return send_checks(w.port, bodies)
            if self.load_cpu:
                os.sched_setaffinity(0, {int(self.load_cpu)})
            try:
                asyncio.run(send_all(bearer_bodies[:2000]))  # warm-up: connections, token cache
                for label, bodies in (("bearer (cached token)", bearer_bodies), ("DPoP (cached token, fresh ES256 proof)", dpop_bodies)):
                    k0, c0, t0 = w.checks(), w.cpu_seconds(), time.monotonic()
                    asyncio.run(send_all(bodies))
                    k1, c1, t1 = w.checks(), w.cpu_seconds(), time.monotonic()
                    allowed = k1["allow"] - k0["allow"]
                    res[label] = {"allowed": allowed, "denied": k1["deny"] - k0["deny"], "rps": len(bodies) / (t1 - t0),
                                  "cpu_us_per_check": (c1 - c0) / max(1, allowed) * 1e6}
                    log(f"dpop {label}: {allowed:.0f} allowed, {res[label]['cpu_us_per_check']:.1f} µs Warden CPU/check")
            finally:
                os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        self.results["dpop"] = res

    def exchange(self):
        """Token exchange (RFC 8693): Warden CPU per allowed check for one cached bearer token without an
        exchange rule and with one whose exchanged token is cached (the issue's "≤ 2 µs" target), and the
        latency a cold exchange adds against a local token endpoint (a small HTTP server in this process,
        answering at once: the figure is Warden's own round trip through libcurl, not an IdP's)."""
        import grpc
        import http.server
        import statistics
        import threading

        class TokenEndpoint(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.dumps({"access_token": "exchanged." + "x" * 600, "token_type": "Bearer", "expires_in": 3600,
                                   "issued_token_type": "urn:ietf:params:oauth:token-type:access_token"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TokenEndpoint)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        secret = self.run_dir / "exchange-secret"
        secret.write_text("bench-secret\n")
        with_rule = self.run_dir / "policies-exchange"
        shutil.copytree(self.policy_dir, with_rule, dirs_exist_ok=True)
        (with_rule / "exchange.yaml").write_text(f"""apiVersion: security.warden.io/v1alpha1
kind: TokenPolicy
metadata: {{name: exchange, namespace: default}}
spec:
  tokenExchange:
  - issuer: {ISSUER}
    endpoint: http://127.0.0.1:{server.server_address[1]}/token
    clientId: bench
    clientSecretFile: {secret}
    audiences: [upstream-api]
""")
        keys = load_or_create_keys()
        exp = int(time.time()) + 3600
        token = sign("RS256", keys["RS256"], "exchange-user", exp)
        from harness.grpc_client import make_check_request
        n = self.a.dpop_requests

        def body(headers):
            return make_check_request("GET", "/bench", headers, host="127.0.0.1:8080").SerializeToString()
        bodies = [body({"authorization": f"Bearer {token}", "x-nonce": str(i)}) for i in range(n)]
        cold = [body({"authorization": f"Bearer {sign('RS256', keys['RS256'], f'cold-{i}', exp)}"}) for i in range(200)]
        res = {}
        try:
            for label, policies in (("no exchange rule", self.policy_dir), ("exchange (cached exchanged token)", with_rule)):
                with Warden(self.a.warden, self.run_dir, self.server_cpu, policies) as w:
                    def send_all(items):
                        return send_checks(w.port, items)

                    async def one_by_one(items):
                        out = []
                        async with grpc.aio.insecure_channel(f"127.0.0.1:{w.port}") as ch:
                            call = ch.unary_unary("/envoy.service.auth.v3.Authorization/Check")
                            await call(items[0], timeout=10)
                            for b in items[1:]:
                                t = time.perf_counter()
                                await call(b, timeout=10)
                                out.append((time.perf_counter() - t) * 1e6)
                        return out
                    if self.load_cpu:
                        os.sched_setaffinity(0, {int(self.load_cpu)})
                    try:
                        asyncio.run(send_all(bodies[:2000]))
                        k0, c0 = w.checks(), w.cpu_seconds()
                        asyncio.run(send_all(bodies))
                        k1, c1 = w.checks(), w.cpu_seconds()
                        allowed = k1["allow"] - k0["allow"]
                        latencies = asyncio.run(one_by_one(cold))
                    finally:
                        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
                    res[label] = {"allowed": allowed, "cpu_us_per_check": (c1 - c0) / max(1, allowed) * 1e6,
                                  "cold_p50_us": statistics.median(latencies)}
                    log(f"exchange {label}: {allowed:.0f} allowed, {res[label]['cpu_us_per_check']:.1f} µs Warden CPU/check, "
                        f"first check of a new token p50 {res[label]['cold_p50_us']:.0f} µs")
        finally:
            server.shutdown()
        self.results["exchange"] = res

    def tracing(self):
        """Warden CPU per cached check with tracing off (without and with the sampled mode's traceparent), on with nothing
        sampled, and on with every check sampled
        (one span each, exported over OTLP/HTTP to the test collector, harness/otlp.py, in this process on the
        load CPU). The same cached bearer token each time, a distinct W3C traceparent per request; grpcio, 64 in
        flight, as the DPoP phase."""
        from harness.grpc_client import make_check_request
        from harness.otlp import Collector
        n = self.a.tracing_requests
        bearer = sign("RS256", load_or_create_keys()["RS256"], "trace-user", int(time.time()) + 3600)

        def bodies(flags: str | None):
            out = []
            for i in range(n):
                headers = {"authorization": f"Bearer {bearer}"}
                if flags is not None:
                    headers["traceparent"] = f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-{flags}"
                out.append(make_check_request("GET", "/bench", headers, host="127.0.0.1:8080").SerializeToString())
            return out
        collector = Collector.start()
        res = {}
        modes = (("tracing off", [], None),
                 ("tracing off, the sampled mode's requests (traceparent flags 01)", [], "01"),
                 ("--otlp-endpoint, not sampled (traceparent flags 00)", ["--otlp-endpoint", collector.http_url], "00"),
                 ("--otlp-endpoint, every check sampled (flags 01)", ["--otlp-endpoint", collector.http_url], "01"))
        try:
            for label, extra, flags in modes:
                log(f"tracing: {label}")
                with Warden(self.a.warden, self.run_dir, self.server_cpu, self.policy_dir, extra) as w:
                    work = bodies(flags)

                    def send_all(items):
                        return send_checks(w.port, items)
                    if self.load_cpu:
                        os.sched_setaffinity(0, {int(self.load_cpu)})
                    try:
                        asyncio.run(send_all(work[:2000]))  # warm-up: connections, token cache
                        k0, c0 = w.checks(), w.cpu_seconds()
                        asyncio.run(send_all(work))
                        time.sleep(1.5)  # the export thread's last batch is Warden CPU too
                        k1, c1 = w.checks(), w.cpu_seconds()
                    finally:
                        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
                    allowed = k1["allow"] - k0["allow"]
                    res[label] = {"allowed": allowed, "cpu_us_per_check": (c1 - c0) / max(1, allowed) * 1e6,
                                  "exported": w.metric("warden_trace_spans_exported_total") or 0}
                    log(f"tracing {label}: {res[label]['cpu_us_per_check']:.1f} µs Warden CPU/check, {res[label]['exported']:.0f} spans exported")
        finally:
            collector.close()
        self.results["tracing"] = res

    def envoy(self):
        s, conns = self.a.envoy_seconds, self.a.wrk_conns
        res = {}

        def measure(label: str, e: Envoy, w: Warden | None = None):
            url = f"http://127.0.0.1:{e.port}/bench"
            wrk(url, self.pool_file, 2, conns, self.load_cpu)  # warm-up: connections, caches
            e0, w0 = e.cpu_seconds(), w.cpu_seconds() if w else 0.0
            r = wrk(url, self.pool_file, s, conns, self.load_cpu)
            e1, w1 = e.cpu_seconds(), w.cpu_seconds() if w else 0.0
            n = max(1, r["requests"])
            r.update(envoy_cpu_us=(e1 - e0) / n * 1e6, warden_cpu_us=(w1 - w0) / n * 1e6 if w else 0.0)
            r["server_cpu_us"] = r["envoy_cpu_us"] + r["warden_cpu_us"]
            if r["errors"]:
                self.results["notes"].append(f"envoy {label}: {r['errors']} wrk errors/non-2xx of {r['requests']}")
            res[label] = r
            log(f"envoy {label}: {r['rps']:.0f} req/s, p50 {r['p50_us']:.0f}µs p99 {r['p99_us']:.0f}µs, errors {r['errors']}, "
                f"CPU/request Envoy {r['envoy_cpu_us']:.1f}µs + Warden {r['warden_cpu_us']:.1f}µs")

        with Envoy(self.a.envoy, "noauth.yaml", self.run_dir, self.server_cpu) as e:
            measure("a", e)
        with Envoy(self.a.envoy, "jwt_rbac.yaml", self.run_dir, self.server_cpu, ISSUER=ISSUER, AUDIENCE=AUDIENCE,
                   JWKS_JSON=self.jwks, JWT_CACHE_LINE="") as e:
            measure("b", e)
        with Envoy(self.a.envoy, "jwt_rbac.yaml", self.run_dir, self.server_cpu, ISSUER=ISSUER, AUDIENCE=AUDIENCE,
                   JWKS_JSON=self.jwks, JWT_CACHE_LINE=f"jwt_cache_config: {{ jwt_cache_size: {POOL} }}") as e:
            measure("b'", e)
        with Warden(self.a.warden, self.run_dir, self.server_cpu, self.policy_dir) as w, \
                Envoy(self.a.envoy, "ext_authz.yaml", self.run_dir, self.server_cpu, WARDEN_PORT=w.port) as e:
            k0 = w.checks()
            measure("c", e, w)
            k1 = w.checks()
            res["c"]["warden_denied"] = k1["deny"] - k0["deny"]
            # Latency at half of (c)'s max rate, open loop at a fixed rate: (c) now, (a) right after.
            rate = res["c"]["rps"] / 2
            res["half_rate"] = {"rate": rate, "c": self.fixed_rate(e, rate)}
        with Envoy(self.a.envoy, "noauth.yaml", self.run_dir, self.server_cpu) as e:
            res["half_rate"]["a"] = self.fixed_rate(e, rate)
        if self.load_cpu:
            # Variant: Warden on the other CPU (next to the load generator), as when it runs in its own pod.
            with Warden(self.a.warden, self.run_dir, self.load_cpu, self.policy_dir) as w, \
                    Envoy(self.a.envoy, "ext_authz.yaml", self.run_dir, self.server_cpu, WARDEN_PORT=w.port) as e:
                measure("c*", e, w)
                res["half_rate"]["c*"] = self.fixed_rate(e, rate)
        log(f"half rate {rate:.0f}/s: p99 (a) {res['half_rate']['a']['p99_us']}µs, (c) {res['half_rate']['c']['p99_us']}µs")
        self.results["envoy"] = res

    def fronts(self):
        """The HTTP front door beside the gRPC path: nginx auth_request and Envoy http_service against the same
        proxy with no auth and against Envoy's gRPC ext_authz (same policy, same token pool, wrk)."""
        s, conns = self.a.envoy_seconds, self.a.wrk_conns
        res = {}

        def measure(label: str, proxy: Proc, w: Warden | None = None, url: str | None = None):
            url = url or f"http://127.0.0.1:{proxy.port}/bench"
            wrk(url, self.pool_file, 2, conns, self.load_cpu)  # warm-up: connections, token cache
            p0, w0, k0 = proxy.cpu_seconds(), w.cpu_seconds() if w else 0.0, w.checks() if w else None
            r = wrk(url, self.pool_file, s, conns, self.load_cpu)
            p1, w1, k1 = proxy.cpu_seconds(), w.cpu_seconds() if w else 0.0, w.checks() if w else None
            n = max(1, r["requests"])
            r.update(proxy_cpu_us=(p1 - p0) / n * 1e6, warden_cpu_us=(w1 - w0) / n * 1e6 if w else 0.0)
            if w:
                checks = (k1["allow"] - k0["allow"]) + (k1["deny"] - k0["deny"])
                r["warden_checks"] = checks
                r["warden_cpu_us_per_check"] = (w1 - w0) / max(1, checks) * 1e6
                r["warden_denied"] = k1["deny"] - k0["deny"]
            if r["errors"]:
                self.results["notes"].append(f"fronts {label}: {r['errors']} wrk errors/non-2xx of {r['requests']}")
            res[label] = r
            log(f"fronts {label}: {r['rps']:.0f} req/s, p50 {r['p50_us']:.0f}µs p99 {r['p99_us']:.0f}µs, errors {r['errors']}, "
                f"CPU/request proxy {r['proxy_cpu_us']:.1f}µs + Warden {r['warden_cpu_us']:.1f}µs")

        with Nginx("noauth.conf", self.run_dir, self.server_cpu) as n:
            measure("n0", n)
        http_port = free_port()
        with Warden(self.a.warden, self.run_dir, self.server_cpu, self.policy_dir, ["--http-listen", f"127.0.0.1:{http_port}"]) as w:
            with Nginx("auth_request.conf", self.run_dir, self.server_cpu, WARDEN_HTTP_PORT=http_port) as n:
                measure("n", n, w)
            with Envoy(self.a.envoy, "noauth.yaml", self.run_dir, self.server_cpu) as e:
                measure("a", e)
            with Envoy(self.a.envoy, "ext_authz_http.yaml", self.run_dir, self.server_cpu, WARDEN_HTTP_PORT=http_port) as e:
                measure("h", e, w)
            with Envoy(self.a.envoy, "ext_authz_http2.yaml", self.run_dir, self.server_cpu, WARDEN_HTTP_PORT=http_port) as e:
                measure("h2", e, w)
            with Envoy(self.a.envoy, "ext_authz.yaml", self.run_dir, self.server_cpu, WARDEN_PORT=w.port) as e:
                measure("c", e, w)
            # Warden alone: wrk straight at the Envoy endpoint (HTTP/1.1 keep-alive, the same requests Envoy sends).
            measure("d", w, w, url=f"http://127.0.0.1:{http_port}/envoy/bench")
        self.results["fronts"] = res

    def fixed_rate(self, e: Envoy, rate: float) -> dict:
        clients = self.a.rate_clients
        argv = ["--h1", "-c", str(clients), "--rps", f"{rate / clients:.2f}", "-D", str(self.a.rate_seconds),
                "-H", f"authorization: Bearer {self.pool[0]}", f"http://127.0.0.1:{e.port}/bench"]
        return h2load(argv, self.load_cpu, self.run_dir / "h1.log", self.a.rate_seconds + 60)

    # ------------------------------------------------------------ report

    def machine(self) -> dict:
        model = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                      if l.startswith("model name")), platform.processor())
        mem = next(l.split()[1] for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal"))
        envoy_v = run([self.a.envoy, "--version"], 30).strip().split("version:")[-1].strip().split("/")[1:3]
        return {"cpu": model, "cores": os.cpu_count(), "mem_gib": int(mem) / 2**20, "kernel": platform.release(),
                "envoy": "/".join(envoy_v), "openssl": run(["openssl", "version"], 10).strip(),
                "wrk": "wrk " + (subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "wrk"], capture_output=True,
                                                text=True).stdout.strip() or "(version unknown)"),
                "h2load": run(["h2load", "--version"], 10).strip(), "git": self.git()}

    @staticmethod
    def git() -> str:
        try:
            rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
            dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "Sources"], capture_output=True, text=True).stdout.strip()
            return rev + ("+dirty Sources" if dirty else "")
        except OSError:
            return "?"

    def report(self, started: float, load_before, load_after) -> str:
        R = self.results
        m = R["machine"]
        lines = [f"# Warden benchmark — {time.strftime('%Y-%m-%d %H:%M %Z')}", "",
                 f"Machine: {m['cores']} × {m['cpu']}, {m['mem_gib']:.0f} GiB, Linux {m['kernel']}; Envoy {m['envoy']}; "
                 f"{m['openssl']}; {m['h2load']}; {m['wrk']}. Warden at commit {m['git']} (`swift build -c release`).",
                 f"Load average before / after: {load_before} / {load_after} (the machine is shared: figures are noisy, "
                 "compare ratios within one run). Run took {:.0f} s.".format(time.monotonic() - started), "",
                 "Placement: server side (Envoy `--concurrency 1`, Warden `--threads 1`) pinned to CPU 0, "
                 "load generator (`wrk -t1`, `h2load -t1`, grpcio) pinned to CPU 1 (`taskset -c`)"
                 + (f"; every process under `nice -n {self.a.nice}` (shared machine)" if self.a.nice else "") + ". "
                 "Envoy answers with `direct_response` (no upstream process), so (a)/(b)/(c) differ only in their filters.", ""]
        targets = []

        def us(v):
            return f"{v / 1000:.2f} ms" if v >= 1000 else f"{v:.0f} µs"

        if "envoy" in R:
            E = R["envoy"]
            a, b, b2, c = E["a"], E["b"], E["b'"], E["c"]
            lines += ["## 1. Through Envoy (wrk -t1 -c{}, {} s, {} RS256 tokens rotated, scope-based ALLOW policy)".format(
                self.a.wrk_conns, self.a.envoy_seconds, POOL), "",
                "| setup | req/s | p50 | p99 | errors | server CPU / request (Envoy + Warden) | req/s per server core |",
                "|---|---:|---:|---:|---:|---:|---:|"]
            for label, name in (("a", "(a) Envoy, no auth (ceiling)"),
                                ("b", "(b) Envoy jwt_authn + RBAC (Istio-like: verifies every request)"),
                                ("b'", "(b') Envoy jwt_authn (+ jwt_cache_config, 1000) + RBAC"),
                                ("c", "(c) Envoy ext_authz → Warden"),
                                ("c*", "(c\\*) same, Warden pinned to the load generator's CPU instead")):
                if label not in E:
                    continue
                r = E[label]
                cpu = f"{r['server_cpu_us']:.1f} µs" + (f" ({r['envoy_cpu_us']:.1f} + {r['warden_cpu_us']:.1f})" if r["warden_cpu_us"] else "")
                lines.append(f"| {name} | {r['rps']:,.0f} | {us(r['p50_us'])} | {us(r['p99_us'])} | {r['errors']} | {cpu} | "
                             f"{1e6 / r['server_cpu_us']:,.0f} |")
            h = E["half_rate"]
            added = h["c"]["p99_us"] - h["a"]["p99_us"]
            lines += ["", f"Ratios: c/a = **{c['rps'] / a['rps']:.2f}**, c/b = **{c['rps'] / b['rps']:.2f}**, "
                          f"c/b' = {c['rps'] / b2['rps']:.2f}, b/a = {b['rps'] / a['rps']:.2f}. "
                          f"By server CPU per request (robust on a shared machine): c/a = {a['server_cpu_us'] / c['server_cpu_us']:.2f}, "
                          f"c/b = {b['server_cpu_us'] / c['server_cpu_us']:.2f}, c/b' = {b2['server_cpu_us'] / c['server_cpu_us']:.2f}. "
                          f"Envoy's own ext_authz cost (c − a, Envoy side only): {c['envoy_cpu_us'] - a['envoy_cpu_us']:.1f} µs/request; "
                          f"jwt_authn + RBAC (b − a): {b['envoy_cpu_us'] - a['envoy_cpu_us']:.1f} µs/request. "
                          f"Envoy-core capacity when Warden has its own core (Envoy CPU/request only): "
                          f"c/b = {b['envoy_cpu_us'] / c['envoy_cpu_us']:.2f}"
                          + (f"; measured (c\\*)/(b) = {E['c*']['rps'] / b['rps']:.2f}." if "c*" in E else "."), "",
                      f"At half of (c)'s max rate ({h['rate']:,.0f} req/s, `h2load --h1 -c{self.a.rate_clients} --rps`, "
                      f"{self.a.rate_seconds} s, fixed rate per connection): "
                      f"(a) p50 {us(h['a']['p50_us'])} p99 {us(h['a']['p99_us'])}; "
                      f"(c) p50 {us(h['c']['p50_us'])} p99 {us(h['c']['p99_us'])} → **p99 added {us(added)}** "
                      f"(p50 added {us(h['c']['p50_us'] - h['a']['p50_us'])}); "
                      f"achieved {h['a']['rps']:,.0f} / {h['c']['rps']:,.0f} req/s."
                      + (f" (c\\*) at the same rate: p50 {us(h['c*']['p50_us'])} p99 {us(h['c*']['p99_us'])} → p99 added "
                         f"{us(h['c*']['p99_us'] - h['a']['p99_us'])}." if "c*" in h else ""), ""]
            targets.append(("Through Envoy: (c) ≥ 0.8 × (b) req/s", f"{c['rps'] / b['rps']:.2f} × (b) measured; "
                            f"{b['server_cpu_us'] / c['server_cpu_us']:.2f} × by server CPU/request", c['rps'] >= 0.8 * b['rps']))
            cap = b["envoy_cpu_us"] / c["envoy_cpu_us"]
            targets.append(("Through Envoy, Warden on its own core: Envoy-core capacity (c) ≥ 0.8 × (b)",
                            f"{cap:.2f} × (derived: Envoy CPU/request (b) ÷ (c); measured (c\\*) is load-generator-bound here)",
                            cap >= 0.8))
            noisy = h["a"]["p99_us"] > 1000  # the ceiling alone already misses 1 ms: the machine, not the filters
            targets.append(("Through Envoy: p99 added over (a) ≤ 1 ms at half of (c)'s max rate",
                            f"{us(added)} (p50 added {us(h['c']['p50_us'] - h['a']['p50_us'])})",
                            None if noisy else added <= 1000,
                            f"inconclusive: (a) alone has p99 {us(h['a']['p99_us'])} here" if noisy else None))
        if "direct" in R:
            D = R["direct"]
            lines += [f"## 2. Direct gRPC (h2load -t1 -c{self.a.h2_clients} -m{self.a.h2_streams}, {self.a.direct_seconds} s "
                      "after a 20k warm-up; one pre-encoded CheckRequest)", "",
                      "| Warden mode | req/s | p50 | p99 | Warden CPU / check | checks counted |", "|---|---:|---:|---:|---:|---:|"]
            for label, r in D.items():
                counted = f"{r['allowed']:,.0f} allowed" if r["allowed"] is not None else f"{r['succeeded']:,} (h2load)"
                lines.append(f"| {label} | {r['rps']:,.0f} | {us(r['p50_us'])} | {us(r['p99_us'])} | "
                             f"{r['cpu_us_per_check']:.1f} µs | {counted} |")
            lines += ["", "CPU per check = Warden's utime+stime delta (/proc/PID/stat) over the run ÷ allowed checks "
                          "counted by Warden (`warden_checks_total`); for the constant mode ÷ h2load's successes. "
                          "Uncached = `--token-cache-size 0`: every check verifies the signature.", ""]
            const, cached = D["constant"], D["cached RS256"]
            targets.append(("Direct: cached ≥ 0.8 × constant-answer req/s", f"{cached['rps'] / const['rps']:.2f} ×",
                            cached["rps"] >= 0.8 * const["rps"]))
            targets.append(("Direct: ≤ 15 µs Warden CPU per cached check", f"{cached['cpu_us_per_check']:.1f} µs",
                            cached["cpu_us_per_check"] <= 15))
            if "openssl" in R:
                bound = const["cpu_us_per_check"] + 1.5 * R["openssl"]["RS256"]["verify_us"]
                un = D["uncached RS256"]["cpu_us_per_check"]
                targets.append(("Direct: uncached RS256 ≤ constant + 1.5 × OpenSSL RS256 verify",
                                f"{un:.1f} µs vs {bound:.1f} µs", un <= bound))
        if "dpop" in R:
            P = R["dpop"]
            lines += [f"## 6. DPoP (RFC 9449): Warden CPU per check, {self.a.dpop_requests:,} distinct CheckRequests each, grpcio, 64 in flight", "",
                      "| mode | allowed | denied | Warden CPU / check |", "|---|---:|---:|---:|"]
            for label, r in P.items():
                lines.append(f"| {label} | {r['allowed']:,.0f} | {r['denied']:,.0f} | {r['cpu_us_per_check']:.1f} µs |")
            if len(P) == 2:
                b, d = list(P.values())
                lines += ["", f"A DPoP check costs **{d['cpu_us_per_check'] - b['cpu_us_per_check']:.1f} µs** more than the bearer check: "
                          "the proof's ES256 verify (see section 3 for OpenSSL's own cost), its JSON, the thumbprint, "
                          "ath (SHA-256 of the token) and the per-process replay cache.", ""]
        if "tracing" in R:
            T = R["tracing"]
            lines += [f"## 7. Tracing: Warden CPU per cached check, {self.a.tracing_requests:,} CheckRequests per mode, grpcio, 64 in flight", "",
                      "| mode | allowed | spans exported | Warden CPU / check |", "|---|---:|---:|---:|"]
            for label, r in T.items():
                lines.append(f"| {label} | {r['allowed']:,.0f} | {r['exported']:,.0f} | {r['cpu_us_per_check']:.1f} µs |")
            if len(T) == 4:
                off, same, unsampled, sampled = list(T.values())
                rise = sampled["cpu_us_per_check"] - off["cpu_us_per_check"]
                lines += ["", f"Every check sampled costs **{rise:+.1f} µs** per check over tracing off (reading the context, the span, "
                          "its queueing, and the export thread's encoding and POST, included), "
                          f"{sampled['cpu_us_per_check'] - same['cpu_us_per_check']:+.1f} µs over tracing off with the same requests "
                          "(the `traceparent` header itself is decoded either way); with nothing sampled "
                          f"{unsampled['cpu_us_per_check'] - same['cpu_us_per_check']:+.1f} µs over the same requests.", ""]
                targets.append(("Tracing: every check sampled ≤ 2 µs more Warden CPU per cached check", f"{rise:+.1f} µs", rise <= 2))
        if "exchange" in R:
            X = R["exchange"]
            lines += [f"## 9. Token exchange (RFC 8693): Warden CPU per allowed check, {self.a.dpop_requests:,} CheckRequests, grpcio, 64 in flight", "",
                      "| mode | allowed | Warden CPU / check | first check of a new token (p50, one at a time) |", "|---|---:|---:|---:|"]
            for label, r in X.items():
                lines.append(f"| {label} | {r['allowed']:,.0f} | {r['cpu_us_per_check']:.1f} µs | {r['cold_p50_us']:.0f} µs |")
            if len(X) == 2:
                off, on = list(X.values())
                rise = on["cpu_us_per_check"] - off["cpu_us_per_check"]
                lines += ["", f"A cached exchange adds **{rise:+.1f} µs** of Warden CPU to an allowed check (the rule match, the "
                          "memo lookup in the token cache entry, the header); a cold exchange adds "
                          f"{on['cold_p50_us'] - off['cold_p50_us']:.0f} µs of latency against a token endpoint on loopback "
                          "(one libcurl POST on the exchange thread).", ""]
                targets.append(("Token exchange: a cached exchange ≤ 2 µs more Warden CPU per allowed check", f"{rise:+.1f} µs", rise <= 2))
        if "overload" in R:
            V = R["overload"]
            lines += [f"## 5. Overload (direct gRPC, every check verifies RS256, deadline {V['deadline_ms']} ms via `grpc-timeout`)", "",
                      f"Closed-loop maximum: **{V['max_rps']:,.0f} req/s**. Then a fixed rate per connection (`h2load --rps`) "
                      f"for {self.a.overload_seconds} s per row, Envoy-like client (4 connections × 256 streams = 1024 in flight "
                      "at most, Envoy's default `max_requests` circuit breaker), except the last row.", "",
                      "| offered | answered/s | goodput (allowed in time)/s | shed | answers after the deadline | p50 | p99 | max | Warden RSS |",
                      "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for r in V["rows"]:
                lines.append(f"| {r['label']} ({r['offered']:,.0f}/s) | {r['answered']:,.0f} | {r['goodput']:,.0f} | {r['shed']:,.0f} | "
                             f"{r['late']:,} of {r['done']:,} | {us(r['p50_us'])} | {us(r['p99_us'])} | {us(r['max_us'])} | "
                             f"{r['rss_kib'] / 1024:.1f} MiB |")
            lines += ["", "h2load sends no faster than calls complete once every stream is busy, so \"offered\" above what "
                      "Warden answers queues at the client (with Envoy: in its connection pool, failed by its circuit breaker "
                      "and timeout, fail-closed). Warden sheds (UNAVAILABLE, `warden_checks_shed_total`) a call that reaches "
                      "it with less than `--shed-margin` left; time a call spends unread in the client's socket is invisible "
                      "to it (gRPC starts the deadline when it reads the headers), so what bounds that time is the number of "
                      "calls in flight: per connection Warden's `--max-concurrent-streams` (default 256, the last row), in "
                      "total Envoy's circuit breakers.", ""]
            bounded = [r for r in V["rows"] if "16 connections" not in r["label"]]
            two = next(r for r in bounded if r["factor"] == 2.0)
            targets.append(("Overload 2× (Envoy-like client): every answer within the deadline",
                            f"{two['late']} late of {two['done']:,}; p99 {us(two['p99_us'])}, max {us(two['max_us'])}",
                            two["late"] == 0))
            targets.append(("Overload 2×: goodput ≥ 0.8 × the closed-loop maximum",
                            f"{two['goodput'] / V['max_rps']:.2f} ×", two["goodput"] >= 0.8 * V["max_rps"]))
            rec = next(r for r in bounded if "recovery" in r["label"])
            one = next(r for r in bounded if r["factor"] == 1.0)
            targets.append(("Overload: recovers at once (0.5× right after 2×: nothing late, p99 ≤ the 1× row's)",
                            f"{rec['late']} late; p99 {us(rec['p99_us'])} vs {us(one['p99_us'])} at 1×",
                            rec["late"] == 0 and rec["p99_us"] <= one["p99_us"]))
            targets.append(("Overload: memory bounded (RSS growth during the 2× rows ≤ 64 MiB)",
                            f"{max(r['rss_kib'] - V['rows'][0]['rss0_kib'] for r in V['rows']) / 1024:.1f} MiB",
                            max(r['rss_kib'] - V['rows'][0]['rss0_kib'] for r in V['rows']) <= 64 * 1024))
        if "openssl" in R:
            O = R["openssl"]
            lines += [f"## 3. Crypto limit (`openssl speed -seconds {self.a.openssl_seconds} rsa2048 ecdsap256 ed25519`, CPU 0)", "",
                      "| algorithm | verify/s | µs / verify | Warden uncached CPU / check | Warden − verify |",
                      "|---|---:|---:|---:|---:|"]
            for alg in KIDS:
                un = R.get("direct", {}).get(f"uncached {alg}")
                extra = (f"{un['cpu_us_per_check']:.1f} µs | {un['cpu_us_per_check'] - O[alg]['verify_us']:.1f} µs"
                         if un else "– | –")
                lines.append(f"| {alg} | {O[alg]['verify_s']:,.0f} | {O[alg]['verify_us']:.1f} | {extra} |")
            lines.append("")
        if "memory" in R:
            M = R["memory"]
            lines += ["## 4. Memory", "",
                      f"Warden RSS {M['rss0_kib'] / 1024:.1f} MiB at start → **{M['rss_kib'] / 1024:.1f} MiB** after "
                      f"{M['allowed']:,.0f} distinct RS256 tokens sent once each (grpcio, 64 in flight, {M['seconds']:.0f} s); "
                      f"cache entries {M['entries']:,.0f} (default bounds: `--token-cache-size {MEMORY_TOKENS}`"
                      + (f", estimated {M['estimated_bytes'] / 2**20:.1f} MiB of the `--token-cache-bytes` bound)." if M.get("estimated_bytes") else ").")]
            A = R.get("memory_all")
            if A and A.get("entries"):
                per = (A["rss_kib"] - A["rss0_kib"]) * 1024 / A["entries"]
                est = (A.get("estimated_bytes") or 0) / A["entries"]
                lines += ["", f"Every token cached (`{A['args']}`): RSS {A['rss0_kib'] / 1024:.1f} → {A['rss_kib'] / 1024:.1f} MiB "
                          f"with {A['entries']:,.0f} entries: **{per:,.0f} bytes of RSS per cached token** "
                          f"(the cache's own estimate: {est:,.0f} bytes)."]
            lines.append("")
            targets.append(("RSS ≤ 64 MiB after 100k distinct tokens (default bounds)", f"{M['rss_kib'] / 1024:.1f} MiB", M["rss_kib"] <= 64 * 1024))
        if "fronts" in R:
            F = R["fronts"]
            lines += ["## 8. Front doors (nginx `auth_request`, Envoy `http_service`, Envoy gRPC)", "",
                      f"wrk `-c{self.a.wrk_conns}`, {self.a.envoy_seconds} s, the RS256 token pool, every setup answering a static "
                      "200 (no upstream process); one Warden (`--threads 1`, `--http-listen`) behind each. "
                      "Warden CPU / check is its CPU time over the checks it answered.", "",
                      "| setup | req/s | p50 | p99 | proxy CPU / req | Warden CPU / check |", "|---|---:|---:|---:|---:|---:|"]
            names = {"n0": "(n0) nginx, no auth", "n": "(n) nginx `auth_request` → Warden `/auth-request`",
                     "a": "(a) Envoy, no auth", "h": "(h) Envoy `http_service` → Warden `/envoy`",
                     "h2": "(h2) Envoy `http_service` over h2c → Warden `/envoy`",
                     "c": "(c) Envoy gRPC ext_authz → Warden",
                     "d": "(d) wrk → Warden `/envoy` directly (no proxy)"}
            for key in ("n0", "n", "a", "h", "h2", "c", "d"):
                r = F.get(key)
                if not r:
                    continue
                wc = f"{r['warden_cpu_us_per_check']:.1f} µs" if "warden_cpu_us_per_check" in r else "–"
                proxy_cpu = f"{r['proxy_cpu_us']:.1f} µs" if key != "d" else "–"
                lines.append(f"| {names[key]} | {r['rps']:,.0f} | {us(r['p50_us'])} | {us(r['p99_us'])} | {proxy_cpu} | {wc} |")
            lines.append("")
            if all(k in F for k in ("n", "h", "c")):
                grpc = F["c"]["warden_cpu_us_per_check"]
                worst = max(F[k]["warden_cpu_us_per_check"] for k in ("n", "h", "h2") if k in F)
                targets.append(("Front doors: Warden CPU per HTTP check ≤ per gRPC check + 2 µs",
                                f"nginx {F['n']['warden_cpu_us_per_check']:.1f} µs, Envoy HTTP {F['h']['warden_cpu_us_per_check']:.1f} µs"
                                + (f", Envoy h2c {F['h2']['warden_cpu_us_per_check']:.1f} µs" if "h2" in F else "") + " "
                                f"vs gRPC {grpc:.1f} µs", worst <= grpc + 2))
        lines += ["## Targets", "", "| target | measured | verdict |", "|---|---|---|"]
        def verdict(t):
            if len(t) > 3 and t[3]:
                return t[3]
            return "met" if t[2] else "**missed**"
        lines += [f"| {t[0]} | {t[1]} | {verdict(t)} |" for t in targets]
        if R["notes"]:
            lines += ["", "Notes:"] + [f"- {n}" for n in R["notes"]]
        lines += ["", "## Reproduce", "", "```", "make bench            # = make deps build, then:",
                  f".venv/bin/python bench/run.py --warden .build/release/warden" + (f" --nice {self.a.nice}" if self.a.nice else ""),
                  "```", "Individual commands (ports vary per run; configs rendered into bench/tmp/run/):", "```",
                  f"taskset -c 0 .venv/bin/envoy -c bench/tmp/run/ext_authz.yaml --concurrency 1",
                  f"taskset -c 0 .build/release/warden serve --threads 1 --policy bench/tmp/run/policies ...",
                  f"taskset -c 1 wrk -t1 -c{self.a.wrk_conns} -d{self.a.envoy_seconds}s -s bench/wrk_tokens.lua http://127.0.0.1:PORT/bench -- bench/tmp/pool-rs256.txt",
                  f"taskset -c 1 h2load --h1 -t1 -c{self.a.rate_clients} --rps RATE/{self.a.rate_clients} -D {self.a.rate_seconds} "
                  f"-H 'authorization: Bearer …' --log-file L http://127.0.0.1:PORT/bench",
                  f"taskset -c 1 h2load -t1 -c{self.a.h2_clients} -m{self.a.h2_streams} -D {self.a.direct_seconds} -d bench/tmp/run/check-RS256.grpc "
                  "-H 'content-type: application/grpc' -H 'te: trailers' --log-file L "
                  "http://127.0.0.1:PORT/envoy.service.auth.v3.Authorization/Check",
                  f"taskset -c 0 openssl speed -seconds {self.a.openssl_seconds} rsa2048 ecdsap256 ed25519", "```", ""]
        return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warden", default=str(ROOT / ".build/release/warden"))
    ap.add_argument("--envoy", default=str(ROOT / ".venv/bin/envoy"))
    ap.add_argument("--only", default="crypto,direct,memory,overload,dpop,tracing,exchange,envoy,fronts", help="comma-separated phases")
    ap.add_argument("--tracing-requests", type=int, default=20000)
    ap.add_argument("--dpop-requests", type=int, default=20000)
    ap.add_argument("--overload-seconds", type=int, default=5)
    ap.add_argument("--overload-deadline-ms", type=int, default=250)
    ap.add_argument("--envoy-seconds", type=int, default=8)
    ap.add_argument("--direct-seconds", type=int, default=5)
    ap.add_argument("--rate-seconds", type=int, default=8)
    ap.add_argument("--openssl-seconds", type=int, default=2)
    ap.add_argument("--wrk-conns", type=int, default=32)
    ap.add_argument("--rate-clients", type=int, default=8)
    ap.add_argument("--h2-clients", type=int, default=8)
    ap.add_argument("--h2-streams", type=int, default=16)
    ap.add_argument("--nice", type=int, default=0, help="run every benchmark process under nice -n N (e.g. -5 on a shared machine)")
    ap.add_argument("--from-json", help="only re-render the report from a saved bench/tmp/last.json")
    ap.add_argument("--no-write", action="store_true", help="print only; do not write bench/results")
    a = ap.parse_args()
    for tool in ("wrk", "h2load", "openssl", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} not found (make bench installs wrk, nghttp2-client, openssl)")
    for path in (a.warden, a.envoy):
        if not os.access(path, os.X_OK):
            sys.exit(f"bench: {path} is not an executable (run make build / make venv)")
    if a.nice:
        NICE.extend(["nice", "-n", str(a.nice)])
    if a.from_json:
        saved = json.loads(Path(a.from_json).read_text())
        b = Bench(a)
        b.results = saved
        md = b.report(time.monotonic() - saved.get("seconds", 0), *saved.get("load", ["?", "?"]))
        print(md)
        if not a.no_write:
            (BENCH / "results" / "latest.md").write_text(md)
        return
    started = time.monotonic()
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    b = Bench(a)
    try:
        b.results["machine"] = b.machine()
        b.setup()
        phases = a.only.split(",")
        if "crypto" in phases:
            b.crypto()
        if "direct" in phases:
            b.direct()
        if "memory" in phases:
            b.memory()
        if "overload" in phases:
            b.overload()
        if "dpop" in phases:
            b.dpop()
        if "tracing" in phases:
            b.tracing()
        if "exchange" in phases:
            b.exchange()
        if "envoy" in phases:
            b.envoy()
        if "fronts" in phases:
            b.fronts()
    finally:
        for p in list(ALL):
            p.stop()
    load_after = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    b.results["seconds"] = time.monotonic() - started
    b.results["load"] = [load_before, load_after]
    b.results["options"] = vars(a)
    md = b.report(started, load_before, load_after)
    print(md)
    (TMP / "last.json").write_text(json.dumps(b.results, indent=1, default=str))
    if not a.no_write:
        out = BENCH / "results"
        out.mkdir(exist_ok=True)
        (out / "latest.md").write_text(md)
        (out / f"{time.strftime('%Y-%m-%d-%H%M')}-{socket.gethostname()[:20]}.md").write_text(md)


if __name__ == "__main__":
    main()
