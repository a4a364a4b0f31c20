"""Child processes that always get cleaned up, with their output captured for failure reports."""
from __future__ import annotations

import atexit
import os
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

from .ports import StopWaiting

_REGISTRY: list["ManagedProcess"] = []
_LOCK = threading.Lock()


class ProcessExited(StopWaiting):
    """The process ended while we were waiting for it to become ready."""


class ManagedProcess:
    """One child process. Output (stdout+stderr) goes to a log file; `stop()` is bounded and idempotent."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str] | None = None,
                 cwd: str | os.PathLike | None = None, log_dir: str | os.PathLike | None = None):
        self.name = name
        self.argv = [str(a) for a in argv]
        log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="warden-it-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self.popen = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT, env=full_env,
                                      cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True)
        self.returncode: int | None = None
        with _LOCK:
            _REGISTRY.append(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def check_alive(self) -> None:
        """Raises ProcessExited (with the log tail) when the process is gone."""
        if not self.alive():
            raise ProcessExited(f"{self.name} exited with {self.popen.returncode}:\n{self.log_tail()}")

    def send_signal(self, sig: int = signal.SIGTERM) -> None:
        if self.alive():
            self.popen.send_signal(sig)

    def wait(self, timeout: float) -> int:
        """Waits for exit (bounded) and returns the exit code; raises subprocess.TimeoutExpired."""
        self.returncode = self.popen.wait(timeout=timeout)
        return self.returncode

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Sends `sig`, waits up to `timeout`, then SIGKILLs the whole process group. Returns the exit code
        (negative signal number when killed by a signal)."""
        if self.alive():
            try:
                self.popen.send_signal(sig)
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.returncode = self.popen.wait(timeout=10)
        return self.returncode

    def kill(self) -> None:
        if self.alive():
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait(timeout=10)

    def log_text(self) -> str:
        if not self._log.closed:
            self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 200) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def unregister(self) -> None:
        with _LOCK:
            if self in _REGISTRY:
                _REGISTRY.remove(self)
        self._log.close()

    def __repr__(self) -> str:
        return f"<{self.name} pid={self.pid} alive={self.alive()}>"


def registered() -> list[ManagedProcess]:
    """Processes started and not yet unregistered (live ones, and stopped ones whose logs are still wanted)."""
    with _LOCK:
        return list(_REGISTRY)


def kill_all() -> None:
    """Last-resort cleanup: SIGKILL every registered process."""
    for process in registered():
        process.kill()
        process.unregister()


atexit.register(kill_all)
