"""Helpers shared by the test_policy_* modules: raw HTTP(S) requests with full control over Host and the
request target, and the upstream record of one request (found by a unique `x-case` header)."""
from __future__ import annotations

import http.client
import itertools
import json
import ssl
from dataclasses import dataclass, field

from harness.ports import LOCALHOST

_case_ids = itertools.count(1)


@dataclass
class Result:
    """What the client saw and, when the request reached it, what the upstream received."""
    status: int
    headers: dict[str, str]
    body: bytes
    upstream: dict | None = None
    case: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")

    @property
    def upstream_headers(self) -> dict[str, str]:
        return (self.upstream or {}).get("headers", {})

    def __repr__(self) -> str:  # readable assertion failures
        up = None if self.upstream is None else {"path": self.upstream["path"], "headers": self.upstream["headers"]}
        return f"Result(status={self.status}, body={self.text!r}, headers={self.headers}, upstream={up})"


def send(port: int, method: str, target: str, headers: dict[str, str] | list[tuple[str, str]] | None = None, *,
         host: str | None = None, upstream=None, tls: ssl.SSLContext | None = None, body: bytes | None = None,
         timeout: float = 5.0) -> Result:
    """Sends `method target` verbatim (no client-side path normalization) to 127.0.0.1:port.

    `host` sets the Host header (default 127.0.0.1:port). With `upstream`, a unique `x-case` header is
    added and the upstream's record of this request (or None) is attached to the result."""
    case = f"c{next(_case_ids)}"
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    if upstream is not None:
        items.append(("x-case", case))
    if tls is not None:
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(LOCALHOST, port, timeout=timeout, context=tls)
    else:
        conn = http.client.HTTPConnection(LOCALHOST, port, timeout=timeout)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host or f"{LOCALHOST}:{port}")
        for name, value in items:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        data = response.read()
        result = Result(response.status, {k.lower(): v for k, v in response.getheaders()}, data, case=case)
    finally:
        conn.close()
    if upstream is not None:
        result.upstream = find_upstream(upstream, case)
    return result


def find_upstream(upstream, case: str) -> dict | None:
    with upstream._lock:
        for entry in upstream.requests:
            if entry["headers"].get("x-case") == case:
                return entry
    return None


def echo(result: Result) -> dict:
    """The upstream's JSON echo from a 200 response body."""
    return json.loads(result.body)
