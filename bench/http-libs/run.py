"""Which HTTP server library for Warden's front door: libmicrohttpd (linked already, the admin listener)
or libh2o (Debian libh2o-evloop-dev). Both answer every request as the front door answers an allow
(headers visited, 200 with two headers); wrk (HTTP/1.1 keep-alive, one Authorization header like a
bearer check) drives each in turn, server on CPU 0, wrk on CPU 1; server CPU per request from /proc.
Usage: python3 bench/http-libs/run.py [--seconds 5] [--rounds 3]   (needs libh2o-evloop-dev, wrk, h2load)
Not part of `make bench`: it measures the libraries, not Warden (results: bench/results/2026-12-05-http-libs.md)."""
from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLK = os.sysconf("SC_CLK_TCK")
TOKEN = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9." + "x" * 600 + ".sig"


def build(out: Path) -> dict[str, Path]:
    flags = {"mhd": ["$(pkg-config --cflags --libs libmicrohttpd)"],
             "h2o": ["-DH2O_USE_LIBUV=0", "$(pkg-config --cflags --libs libh2o-evloop)"]}
    binaries = {}
    for name, extra in flags.items():
        binary = out / f"{name}_server"
        subprocess.run(f"cc -O2 -o {binary} {HERE / (name + '_server.c')} {' '.join(extra)}", shell=True, check=True)
        binaries[name] = binary
    return binaries


def cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def measure(binary: Path, seconds: int, h2: bool = False) -> dict:
    server = subprocess.Popen(["taskset", "-c", "0", str(binary)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        url = f"http://127.0.0.1:{port}/envoy/orders/7"
        if h2:
            argv = ["taskset", "-c", "1", "h2load", "-t1", "-c8", "-m16", "-D", str(seconds), "-H", f"authorization: Bearer {TOKEN}", url]
        else:
            argv = ["taskset", "-c", "1", "wrk", "-t1", "-c32", f"-d{seconds}s", "--latency", "-H", f"Authorization: Bearer {TOKEN}", url]
        subprocess.run(argv, capture_output=True, timeout=seconds + 30)  # warm-up: connections, page cache
        c0 = cpu(server.pid)
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30).stdout
        c1 = cpu(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(5)
    if h2:
        n = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done", out)[1])
        rps = float(re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out)[1])
        p99 = None
    else:
        n = int(re.search(r"(\d+) requests in", out)[1])
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
        m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
        p99 = float(m[1]) * {"us": 1, "ms": 1000, "s": 1e6}[m[2]]
    return {"rps": rps, "cpu_us": (c1 - c0) / max(1, n) * 1e6, "p99_us": p99}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        binaries = build(Path(tmp))
        rows = []
        for r in range(a.rounds):
            for name in ("mhd", "h2o"):
                rows.append((r, name, "HTTP/1.1", measure(binaries[name], a.seconds)))
            rows.append((r, "h2o", "h2c", measure(binaries["h2o"], a.seconds, h2=True)))
    print("| round | library | protocol | req/s | p99 | server CPU / request |")
    print("|---:|---|---|---:|---:|---:|")
    for r, name, proto, m in rows:
        p99 = f"{m['p99_us']:.0f} µs" if m["p99_us"] is not None else "–"
        print(f"| {r + 1} | {'libmicrohttpd' if name == 'mhd' else 'libh2o'} | {proto} | {m['rps']:,.0f} | {p99} | {m['cpu_us']:.2f} µs |")
    for name, proto in (("mhd", "HTTP/1.1"), ("h2o", "HTTP/1.1"), ("h2o", "h2c")):
        v = sorted(m["cpu_us"] for _, n, p, m in rows if n == name and p == proto)
        print(f"\nmedian server CPU / request, {name} {proto}: {v[len(v) // 2]:.2f} µs", end="")
    print()


if __name__ == "__main__":
    main()
