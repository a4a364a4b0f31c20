"""A tiny upstream that echoes what it received, so tests can see headers Envoy/Warden added or removed."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .ports import LOCALHOST


class EchoUpstream:
    """Answers every request 200 with JSON: {"method", "path" (with query), "headers": {lower-name: value},
    "header_list": [[name, value], ...] (duplicates kept), "body"}. `requests` records the same dicts."""

    def __init__(self):
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((LOCALHOST, 0), _handler_for(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"upstream-{self.port}",
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def last(self) -> dict:
        with self._lock:
            return self.requests[-1]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def _record(self, entry: dict) -> None:
        with self._lock:
            self.requests.append(entry)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler_for(upstream: EchoUpstream):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002
            pass

        def _echo(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            header_list = [[name.lower(), value] for name, value in self.headers.items()]
            entry = {
                "method": self.command,
                "path": self.path,
                "headers": {name: value for name, value in header_list},
                "header_list": header_list,
                "body": body.decode(errors="replace"),
            }
            upstream._record(entry)
            payload = json.dumps(entry).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _echo  # noqa: N815

    return Handler
