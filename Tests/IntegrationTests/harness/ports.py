"""Free-port allocation on 127.0.0.1."""
from __future__ import annotations

import contextlib
import socket
import time

LOCALHOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the kernel's ephemeral pick).

    Prefer binding to port 0 directly where the server allows it; this is for processes that must be
    told their port up front.
    """
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind((LOCALHOST, 0))
        return s.getsockname()[1]


def is_listening(port: int, host: str = LOCALHOST, timeout: float = 0.2) -> bool:
    """True when a TCP connect to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class StopWaiting(RuntimeError):
    """Raised by a `wait_until` predicate when waiting longer cannot help (e.g. the process died)."""


def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Polls `predicate` until it returns a truthy value (returned) or `timeout` seconds pass (TimeoutError)."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except StopWaiting:
            raise
        except Exception as error:  # noqa: BLE001 - a poll may fail until the peer is up
            last_error = error
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}{detail}")
        time.sleep(interval)
