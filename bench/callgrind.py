#!/usr/bin/env python3
"""Instructions (callgrind Ir) per cached RS256 check, reproducible on a noisy machine.

    .venv/bin/python bench/callgrind.py .build/release/warden LABEL [CHECKS] [--uncached | --constant] [--alg RS256|ES256|EdDSA] [--trace]

Copies the binary stripped of DWARF (valgrind 3.19 cannot read Swift's DWARF 5), runs it under
valgrind --tool=callgrind with --threads 1 and the bench policy, warms up with 1000 checks, zeroes the
counters, sends CHECKS (default 4000) identical CheckRequests with h2load (-c1 -m4), dumps, and prints
the whole process's Ir ÷ the checks Warden counted. --uncached runs Warden with --token-cache-size 0
(every check parses and verifies the token); --constant measures the constant-answer transport
(the `warden-transport-bench` executable beside the warden binary); --trace runs Warden with --otlp-endpoint
(the test collector, Tests/IntegrationTests/harness/otlp.py, in this process) and a sampled W3C traceparent
on every request, so every check makes and exports a span (--trace --unsampled: flags 00, nothing exported; --traceparent: tracing off, the same request bytes as --trace); --exchange adds a TokenPolicy tokenExchange rule
(a token endpoint in this process), so every allowed check hands out the cached exchanged token. Profile: callgrind_annotate --inclusive=yes
bench/tmp/callgrind/cg-LABEL.out.1
"""
import glob
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as B  # noqa: E402

args = [a for a in sys.argv[1:]]
trace = "--trace" in args
if trace:
    args.remove("--trace")
unsampled = "--unsampled" in args  # with --trace: the traceparent's flags are 00 (Warden traces, exports nothing)
if unsampled:
    args.remove("--unsampled")
header_only = "--traceparent" in args  # tracing off, the same sampled traceparent on every request (the --trace request bytes)
if header_only:
    args.remove("--traceparent")
collector = None
if trace:
    from harness.otlp import Collector  # noqa: E402 (run.py put Tests/IntegrationTests on sys.path)
    collector = Collector.start()

exchange = "--exchange" in args
if exchange:
    args.remove("--exchange")
token_endpoint = None
if exchange:
    # A token endpoint answering at once (RFC 8693 §2.2.1); after the first check the exchanged token is cached.
    import http.server
    import json
    import threading

    class _Token(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps({"access_token": "exchanged." + "x" * 600, "token_type": "Bearer", "expires_in": 3600,
                               "issued_token_type": "urn:ietf:params:oauth:token-type:access_token"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
    token_endpoint = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Token)
    threading.Thread(target=token_endpoint.serve_forever, daemon=True).start()

uncached = "--uncached" in args
if uncached:
    args.remove("--uncached")
constant = "--constant" in args
if constant:
    args.remove("--constant")
alg = "RS256"
if "--alg" in args:
    i = args.index("--alg"); alg = args[i + 1]; del args[i:i + 2]
binary, label = args[0], args[1]
n = int(args[2]) if len(args) > 2 else 4000
out = B.TMP / "callgrind"
d = out / "in"
d.mkdir(parents=True, exist_ok=True)
keys = B.load_or_create_keys(); jw = B.jwks(keys)
tok = B.tokens(alg, 1, f"single-{alg.lower()}")[0]
pol = d / "policies"; pol.mkdir(exist_ok=True)
(pol / "bench.yaml").write_text(f"""apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: bench-jwt, namespace: default}}
spec:
  jwtRules:
  - issuer: {B.ISSUER}
    audiences: [{B.AUDIENCE}]
    jwks: '{jw}'
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
if exchange:
    (d / "secret").write_text("bench\n")
    (pol / "exchange.yaml").write_text(f"""apiVersion: security.warden.io/v1alpha1
kind: TokenPolicy
metadata: {{name: exchange, namespace: default}}
spec:
  tokenExchange:
  - issuer: {B.ISSUER}
    endpoint: http://127.0.0.1:{token_endpoint.server_address[1]}/token
    clientId: bench
    clientSecretFile: {d / "secret"}
    audiences: [upstream-api]
""")
else:
    (pol / "exchange.yaml").unlink(missing_ok=True)
request = B.check_request(tok, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-" + ("00" if unsampled else "01") if trace or header_only else None)
data = d / "check.grpc"; data.write_bytes(B.grpc_frame(request))
stripped = out / f"warden-{label}"
subprocess.run(["objcopy", "--strip-debug", str(Path(binary).with_name("warden-transport-bench")) if constant else binary, stripped], check=True)
port, admin = B.free_port(), B.free_port()
cgfile = out / f"cg-{label}.out"
for f in glob.glob(str(cgfile) + "*"):
    Path(f).unlink()
p = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={cgfile}", str(stripped), "serve",
    "--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin}", "--threads", "1", "--reload-interval", "0",
    "--log-level", "warn", "--policy", str(pol)] + (["--token-cache-size", "0"] if uncached else [])
    + (["--otlp-endpoint", collector.http_url] if collector else [])
    , stdout=subprocess.DEVNULL, stderr=open(out / f"vg-{label}.log", "w"))
try:
    B.wait_for(lambda: B.http_get(f"http://127.0.0.1:{admin}/readyz")[0] == 200, 120, "readyz", p)
    url = f"http://127.0.0.1:{port}/envoy.service.auth.v3.Authorization/Check"
    h = ["h2load", "-c1", "-m4", "-H", "content-type: application/grpc", "-H", "te: trailers", "-d", str(data)]
    subprocess.run(h + ["-n", "1000", url], check=True, capture_output=True)
    counter = type("W", (), {"admin": admin})()
    k0 = B.Warden.checks(counter)["allow"]
    subprocess.run(["callgrind_control", "-z", str(p.pid)], check=True, capture_output=True)
    subprocess.run(h + ["-n", str(n), url], check=True, capture_output=True)
    subprocess.run(["callgrind_control", "-d", str(p.pid)], check=True, capture_output=True)
    time.sleep(1)
    k1 = B.Warden.checks(counter)["allow"]
finally:
    p.terminate(); p.wait(30)
    if collector:
        collector.close()
dump = sorted(glob.glob(str(cgfile) + ".*"))[0]  # the explicit dump is the first numbered file
txt = subprocess.run(["callgrind_annotate", dump], capture_output=True, text=True).stdout
m = re.search(r"([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", txt) or re.search(r"([\d,]+)\s+PROGRAM TOTALS", txt)
total = int(m.group(1).replace(",", ""))
checks = n if constant else k1 - k0   # the constant mode counts nothing
print(f"{label}: {total} Ir over {checks:.0f} checks = {total/checks:.0f} Ir/check  (dump {dump})")
