"""Warden's HTTP front door spoken to directly (no proxy): endpoints by path, size bounds, malformed
requests, keep-alive, a check that waits for cold keys, and the drain on SIGTERM — over HTTP/1.1 and over
HTTP/2 without TLS (h2c, prior knowledge; the real curl with nghttp2)."""
from __future__ import annotations

import http.client
import socket
import subprocess
import threading
import time

from harness import httpclient
from harness.ports import LOCALHOST, wait_until
from harness.tokens import Minter
from harness.warden import write_policy_dir

FORWARDED = {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/orders", "X-Forwarded-Host": "shop.example"}


def _jwt_policies(idp) -> dict[str, str]:
    return {"jwt.yaml": f"""\
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: idp, namespace: default}}
spec:
  jwtRules:
  - issuer: "{idp.issuer}"
    jwksUri: "{idp.jwks_uri}"
    audiences: [warden-test]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: require-jwt, namespace: default}}
spec:
  rules:
  - from: [{{source: {{requestPrincipals: ["*"]}}}}]
"""}


def test_endpoints_are_chosen_by_path(make_warden):
    w = make_warden(http=True)
    assert httpclient.get(w.http_url + "/forward-auth", headers=FORWARDED).status == 200
    assert httpclient.get(w.http_url + "/envoy/orders", headers={"Host": "shop.example"}).status == 200
    r = httpclient.get(w.http_url + "/orders", headers=FORWARDED)
    assert r.status == 404
    assert "x-forwarded-uri" not in r.text.lower()


def test_malformed_and_oversized_requests_are_not_checked(make_warden):
    w = make_warden(http=True, extra_args=["--http-max-header-bytes", "8192"])
    r = httpclient.get(w.http_url + "/forward-auth", headers={**FORWARDED, "X-Forwarded-Uri": "/a%2Fb"})
    assert r.status == 400 and "escaped slash" in r.text
    r = httpclient.get(w.http_url + "/forward-auth", headers={"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/"})
    assert r.status == 400 and "x-forwarded-host" in r.text
    r = httpclient.get(w.http_url + "/forward-auth", headers={**FORWARDED, "X-Big": "a" * 16384})
    assert r.status == 431
    _, metrics = w.admin_status("/metrics")
    assert "warden_invalid_requests_total 2" in metrics
    assert 'warden_front_door_checks_total{front_door="forward_auth",decision="allowed"}' not in metrics


def test_keep_alive_serves_many_checks_on_one_connection(make_warden):
    w = make_warden(http=True)
    conn = http.client.HTTPConnection(LOCALHOST, w.http_port, timeout=5)
    try:
        for _ in range(20):
            conn.request("GET", "/forward-auth", headers=FORWARDED)
            response = conn.getresponse()
            response.read()
            assert response.status == 200
        local = conn.sock.getsockname()
        conn.request("GET", "/forward-auth", headers=FORWARDED)
        conn.getresponse().read()
        assert conn.sock.getsockname() == local
    finally:
        conn.close()


def test_a_check_waiting_for_cold_keys_is_answered_later(make_warden, idp, tmp_path):
    """The IdP answers its first JWKS fetch after 1 s: the check waits (its connection suspended, no
    thread held), other checks are answered meanwhile, then it is allowed."""
    idp.delay = 1.0
    w = make_warden(write_policy_dir(tmp_path / "p", _jwt_policies(idp)), http=True, wait_ready=False,
                    extra_args=["--default-deadline", "3s", "--threads", "1"])
    wait_until(lambda: _accepts(w.http_port), 10, what="front door listening")
    token = Minter(idp).mint()
    results = {}

    def slow():
        results["slow"] = httpclient.get(w.http_url + "/forward-auth", headers={**FORWARDED, "Authorization": f"Bearer {token}"})
    t = threading.Thread(target=slow)
    started = time.monotonic()
    t.start()
    time.sleep(0.1)
    fast = httpclient.get(w.http_url + "/forward-auth", headers=FORWARDED)  # no token: denied at once
    assert fast.status == 403
    assert t.is_alive(), "the waiting check blocks nothing on the one polling thread"
    t.join(timeout=5)
    assert results["slow"].status == 200, results["slow"].text
    assert time.monotonic() - started >= 0.3


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((LOCALHOST, port)) == 0


def _exchange(sock: socket.socket) -> tuple[bytes, bool]:
    """One keep-alive GET /forward-auth on `sock`: (the answer's head, whether the server then closed)."""
    sock.sendall(b"GET /forward-auth HTTP/1.1\r\nHost: warden\r\n"
                 + b"".join(f"{k}: {v}\r\n".encode() for k, v in FORWARDED.items()) + b"\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(4096)
    sock.settimeout(0.5)
    try:
        closed = sock.recv(1, socket.MSG_PEEK) == b""
    except TimeoutError:
        closed = False
    sock.settimeout(5)
    return head, closed


def test_drain_keeps_answering_then_closes(make_warden):
    w = make_warden(http=True, extra_args=["--drain-delay", "1.5"])
    kept = socket.create_connection((LOCALHOST, w.http_port), timeout=5)
    head, closed = _exchange(kept)
    assert head.startswith(b"HTTP/1.1 200") and b"connection: close" not in head.lower() and not closed
    w.terminate()
    time.sleep(0.5)
    assert w.admin_status("/readyz")[0] == 503
    assert httpclient.get(w.http_url + "/forward-auth", headers=FORWARDED).status == 200  # still deciding
    # A kept-alive connection gets its answer with Connection: close, and is closed after it: the proxy
    # opens a new one (elsewhere, once /readyz moved it) instead of racing the listener's close.
    head, closed = _exchange(kept)
    kept.close()
    assert head.startswith(b"HTTP/1.1 200") and b"connection: close" in head.lower() and closed, head
    assert w.wait(timeout=15) == 0
    with socket.socket() as s:
        assert s.connect_ex((LOCALHOST, w.http_port)) != 0


def _curl(url: str, headers: dict[str, str] | None = None, *, h2: bool) -> tuple[int, str, dict[str, str], str]:
    """(status, HTTP version, headers (lower-case, no date), body) from the real curl; status 0 = no answer."""
    args = ["curl", "-sS", "--max-time", "5", "-D", "-", "-w", "\n%{http_version} %{http_code}"]
    if h2:
        args.append("--http2-prior-knowledge")
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run(args + [url], capture_output=True, text=True, timeout=10).stdout  # newlines: \n
    head, _, rest = out.partition("\n\n")
    body, _, tail = rest.rpartition("\n")
    version, _, status = tail.partition(" ")
    fields = {}
    for line in head.split("\n")[1:]:
        name, _, value = line.partition(":")
        if name.lower() not in ("date", "content-length"):
            fields[name.lower()] = value.strip()
    return int(status or 0), version, fields, body


def test_h2c_answers_as_http1(make_warden, idp, tmp_path):
    """The same checks over HTTP/1.1 and h2c: the same status, body, challenge and headers."""
    w = make_warden(write_policy_dir(tmp_path / "p", _jwt_policies(idp)), http=True)
    token = Minter(idp).mint()
    cases = [
        ("/forward-auth", {**FORWARDED, "Authorization": f"Bearer {token}"}),
        ("/forward-auth", FORWARDED),
        ("/forward-auth", {**FORWARDED, "Authorization": "Bearer abc.def"}),
        ("/envoy/orders?x=1", {"Host": "shop.example", "Authorization": f"Bearer {token}"}),
        ("/envoy/orders", {"Host": "shop.example", "Authorization": "Bearer abc.def"}),
        ("/nowhere", FORWARDED),
    ]
    statuses = []
    for path, headers in cases:
        one = _curl(w.http_url + path, headers, h2=False)
        two = _curl(w.http_url + path, headers, h2=True)
        assert (one[1], two[1]) == ("1.1", "2")
        assert (two[0], two[2], two[3]) == (one[0], one[2], one[3]), path
        statuses.append(one[0])
    assert statuses == [200, 403, 401, 200, 401, 404]


def test_h2c_oversized_headers_are_refused(make_warden):
    w = make_warden(http=True, extra_args=["--http-max-header-bytes", "8192"])
    assert _curl(w.http_url + "/forward-auth", {**FORWARDED, "X-Big": "a" * 16384}, h2=True)[:2] == (431, "2")
    assert _curl(w.http_url + "/forward-auth", {**FORWARDED, "X-Big": "a" * 4096}, h2=True)[:2] == (200, "2")
    _, metrics = w.admin_status("/metrics")
    assert 'warden_front_door_checks_total{front_door="forward_auth",decision="allowed"} 1' in metrics


def test_h2c_check_waiting_for_cold_keys_holds_nothing(make_warden, idp, tmp_path):
    """As over HTTP/1.1: the waiting stream is answered later; meanwhile other h2c checks are answered."""
    idp.delay = 1.0
    w = make_warden(write_policy_dir(tmp_path / "p", _jwt_policies(idp)), http=True, wait_ready=False,
                    extra_args=["--default-deadline", "3s", "--threads", "1"])
    wait_until(lambda: _accepts(w.http_port), 10, what="front door listening")
    token = Minter(idp).mint()
    results = {}

    def slow():
        results["slow"] = _curl(w.http_url + "/forward-auth", {**FORWARDED, "Authorization": f"Bearer {token}"}, h2=True)
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.1)
    assert _curl(w.http_url + "/forward-auth", FORWARDED, h2=True)[:2] == (403, "2")
    assert t.is_alive(), "the waiting check blocks nothing on the event loop"
    t.join(timeout=8)
    assert results["slow"][:2] == (200, "2"), results["slow"]


def test_h2c_drain_answers_the_check_in_flight_then_closes(make_warden, idp, tmp_path):
    """SIGTERM while an h2c check waits for keys: it is still answered (within --shutdown-grace), new
    connections are refused, and Warden exits 0."""
    idp.delay = 1.5
    w = make_warden(write_policy_dir(tmp_path / "p", _jwt_policies(idp)), http=True, wait_ready=False,
                    extra_args=["--default-deadline", "4s", "--shutdown-grace", "5s"])
    wait_until(lambda: _accepts(w.http_port), 10, what="front door listening")
    token = Minter(idp).mint()
    results = {}

    def slow():
        results["slow"] = _curl(w.http_url + "/forward-auth", {**FORWARDED, "Authorization": f"Bearer {token}"}, h2=True)
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)
    w.terminate()
    t.join(timeout=10)
    assert results["slow"][:2] == (200, "2"), results["slow"]
    assert w.wait(timeout=15) == 0
    with socket.socket() as s:
        assert s.connect_ex((LOCALHOST, w.http_port)) != 0


def _hpack_int(value: int, prefix_bits: int, first: int) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out, value = [first | limit], value - limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    return bytes(out + [value])


def _hpack_literal(name: str, value: str, first: int = 0x00, prefix_bits: int = 4) -> bytes:
    """A literal field with a new name (no Huffman): without indexing (0x00) or indexed (0x40, 6 bits)."""
    n, v = name.encode(), value.encode()
    return bytes([first]) + _hpack_int(len(n), 7, 0) + n + _hpack_int(len(v), 7, 0) + v


def _h2_frames(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


def _rss_kib(pid: int, field: str) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _bomb_connection(port: int, block: bytes, blocks: int) -> bytes:
    """Sends `blocks` header blocks (streams 1, 3, …) on one h2c connection; returns what came back until EOF."""
    received = b""
    with socket.create_connection((LOCALHOST, port), timeout=5) as s:
        try:
            s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _h2_frames(4, 0, 0, b""))
            for stream in range(1, 2 * blocks, 2):
                chunks = [block[i:i + 16384] for i in range(0, len(block), 16384)]
                frames = _h2_frames(1, 0x1, stream, chunks[0])  # HEADERS, END_STREAM
                for i, chunk in enumerate(chunks[1:], 1):
                    frames += _h2_frames(9, 0x4 if i == len(chunks) - 1 else 0, stream, chunk)  # CONTINUATION
                s.sendall(frames)
            while data := s.recv(65536):
                received += data
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed after its first 431, while the client was still sending
    return received


def test_h2c_header_list_bomb_is_431_and_bounded_in_memory(make_warden):
    """HPACK lets one byte name a 4 KB dynamic-table entry again: a ~400 KB header block (libh2o's cap,
    H2O_MAX_REQLEN) that decodes to ~1.6 GB of fields. libh2o shares the entry instead of copying it but
    still builds a ~40 MB field list; Warden answers 431 from the sizes alone, closes the connection after
    it (as libmicrohttpd does on HTTP/1.1), and reads little at a time, so memory stays bounded."""
    w = make_warden(http=True, extra_args=["--http-max-header-bytes", "8192", "--threads", "1"])
    block = (_hpack_literal(":method", "GET") + _hpack_literal(":scheme", "http") + _hpack_literal(":path", "/forward-auth")
             + _hpack_literal(":authority", "x") + _hpack_literal("x-bomb", "a" * 4000, first=0x40, prefix_bits=6))
    block += bytes([0xBE]) * (400_000 - len(block))  # index 62: the entry just added
    before = _rss_kib(w.process.pid, "VmRSS")
    # One block: answered 431, then the connection ends.
    assert _bomb_connection(w.http_port, block, 1).count(b"request header fields too large") == 1
    # Ten blocks back to back on each of four connections: at most the first is answered on each.
    for _ in range(4):
        assert _bomb_connection(w.http_port, block, 10).count(b"request header fields too large") <= 1
    peak = _rss_kib(w.process.pid, "VmHWM")
    assert peak - before < 128 * 1024, (before, peak)  # without the bounds: ~400 MB for one connection's ten
    _, metrics = w.admin_status("/metrics")
    assert 'front_door="forward_auth"' not in metrics
    assert httpclient.get(w.http_url + "/forward-auth", headers=FORWARDED).status == 200


_DENY_ON_CONNECTION_FACTS = {"deny.yaml": """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: block-range, namespace: default}
spec:
  action: DENY
  rules:
  - from: [{source: {ipBlocks: ["192.0.2.0/24"]}}]
    to: [{operation: {paths: ["/orders*"]}}]
  - from: [{source: {namespaces: ["quarantine"]}}]
    to: [{operation: {paths: ["/admin*"]}}]
"""}


def test_a_deny_on_an_unreported_connection_fact_fails_closed(make_warden, tmp_path):
    """A DENY on `ipBlocks` or `namespaces` cannot be decided when the front door is not trusted to report
    the address or the principal: it matches (403, `policy_denied_connection_fact_unreported`) instead of
    never matching, which would let the blocked range in. Trusted and reported, it is decided on the value."""
    policies = write_policy_dir(tmp_path / "deny-facts", _DENY_ON_CONNECTION_FACTS)
    blind = make_warden(policies, http=True)
    seeing = make_warden(policies, http=True, http_trusted_headers="client-address,client-principal")
    for door, headers in (("/forward-auth", FORWARDED), ("/envoy/orders", {"Host": "shop.example"})):
        r = httpclient.get(blind.http_url + door, headers=headers)
        assert r.status == 403 and r.text == "RBAC: access denied", r.text
        assert "fail closed: source.ip not reported by this front door" in r.headers["x-warden-reason"]
        for address, status in (("198.51.100.7", 200), ("192.0.2.9", 403)):
            r = httpclient.get(seeing.http_url + door, headers={**headers, "X-Warden-Client-Address": address})
            assert r.status == status, (door, address, r.text)
    # A path no rule with an unreported fact covers is decided as before; trusted without a principal
    # (plaintext) the namespaces rule does not match.
    admin = {**FORWARDED, "X-Forwarded-Uri": "/admin"}
    assert httpclient.get(blind.http_url + "/forward-auth", headers={**FORWARDED, "X-Forwarded-Uri": "/public"}).status == 200
    assert httpclient.get(blind.http_url + "/forward-auth", headers=admin).status == 403
    assert httpclient.get(seeing.http_url + "/forward-auth", headers={**admin, "X-Warden-Client-Address": "198.51.100.7"}).status == 200
    r = httpclient.get(seeing.http_url + "/forward-auth",
                       headers={**admin, "X-Warden-Client-Address": "198.51.100.7",
                                "X-Warden-Client-Principal": "spiffe://cluster.local/ns/quarantine/sa/x"})
    assert r.status == 403
    _, log = blind.admin_status("/metrics")
    assert 'reason="policy_denied_connection_fact_unreported"} 3' in log, log
