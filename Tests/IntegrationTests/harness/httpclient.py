"""A plain HTTP/1.1 client for tests: never raises on 4xx/5xx, bounded by a timeout."""
from __future__ import annotations

import http.client
import json as _json
from dataclasses import dataclass


@dataclass
class HTTPResponse:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes
    header_list: list[tuple[str, str]] = ()  # lower-cased names, in order, repeated ones kept

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")

    def json(self):
        return _json.loads(self.body)


def request(method: str, url: str, headers: dict[str, str] | list[tuple[str, str]] | None = None,
            body: bytes | str | None = None, timeout: float = 5.0) -> HTTPResponse:
    """Sends one request on a fresh connection. `url` is http://host:port/path?query."""
    assert url.startswith("http://"), url
    rest = url[len("http://"):]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        items = list(headers.items() if isinstance(headers, dict) else (headers or []))
        # A Host given by the caller replaces the one from the URL.
        conn.putrequest(method, "/" + path, skip_accept_encoding=True, skip_host=any(n.lower() == "host" for n, _ in items))
        for name, value in items:
            conn.putheader(name, value)
        if isinstance(body, str):
            body = body.encode()
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        data = response.read()
        return HTTPResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, data,
                            [(k.lower(), v) for k, v in response.getheaders()])
    finally:
        conn.close()


def get(url: str, headers=None, timeout: float = 5.0) -> HTTPResponse:
    return request("GET", url, headers=headers, timeout=timeout)
