"""Real proxies in front of Warden's HTTP front door, each run from the exact config under deploy/:
nginx (`deploy/nginx/nginx.conf`, auth_request), Caddy (`deploy/caddy/Caddyfile`, forward_auth) and
Envoy with `http_service` (`deploy/envoy/envoy-http.yaml`). Only addresses are rewritten: the proxy's
listener to a free port, Warden's front door and the app to the rig's."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from . import httpclient
from .envoy import Envoy, _endpoints, _socket
from .ports import LOCALHOST, free_port, wait_until
from .process import ManagedProcess

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
NGINX_CONF = DEPLOY / "nginx" / "nginx.conf"
CADDYFILE = DEPLOY / "caddy" / "Caddyfile"
ENVOY_HTTP = DEPLOY / "envoy" / "envoy-http.yaml"
ENVOY_HTTP2 = DEPLOY / "envoy" / "envoy-http2.yaml"
# The addresses the deploy samples use.
SAMPLE_WARDEN_HTTP = "127.0.0.1:9192"
SAMPLE_APP = "127.0.0.1:8000"
SAMPLE_LISTEN = "127.0.0.1:8080"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def caddy_binary() -> str | None:
    return shutil.which("caddy")


class Proxy:
    """A running proxy: `url(path)` addresses its listener."""

    name = "proxy"

    def __init__(self, port: int, process: ManagedProcess):
        self.port = port
        self.process = process

    @property
    def base_url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def wait_serving(self, timeout: float = 15.0) -> None:
        def up():
            self.process.check_alive()
            try:
                return httpclient.get(self.url("/healthz"), timeout=1).status == 200
            except OSError:
                return False
        wait_until(up, timeout, what=f"{self.name} /healthz == 200")

    def stop(self) -> None:
        self.process.stop(timeout=5)
        self.process.unregister()


class Nginx(Proxy):
    name = "nginx"

    def __init__(self, work_dir: Path, *, warden_http_port: int, upstream_port: int):
        work_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        text = NGINX_CONF.read_text()
        for sample, real in ((SAMPLE_WARDEN_HTTP, f"{LOCALHOST}:{warden_http_port}"), (SAMPLE_APP, f"{LOCALHOST}:{upstream_port}"),
                             (SAMPLE_LISTEN, f"{LOCALHOST}:{port}")):
            assert sample in text, (NGINX_CONF, sample)
            text = text.replace(sample, real)
        conf = work_dir / "nginx.conf"
        conf.write_text(text)
        # Only where nginx keeps its own files moves into the test's directory (not part of the sample).
        globals_ = (f"daemon off; pid {work_dir}/nginx.pid; error_log {work_dir}/error.log warn;")
        for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (work_dir / temp).mkdir(exist_ok=True)
        conf.write_text(text.replace("http {", "http {\n" + "".join(
            f"    {t}_temp_path {work_dir}/{t};\n" for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")), 1))
        process = ManagedProcess("nginx", [nginx_binary(), "-p", str(work_dir), "-c", str(conf), "-g", globals_], log_dir=work_dir)
        super().__init__(port, process)
        try:
            self.wait_serving()
        except BaseException:
            self.stop()
            raise


class Caddy(Proxy):
    name = "caddy"

    def __init__(self, work_dir: Path, *, warden_http_port: int, upstream_port: int):
        work_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        text = CADDYFILE.read_text()
        for sample, real in ((SAMPLE_WARDEN_HTTP, f"{LOCALHOST}:{warden_http_port}"), (SAMPLE_APP, f"{LOCALHOST}:{upstream_port}"),
                             (":8080 {", f":{port} {{")):
            assert sample in text, (CADDYFILE, sample)
            text = text.replace(sample, real)
        conf = work_dir / "Caddyfile"
        conf.write_text(text)
        env = {"HOME": str(work_dir), "XDG_DATA_HOME": str(work_dir / "data"), "XDG_CONFIG_HOME": str(work_dir / "config")}
        process = ManagedProcess("caddy", [caddy_binary(), "run", "--config", str(conf), "--adapter", "caddyfile"], env=env,
                                 log_dir=work_dir)
        super().__init__(port, process)
        try:
            self.wait_serving()
        except BaseException:
            self.stop()
            raise


def envoy_http_config(*, warden_http_port: int, warden_admin_port: int, upstream_port: int, http2: bool = False) -> dict:
    """deploy/envoy/envoy-http.yaml (or envoy-http2.yaml: h2c to Warden) pointed at the rig (the health
    check at Warden's admin port)."""
    config = yaml.safe_load((ENVOY_HTTP2 if http2 else ENVOY_HTTP).read_text())
    config["admin"]["address"] = _socket(LOCALHOST, 0)
    for listener in config["static_resources"]["listeners"]:
        listener["address"] = _socket(LOCALHOST, 0)
    for cluster in config["static_resources"]["clusters"]:
        if cluster["name"] == "warden":
            endpoints = _endpoints("warden", LOCALHOST, warden_http_port)
            endpoints["endpoints"][0]["lb_endpoints"][0]["endpoint"]["health_check_config"] = {"port_value": warden_admin_port}
            cluster["load_assignment"] = endpoints
        elif cluster["name"] == "app":
            cluster["load_assignment"] = _endpoints("app", LOCALHOST, upstream_port)
    return config


def validate_nginx(conf: Path = NGINX_CONF) -> subprocess.CompletedProcess:
    return subprocess.run([nginx_binary(), "-t", "-c", str(conf)], capture_output=True, text=True, timeout=30)


def validate_caddy(conf: Path = CADDYFILE) -> subprocess.CompletedProcess:
    return subprocess.run([caddy_binary(), "validate", "--config", str(conf), "--adapter", "caddyfile"],
                          capture_output=True, text=True, timeout=30)
