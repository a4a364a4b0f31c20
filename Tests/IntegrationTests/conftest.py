"""Fixtures for Warden's integration tests with real peers (see harness/ for the pieces).

Fixtures (scope):
  warden_bin (session)         path of $WARDEN_BIN; skips the test when missing (fails if WARDEN_REQUIRE_BIN=1)
  idp (function), module_idp   harness.idp.IdP on 127.0.0.1: JWKS + discovery, rotation/outage controls
  minter (function)            harness.tokens.Minter bound to `idp`
  upstream (module)            harness.upstream.EchoUpstream: 200 + JSON echo of method, path, headers
  policy_dir (function)        a directory holding the allow-all AuthorizationPolicy
  make_warden (function)       factory(policies=None, **Warden kwargs) -> harness.warden.Warden, stopped at teardown
  warden (module)              one allow-all Warden for the module
  authz (function)             harness.grpc_client.AuthzClient connected to `warden`
  make_envoy (module)          factory(config=None, **render_config kwargs) -> harness.envoy.Envoy, stopped at teardown

On a failing test the tail of every live process's log (Warden, Envoy) is attached to the report.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import process as process_mod  # noqa: E402
from harness.envoy import Envoy, render_config  # noqa: E402
from harness.grpc_client import AuthzClient  # noqa: E402
from harness.idp import IdP  # noqa: E402
from harness.tokens import Minter  # noqa: E402
from harness.upstream import EchoUpstream  # noqa: E402
from harness.warden import Warden, missing_binary_reason, warden_binary, write_policy_dir  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for proc in process_mod.registered():
            state = "running" if proc.alive() else f"exited {proc.popen.returncode}"
            report.sections.append((f"{proc.name} log ({state}, pid {proc.pid}, {proc.log_path})",
                                    proc.log_tail(150)))


@pytest.fixture(scope="session", autouse=True)
def _kill_leftover_processes():
    yield
    process_mod.kill_all()


@pytest.fixture(scope="session")
def warden_bin() -> str:
    binary = warden_binary()
    if binary is None:
        if os.environ.get("WARDEN_REQUIRE_BIN") == "1":
            pytest.fail(missing_binary_reason())
        pytest.skip(missing_binary_reason())
    return binary


@pytest.fixture
def idp():
    server = IdP()
    yield server
    server.close()


@pytest.fixture(scope="module")
def module_idp():
    server = IdP()
    yield server
    server.close()


@pytest.fixture
def minter(idp) -> Minter:
    return Minter(idp)


@pytest.fixture(scope="module")
def upstream():
    server = EchoUpstream()
    yield server
    server.close()


@pytest.fixture
def policy_dir(tmp_path) -> Path:
    return write_policy_dir(tmp_path / "policies")


def _stop_all(items, stop):
    errors = []
    for item in reversed(items):
        try:
            stop(item)
        except Exception as error:  # noqa: BLE001 - stop every process, then report
            errors.append(error)
    if errors:
        raise errors[0]


@pytest.fixture
def make_warden(warden_bin, tmp_path):
    started: list[Warden] = []

    def factory(policies=None, **kwargs) -> Warden:
        if policies is None:
            policies = write_policy_dir(tmp_path / f"policies-{len(started)}")
        kwargs.setdefault("work_dir", tmp_path / f"warden-{len(started)}")
        instance = Warden(policies, binary=warden_bin, **kwargs)
        started.append(instance)
        return instance

    yield factory

    def stop(w: Warden):
        w.stop()
        w.process.unregister()
    _stop_all(started, stop)


@pytest.fixture(scope="module")
def warden(warden_bin, tmp_path_factory):
    base = tmp_path_factory.mktemp("warden")
    instance = Warden(write_policy_dir(base / "policies"), binary=warden_bin, work_dir=base)
    yield instance
    instance.stop()
    instance.process.unregister()


@pytest.fixture
def authz(warden):
    client = AuthzClient(warden.address)
    yield client
    client.close()


@pytest.fixture(scope="module")
def make_envoy(tmp_path_factory):
    started: list[Envoy] = []

    def factory(config: dict | None = None, **render_kwargs) -> Envoy:
        config = config if config is not None else render_config(**render_kwargs)
        instance = Envoy(config, work_dir=tmp_path_factory.mktemp("envoy"))
        started.append(instance)
        return instance

    yield factory
    _stop_all(started, lambda e: e.stop())
