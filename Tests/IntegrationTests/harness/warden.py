"""The Warden binary under test: `$WARDEN_BIN serve …`, ready when admin `/readyz` answers 200."""
from __future__ import annotations

import os
import signal
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from .ports import LOCALHOST, free_port, wait_until
from .process import ManagedProcess

# A policy that allows everything in Istio semantics (one empty rule): what the foundation behaves like.
ALLOW_ALL_POLICY = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: allow-all
  namespace: default
spec:
  action: ALLOW
  rules:
  - {}
"""


def warden_binary() -> str | None:
    """The binary from `$WARDEN_BIN` when it names an executable file, else None."""
    path = os.environ.get("WARDEN_BIN", "")
    return path if path and os.path.isfile(path) and os.access(path, os.X_OK) else None


def missing_binary_reason() -> str:
    path = os.environ.get("WARDEN_BIN")
    if not path:
        return "WARDEN_BIN is not set (run via `make test`, or WARDEN_BIN=/abs/path/to/warden)"
    return f"WARDEN_BIN={path} is not an executable file (build it: swift build -c release --product warden)"


def write_policy_dir(directory: str | os.PathLike, files: dict[str, str] | None = None) -> Path:
    """Writes policy files (name → YAML text) into `directory`; the default is the allow-all policy."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in (files or {"allow-all.yaml": ALLOW_ALL_POLICY}).items():
        (directory / name).write_text(text)
    return directory


class Warden:
    """A running `warden serve`. `address` is the gRPC host:port, `admin_url` the admin base URL."""

    def __init__(self, policies: list[str | os.PathLike] | str | os.PathLike, *, binary: str | None = None,
                 namespace: str | None = None, workload_labels: dict[str, str] | None = None,
                 root_namespace: str | None = None, threads: int | None = None,
                 cache_dir: str | os.PathLike | None = None, shutdown_grace: float | None = None,
                 tls_cert: str | None = None, tls_key: str | None = None, tls_client_ca: str | None = None,
                 extra_args: list[str] | None = None, debug_headers: bool = True, env: dict[str, str] | None = None,
                 work_dir: str | os.PathLike | None = None, ready_timeout: float = 15.0, wait_ready: bool = True,
                 http: bool = False, http_trusted_headers: str | None = None):
        binary = binary or warden_binary()
        if not binary:
            raise RuntimeError(missing_binary_reason())
        self.work_dir = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="warden-"))
        self.port = free_port()
        self.admin_port = free_port()
        args = ["serve", "--listen", f"{LOCALHOST}:{self.port}", "--admin-listen", f"{LOCALHOST}:{self.admin_port}"]
        # The HTTP front door (Envoy http_service, forward-auth), off unless asked for.
        self.http_port = free_port() if http else 0
        if http:
            args += ["--http-listen", f"{LOCALHOST}:{self.http_port}"]
        if http_trusted_headers:
            args += ["--http-trusted-headers", http_trusted_headers]
        for policy in policies if isinstance(policies, (list, tuple)) else [policies]:
            args += ["--policy", str(policy)]
        if namespace:
            args += ["--namespace", namespace]
        if workload_labels:
            args += ["--workload-labels", ",".join(f"{k}={v}" for k, v in workload_labels.items())]
        if root_namespace:
            args += ["--root-namespace", root_namespace]
        if threads:
            args += ["--threads", str(threads)]
        if cache_dir:
            args += ["--cache-dir", str(cache_dir)]
        if shutdown_grace is not None:
            args += ["--shutdown-grace", f"{shutdown_grace:g}"]
        if tls_cert:
            args += ["--tls-cert", tls_cert, "--tls-key", tls_key]
        if tls_client_ca:
            args += ["--tls-client-ca", tls_client_ca]
        # Debug headers (x-warden-decision, x-warden-reason, x-warden-denied-by) let tests see why.
        args += ["--debug-headers"] if debug_headers else []
        args += extra_args or []
        self.argv = [binary, *args]
        self.process = ManagedProcess("warden", self.argv, env=env, log_dir=self.work_dir)
        if wait_ready:
            try:
                self.wait_ready(ready_timeout)
            except BaseException:
                self.stop(timeout=2)
                raise

    @property
    def address(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://{LOCALHOST}:{self.http_port}"

    @property
    def admin_url(self) -> str:
        return f"http://{LOCALHOST}:{self.admin_port}"

    def admin_status(self, path: str, timeout: float = 1.0) -> tuple[int, str]:
        """(status, body) of an admin GET; status 0 when the connection fails."""
        try:
            with urllib.request.urlopen(self.admin_url + path, timeout=timeout) as r:
                return r.status, r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")
        except OSError:
            return 0, ""

    def wait_ready(self, timeout: float = 15.0) -> None:
        def ready():
            self.process.check_alive()
            return self.admin_status("/readyz")[0] == 200
        wait_until(ready, timeout, what="warden /readyz == 200")

    def terminate(self) -> None:
        """SIGTERM without waiting (graceful shutdown starts)."""
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, bounded wait, SIGKILL if needed. Returns the exit code."""
        return self.process.stop(signal.SIGTERM, timeout=timeout)

    def log_text(self) -> str:
        return self.process.log_text()
