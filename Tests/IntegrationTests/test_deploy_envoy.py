"""Every Envoy config in deploy/envoy passes `envoy --mode validate`, and the main one runs in the rig."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from harness import httpclient
from harness.deploy import CONFIGS, MAIN, MTLS, TLS_DIR, materialize
from harness.envoy import load_for_rig, validate
from harness.ports import free_port


def test_deploy_envoy_has_configs():
    assert MAIN in CONFIGS and MTLS in CONFIGS


@pytest.mark.parametrize("config", CONFIGS, ids=[c.name for c in CONFIGS])
def test_envoy_validates(config, tmp_path):
    path, _ = materialize(config, tmp_path)
    result = validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"configuration '{path}' OK" in result.stdout


def test_mtls_variant_differs_from_main_only_by_the_warden_transport_socket():
    main = yaml.safe_load(MAIN.read_text())
    mtls = yaml.safe_load(MTLS.read_text())
    warden = next(c for c in mtls["static_resources"]["clusters"] if c["name"] == "warden")
    tls = warden.pop("transport_socket")["typed_config"]
    assert tls["common_tls_context"]["alpn_protocols"] == ["h2"]
    assert tls["common_tls_context"]["tls_certificates"][0]["certificate_chain"]["filename"].startswith(TLS_DIR)
    assert mtls == main


def test_validate_rejects_a_broken_config(tmp_path):
    config = yaml.safe_load(MAIN.read_text())
    filters = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    filters["http_filters"][0]["typed_config"]["transport_api_version"] = "V4"
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(config))
    assert validate(broken).returncode != 0


def _ext_authz(config: dict) -> dict:
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    return next(f for f in hcm["http_filters"] if f["name"] == "envoy.filters.http.ext_authz")["typed_config"]


def test_main_config_has_the_documented_settings():
    config = yaml.safe_load(MAIN.read_text())
    authz = _ext_authz(config)
    assert authz["grpc_service"]["envoy_grpc"] == {"cluster_name": "warden"}
    assert authz["grpc_service"]["timeout"] == "0.25s"
    retry = {m["key"]: m["value"] for m in authz["grpc_service"]["initial_metadata"]}
    assert retry["x-envoy-retry-on"] == "connect-failure,refused-stream,reset"
    assert authz["transport_api_version"] == "V3"
    assert authz["failure_mode_allow"] is False
    assert authz["include_peer_certificate"] is True
    warden = next(c for c in config["static_resources"]["clusters"] if c["name"] == "warden")
    assert warden["health_checks"][0]["grpc_health_check"] == {}
    endpoint = warden["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert (endpoint["address"], endpoint["port_value"]) == ("127.0.0.1", 9191)


@pytest.fixture(scope="module")
def main_envoy_without_warden(make_envoy, upstream):
    return make_envoy(load_for_rig(MAIN, upstream_port=upstream.port, warden_port=free_port()))


def test_main_config_serves_healthz_without_warden(main_envoy_without_warden, upstream):
    upstream.clear()
    response = httpclient.get(main_envoy_without_warden.url("/healthz"))
    assert response.status == 200
    assert response.json()["path"] == "/healthz"


@pytest.mark.parametrize("path", ["/", "/admin/users", "/healthz/x"])
def test_main_config_fails_closed_without_warden(main_envoy_without_warden, upstream, path):
    upstream.clear()
    response = httpclient.get(main_envoy_without_warden.url(path))
    assert response.status == 403
    assert upstream.count() == 0


def test_main_config_authorizes_through_warden(make_warden, make_envoy, upstream):
    """deploy/envoy/envoy.yaml unchanged except addresses, in front of a real Warden (needs WARDEN_BIN)."""
    warden = make_warden()
    envoy = make_envoy(load_for_rig(MAIN, upstream_port=upstream.port, warden_port=warden.port))
    for path in ("/", "/admin/users?page=2"):
        upstream.clear()
        response = httpclient.get(envoy.url(path))
        assert response.status == 200, response.text
        assert response.json()["path"] == path
        assert response.json()["headers"]["x-warden-decision"] == "allow"
    assert "x-warden-decision" not in httpclient.get(envoy.url("/healthz")).json()["headers"]


def test_every_envoy_sample_validates_mutations():
    """Every ext_authz filter under deploy/ (and the bench's) sets validate_mutations: an answer with an
    invalid header name or value is an error (fail closed), never forwarded."""
    root = Path(__file__).resolve().parents[2]
    samples = [p for p in [*root.joinpath("deploy").rglob("*.yaml"), root / "bench/envoy/ext_authz.yaml"]
               if "envoy.extensions.filters.http.ext_authz.v3.ExtAuthz" in p.read_text()]
    assert len(samples) >= 4, samples
    for p in samples:
        assert re.search(r"^\s*validate_mutations: true\s*$", p.read_text(), re.M), p


def test_every_envoy_sample_normalizes_paths_as_istio():
    """The path Warden decides on is the path the application receives: each listener's HCM sets Istio's
    normalization (normalize_path, merge_slashes) and refuses encoded slashes."""
    root = Path(__file__).resolve().parents[2]
    for p in root.joinpath("deploy").rglob("*.yaml"):
        text = p.read_text()
        if "envoy.extensions.filters.http.ext_authz.v3.ExtAuthz" not in text:
            continue
        for key in ("normalize_path: true", "merge_slashes: true", "path_with_escaped_slashes_action: REJECT_REQUEST"):
            assert re.search(rf"^\s*{key}\s*$", text, re.M), (p, key)


@pytest.mark.parametrize("raw, status, seen", [
    ("/x/../healthz", 200, "/healthz"),          # RFC 3986 dot segments removed before routing
    ("//healthz", 200, "/healthz"),              # merged slashes
    ("/healthz%2Fx", 400, None),                 # encoded slash: refused, never reinterpreted
], ids=["dot-segment", "double-slash", "encoded-slash"])
def test_main_config_normalizes_paths_before_deciding(main_envoy_without_warden, upstream, raw, status, seen):
    """Through the sample itself: the path Envoy routes (and asks Warden about) is normalized as Istio's."""
    import socket
    upstream.clear()
    host, port = main_envoy_without_warden.url("/").split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(f"GET {raw} HTTP/1.1\r\nhost: example.com\r\nconnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert int(data.split(b" ", 2)[1]) == status, data[:200]
    if seen:
        assert f'"path": "{seen}"'.encode() in data or f'"path":"{seen}"'.encode() in data
