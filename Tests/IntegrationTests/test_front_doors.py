"""The HTTP front door through real proxies, each run from its deploy/ config: Envoy `http_service`
(deploy/envoy/envoy-http.yaml; envoy-http2.yaml, the same over h2c), nginx `auth_request` (deploy/nginx/nginx.conf) and Caddy `forward_auth`
(deploy/caddy/Caddyfile), beside Envoy's gRPC ext_authz (deploy/envoy/envoy.yaml) — one Warden, one
policy directory. Every policy case must give the same status, body, WWW-Authenticate and upstream
headers through each; the spoofing cases check what each proxy config guarantees."""
from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from harness import httpclient, orders_api
from harness.deploy import MAIN
from harness.envoy import load_for_rig
from harness.proxies import (ENVOY_HTTP, ENVOY_HTTP2, Caddy, Nginx, caddy_binary, envoy_http_config, nginx_binary,
                             validate_caddy, validate_nginx)
from harness.policy_render import load_policy_dir, render_policies
from harness.tokens import Minter
from harness.warden import Warden

pytestmark = pytest.mark.skipif(not (nginx_binary() and caddy_binary()),
                                reason="nginx and caddy come from Debian (make test installs them)")

FRONT_DOORS = ["grpc", "envoy_http", "envoy_http2", "nginx", "caddy"]


def _policies(iss: str, jwks_uri: str) -> dict[str, str]:
    ap = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
    return {"policies.yaml": f"""\
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: idp, namespace: default}}
spec:
  jwtRules:
  - issuer: "{iss}"
    jwksUri: "{jwks_uri}"
    audiences: [warden-test]
    outputClaimToHeaders:
    - {{header: x-jwt-sub, claim: sub}}
    - {{header: x-jwt-scope, claim: scope}}
  - issuer: "{iss}/forwarded"
    jwksUri: "{jwks_uri}"
    forwardOriginalToken: true
    outputClaimToHeaders:
    - {{header: x-jwt-sub, claim: sub}}
---
{ap}metadata: {{name: require-jwt, namespace: default}}
spec:
  action: DENY
  rules:
  - from: [{{source: {{notRequestPrincipals: ["*"]}}}}]
    to: [{{operation: {{notPaths: ["/public*"]}}}}]
---
{ap}metadata: {{name: block-header, namespace: default}}
spec:
  action: DENY
  rules:
  - when: [{{key: "request.headers[x-block]", values: ["yes"]}}]
---
{ap}metadata: {{name: app, namespace: default}}
spec:
  action: ALLOW
  rules:
  - to: [{{operation: {{methods: [GET, HEAD]}}}}]
  - to: [{{operation: {{methods: [POST], paths: ["/orders", "/orders/*"]}}}}]
    when: [{{key: "request.auth.claims[scope]", values: ["orders:write"]}}]
  - to: [{{operation: {{methods: [POST], paths: ["/internal/*"]}}}}]
    from: [{{source: {{ipBlocks: ["127.0.0.1/32"]}}}}]
  - to: [{{operation: {{methods: [POST], paths: ["/remote-only/*"]}}}}]
    from: [{{source: {{ipBlocks: ["10.0.0.0/8"]}}}}]
  - to: [{{operation: {{methods: [POST], paths: ["/mesh-only/*"]}}}}]
    from: [{{source: {{principals: ["cluster.local/ns/a/sa/b"]}}}}]
  - to: [{{operation: {{methods: [POST], paths: ["/sni-only/*"]}}}}]
    when: [{{key: connection.sni, values: ["internal.example"]}}]
  - to: [{{operation: {{methods: [POST], paths: ["/bound/*"]}}}}]
    from: [{{source: {{requestPrincipals: ["*"]}}}}]
"""}


class Rig:
    def __init__(self, warden, upstream, doors):
        self.warden = warden
        self.upstream = upstream
        self.doors = doors

    def send(self, door: str, method: str, target: str, headers: dict[str, str] | None = None):
        """(response, what the upstream received or None)."""
        self.upstream.clear()
        # One Host for every front door, so the realm in WWW-Authenticate is the same for all.
        r = httpclient.request(method, self.doors[door].url(target), headers={"Host": "shop.example", **(headers or {})})
        seen = self.upstream.last() if self.upstream.count() else None
        return r, seen


@pytest.fixture(scope="module")
def rig(module_idp, upstream, warden_bin, make_envoy, tmp_path_factory):
    base = tmp_path_factory.mktemp("front-doors")
    policy_dir = base / "policies"
    policy_dir.mkdir()
    for name, text in _policies(module_idp.issuer, module_idp.jwks_uri).items():
        (policy_dir / name).write_text(text)
    # Every connection fact trusted, as an operator with an mTLS listener would: each proxy config must then
    # keep a client's own X-Warden-* copies from Warden.
    warden = Warden(policy_dir, binary=warden_bin, work_dir=base / "warden", debug_headers=False,
                    http=True, http_trusted_headers="all")
    started = []
    try:
        doors = {
            "grpc": make_envoy(load_for_rig(MAIN, upstream_port=upstream.port, warden_port=warden.port)),
            "envoy_http": make_envoy(envoy_http_config(warden_http_port=warden.http_port, warden_admin_port=warden.admin_port,
                                                       upstream_port=upstream.port)),
            "envoy_http2": make_envoy(envoy_http_config(warden_http_port=warden.http_port, warden_admin_port=warden.admin_port,
                                                        upstream_port=upstream.port, http2=True)),
        }
        doors["nginx"] = Nginx(base / "nginx", warden_http_port=warden.http_port, upstream_port=upstream.port)
        started.append(doors["nginx"])
        doors["caddy"] = Caddy(base / "caddy", warden_http_port=warden.http_port, upstream_port=upstream.port)
        started.append(doors["caddy"])
        yield Rig(warden, upstream, doors)
    finally:
        for p in started:
            p.stop()
        warden.stop()
        warden.process.unregister()


@pytest.fixture(scope="module")
def tokens(module_idp):
    m = Minter(module_idp)
    return {
        "read": m.mint(scope="orders:read"),
        "write": m.mint(scope="orders:write"),
        "expired": m.expired(scope="orders:read"),
        "wrong_key": m.wrong_key(),
        "wrong_aud": m.mint(aud="billing-api"),
        "forwarded": m.mint(iss=module_idp.issuer + "/forwarded", sub="bob"),
    }


def _bearer(tokens, name):
    return {"Authorization": f"Bearer {tokens[name]}"} if name else {}


# (id, method, target, token name, extra headers, expected status)
CASES = [
    ("public-no-token", "GET", "/public/info", None, {}, 200),
    ("no-token", "GET", "/orders", None, {}, 403),
    ("read", "GET", "/orders/7", "read", {}, 200),
    ("head", "HEAD", "/orders", "read", {}, 200),
    ("expired", "GET", "/orders", "expired", {}, 401),
    ("wrong-key", "GET", "/orders", "wrong_key", {}, 401),
    ("wrong-audience", "GET", "/orders", "wrong_aud", {}, 403),
    ("garbage", "GET", "/orders", None, {"Authorization": "Bearer abc.def"}, 401),
    ("write-without-scope", "POST", "/orders", "read", {}, 403),
    ("write-with-scope", "POST", "/orders", "write", {}, 200),
    ("blocked-header", "GET", "/orders", "read", {"x-block": "yes"}, 403),
    ("source-ip-allowed", "POST", "/internal/x", "read", {}, 200),
    ("source-ip-denied", "POST", "/remote-only/x", "read", {}, 403),
    ("cors-preflight", "OPTIONS", "/orders", None, {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}, 403),
    ("forwarded-token", "GET", "/orders", "forwarded", {}, 200),
]


def _upstream_view(seen):
    """The headers the app got that Warden decides: output headers and the token (empty = absent)."""
    if seen is None:
        return None
    h = seen["headers"]
    return {name: h.get(name) or None for name in ("x-jwt-sub", "x-jwt-scope", "authorization")}


def _identity_view(seen):
    """The headers the example policies (deploy/dialects) write, as the app got them (empty = absent)."""
    return {name: seen["headers"].get(name) or None for name in ("x-user-id", "x-jwt-payload")}


def _answer(r):
    return r.status, (r.text if r.status != 200 else ""), r.headers.get("www-authenticate")


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_every_front_door_answers_as_grpc(rig, tokens, case):
    _, method, target, token, extra, status = case
    headers = {**_bearer(tokens, token), **extra}
    results = {door: rig.send(door, method, target, headers) for door in FRONT_DOORS}
    grpc_response, grpc_seen = results["grpc"]
    assert grpc_response.status == status, grpc_response.text
    if status == 401 or token == "wrong_aud":
        assert grpc_response.headers["www-authenticate"].startswith('Bearer realm="http://shop.example/')
    for door in FRONT_DOORS[1:]:
        r, seen = results[door]
        assert _answer(r) == _answer(grpc_response), door
        assert (seen is None) == (status != 200), door
        assert _upstream_view(seen) == _upstream_view(grpc_seen), door
        if seen is not None:
            assert seen["method"] == method and seen["path"] == grpc_seen["path"], door


# Raw paths nginx and Caddy route on normalized but pass to the app as sent (nginx `proxy_pass` without a URI,
# Caddy `reverse_proxy`): `/orders/../public/x` would be decided as /public/x while the app gets the raw path.
RAW_PATHS = ["/orders/../public/x", "/public/../orders", "//public/x", "/public/./x", "/orders/%2e%2e/public/x",
             "/orders/%2E./public/x", "/%70ublic/x", "/orders\\..\\public\\x", "/public\\x",
             "/orders%2F..%2Fpublic/x"]


@pytest.mark.parametrize("target", RAW_PATHS)
def test_forward_auth_refuses_a_path_the_app_would_get_unresolved(rig, target):
    """Warden answers 400 (fail closed; nginx's auth_request turns any other status into 500, Caddy passes
    Warden's answer on) and the app is never reached. Envoy normalizes the path itself and passes the
    normalized one on, so through Envoy it is decided and served as one path."""
    for door, status in (("nginx", 500), ("caddy", 400)):
        r, seen = rig.send(door, "GET", target)
        assert (r.status, seen) == (status, None), (door, r.text)
        if door == "caddy":
            # Caddy sends a backslash as %5C in X-Forwarded-Uri: refused as an escaped slash.
            reason = "has an escaped slash" if "\\" in target or "%2F" in target else "is not in normal form"
            assert r.text.startswith(f"bad request: the original path {reason}"), r.text
    if "\\" not in target:
        grpc, grpc_seen = rig.send("grpc", "GET", target)
        for door in ("envoy_http", "envoy_http2"):
            r, seen = rig.send(door, "GET", target)
            assert _answer(r) == _answer(grpc), door
            if seen is not None:
                assert seen["path"] == grpc_seen["path"] and ".." not in seen["path"], door


# nginx (`location = /healthz`) and Caddy (`handle /healthz`) match the unauthenticated route on the decoded,
# normalized path; passed on raw, `/admin/delete/..%2F..%2Fhealthz?all=1` would reach the app's /admin/delete
# without Warden being asked. Envoy matches `path: /healthz` on the path it normalized and passes that one on.
HEALTHZ_ALIASES = ["/x/..%2Fhealthz", "/admin/..%2F..%2Fhealthz?x=1", "/admin/delete/..%2F..%2Fhealthz?all=1",
                   "/./healthz", "//healthz", "/x/../healthz", "/%68ealthz", "/HEALTHZ", "/healthz?x=1",
                   "/orders/..%2fhealthz", "/orders/%2e%2e/healthz", "/orders\\..\\healthz", "/healthz/."]


@pytest.mark.parametrize("target", HEALTHZ_ALIASES)
def test_unauthenticated_route_passes_only_its_own_path(rig, target):
    """Whatever reaches the app without a check is exactly /healthz (nginx and Caddy: with no query either);
    anything else is checked (no token here: 403) or refused."""
    for door in FRONT_DOORS:
        r, seen = rig.send(door, "GET", target)
        if seen is None:
            assert r.status in (400, 403, 404, 500), (door, r.status, r.text)
            continue
        assert r.status == 200, door
        if door in ("nginx", "caddy"):
            assert seen["path"] == "/healthz", (door, seen["path"])
        else:
            assert seen["path"].split("?")[0] == "/healthz", (door, seen["path"])
    for door in FRONT_DOORS:
        r, seen = rig.send(door, "GET", "/healthz")
        assert (r.status, seen and seen["path"]) == (200, "/healthz"), door


@pytest.mark.parametrize("target", ["/public/x#/../../orders", "/public/x#/../orders?y=1", "/orders#", "/public#x"])
def test_a_fragment_in_the_target_is_refused(rig, target):
    """RFC 9112 §3.2: a request target has no fragment, but nginx puts a raw `#` in $request_uri and passes it to
    the app; Warden used to decide on the part before it (/public/x: allowed without a token) while the app
    could read what follows. Refused (400, which nginx's auth_request turns into 500), never cut."""
    r, seen = rig.send("nginx", "GET", target)
    assert (r.status, seen) == (500, None), r.text
    # Caddy (Go) reads the `#` as a path byte and sends it as %23 both to Warden (X-Forwarded-Uri) and to the
    # app: checked as what the app gets (`/public%23x` is one segment), dot segments after it refused.
    r, seen = rig.send("caddy", "GET", target)
    assert seen is None or seen["path"] == target.replace("#", "%23"), seen["path"]
    if "/.." in target:
        assert (r.status, seen) == (400, None), r.text
    for door in ("grpc", "envoy_http", "envoy_http2"):
        r, seen = rig.send(door, "GET", target)
        assert seen is None or "#" not in seen["path"], (door, seen["path"])


@pytest.mark.parametrize("door", FRONT_DOORS)
@pytest.mark.parametrize("token, status", [("expired", 401), ("wrong_aud", 403)])
def test_a_denial_carries_one_challenge(rig, tokens, door, token, status):
    """nginx's auth_request copies a 401's WWW-Authenticate itself: @warden_401 must not add a second one."""
    r, _ = rig.send(door, "GET", "/orders", _bearer(tokens, token))
    challenges = [v for n, v in r.header_list if n == "www-authenticate"]
    assert (r.status, len(challenges)) == (status, 1), (r.status, challenges)
    assert challenges[0].startswith('Bearer realm="http://shop.example/'), challenges


def test_allowed_requests_carry_warden_output_headers(rig, tokens):
    for door in FRONT_DOORS:
        _, seen = rig.send(door, "GET", "/orders", _bearer(tokens, "read"))
        assert _upstream_view(seen) == {"x-jwt-sub": "alice", "x-jwt-scope": "orders:read", "authorization": None}, door
        _, seen = rig.send(door, "GET", "/orders", _bearer(tokens, "forwarded"))
        assert _upstream_view(seen)["authorization"] == f"Bearer {tokens['forwarded']}", door


@pytest.mark.parametrize("door", FRONT_DOORS[1:])
@pytest.mark.parametrize("spoof", [
    {"X-Forwarded-Uri": "/public/x", "X-Forwarded-Method": "GET"},
    {"X-Original-URI": "/public/x", "X-Original-Method": "GET"},
    {"X-Forwarded-Host": "other.example", "X-Forwarded-Uri": "/public/x", "X-Original-URI": "/public/x"},
], ids=["x-forwarded", "x-original", "both"])
def test_client_cannot_choose_the_checked_request(rig, door, spoof):
    r, seen = rig.send(door, "GET", "/orders", spoof)
    assert r.status == 403 and seen is None, r.text


@pytest.mark.parametrize("door", FRONT_DOORS)
def test_client_copies_of_output_headers_never_reach_the_app(rig, tokens, door):
    spoof = {"X-Jwt-Sub": "mallory", "X-Jwt-Scope": "orders:write admin"}
    _, seen = rig.send(door, "GET", "/orders", {**_bearer(tokens, "read"), **spoof})
    assert _upstream_view(seen)["x-jwt-sub"] == "alice"
    assert _upstream_view(seen)["x-jwt-scope"] == "orders:read"
    _, seen = rig.send(door, "GET", "/public/x", spoof)
    assert _upstream_view(seen) == {"x-jwt-sub": None, "x-jwt-scope": None, "authorization": None}


@pytest.mark.parametrize("door", ["nginx", "caddy"])
def test_headers_no_policy_here_sets_are_cleared_too(rig, tokens, door):
    """nginx and Caddy carry X-User-Id and X-Jwt-Payload (the example policies' headers) whatever policies are
    loaded: with none setting them, a client's copies never reach the app, and nothing else arrives (Caddy 2.6
    would copy the header Warden's answer lacks as a literal placeholder). Envoy, like Istio, leaves a header no
    policy manages to the client."""
    spoof = {"X-User-Id": "admin", "X-Jwt-Payload": "eyJzdWIiOiJhZG1pbiJ9"}
    for target, token in (("/orders", "read"), ("/public/x", None)):
        _, seen = rig.send(door, "GET", target, {**_bearer(tokens, token), **spoof})
        assert _identity_view(seen) == {"x-user-id": None, "x-jwt-payload": None}, (door, target, seen["headers"])


@pytest.mark.parametrize("door, reaches_app", [("envoy_http", None), ("envoy_http2", None), ("nginx", False), ("caddy", True)])
def test_underscore_aliases_of_output_headers(rig, door, reaches_app):
    """`X_Jwt_Sub` is another header than X-Jwt-Sub, which the configs control; an app reading CGI-style
    names (HTTP_X_JWT_SUB) sees both as one. Envoy (headers_with_underscores_action: REJECT_REQUEST) answers
    400; nginx drops such headers (underscores_in_headers off, its default); Caddy passes them on — the
    README says so, and that the app must read names literally behind it."""
    r, seen = rig.send(door, "GET", "/public/x", {"X_Jwt_Sub": "mallory"})
    if reaches_app is None:
        assert (r.status, seen) == (400, None)
        return
    assert r.status == 200
    got = [v for n, v in seen["header_list"] if "_" in n and n.replace("_", "-") == "x-jwt-sub"]
    assert got == (["mallory"] if reaches_app else []), seen["header_list"]


@pytest.mark.parametrize("door", FRONT_DOORS)
def test_stripped_token_is_gone(rig, tokens, door):
    _, seen = rig.send(door, "GET", "/orders", _bearer(tokens, "read"))
    assert tokens["read"] not in str(seen["header_list"])


@pytest.mark.parametrize("door", FRONT_DOORS[1:])
def test_client_cannot_claim_another_address(rig, tokens, door):
    r, seen = rig.send(door, "POST", "/remote-only/x", {**_bearer(tokens, "read"), "X-Warden-Client-Address": "10.1.2.3"})
    assert r.status == 403 and seen is None


@pytest.fixture(scope="module")
def client_cert(tmp_path_factory):
    """A certificate a client could paste into X-Warden-Client-Cert, and its x5t#S256."""
    from harness.pki import PKI
    issued = PKI(tmp_path_factory.mktemp("front-doors-pki")).issue("mallory", uri="spiffe://cluster.local/ns/a/sa/b", server=False)
    pem = Path(issued.cert_path).read_text()
    cert = x509.load_pem_x509_certificate(pem.encode())
    return quote(pem, safe=""), base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA256())).rstrip(b"=").decode()


@pytest.mark.parametrize("door", FRONT_DOORS[1:])
def test_client_cannot_claim_connection_facts(rig, tokens, module_idp, client_cert, door):
    """With every trusted header on (`--http-trusted-headers all`) and no TLS at the proxy, a client's own
    X-Warden-Client-Principal / -SNI / -Cert must not reach Warden: each config clears or overwrites them."""
    read = _bearer(tokens, "read")
    r, seen = rig.send(door, "POST", "/mesh-only/x", {**read, "X-Warden-Client-Principal": "spiffe://cluster.local/ns/a/sa/b"})
    assert (r.status, seen) == (403, None), r.text
    r, seen = rig.send(door, "POST", "/sni-only/x", {**read, "X-Warden-SNI": "internal.example"})
    assert (r.status, seen) == (403, None), r.text
    pem, thumbprint = client_cert
    bound = Minter(module_idp).mint(scope="orders:read", cnf={"x5t#S256": thumbprint})
    r, seen = rig.send(door, "POST", "/bound/x", {"Authorization": f"Bearer {bound}", "X-Warden-Client-Cert": pem})
    assert (r.status, r.text, seen) == (401, "Jwt is bound to another client certificate", None)


def test_token_in_query_cannot_be_removed_in_http_modes(rig, tokens):
    """Known gap (README "Front doors"): only gRPC can remove a query parameter; the decision is the same."""
    target = f"/orders?access_token={tokens['read']}"
    for door in FRONT_DOORS:
        r, seen = rig.send(door, "GET", target)
        assert r.status == 200, door
        assert (tokens["read"] in seen["path"]) == (door != "grpc"), door


def test_metrics_count_each_front_door(rig, tokens):
    before = _front_door_counts(rig.warden)
    for door in FRONT_DOORS:
        rig.send(door, "GET", "/orders", _bearer(tokens, "read"))
    after = _front_door_counts(rig.warden)
    # nginx and Caddy both speak forward-auth.
    assert after[("grpc", "allowed")] - before.get(("grpc", "allowed"), 0) == 1
    assert after[("http_envoy", "allowed")] - before.get(("http_envoy", "allowed"), 0) == 2  # HTTP/1.1 and h2c
    assert after[("forward_auth", "allowed")] - before.get(("forward_auth", "allowed"), 0) == 2


def _front_door_counts(warden) -> dict:
    _, text = warden.admin_status("/metrics")
    return {(m[0], m[1]): int(m[2]) for m in
            re.findall(r'^warden_front_door_checks_total\{front_door="([a-z_]+)",decision="([a-z]+)"\} (\d+)$', text, re.M)}


def test_envoy_http2_speaks_h2c_to_warden(rig, tokens):
    """envoy-http2.yaml's checks reach Warden over HTTP/2 connections (Envoy's own counters), envoy-http.yaml's
    over HTTP/1.1; both were answered the same above."""
    for door in ("envoy_http", "envoy_http2"):
        assert rig.send(door, "GET", "/orders", _bearer(tokens, "read"))[0].status == 200
    h2 = rig.doors["envoy_http2"].stats("cluster.warden.upstream_cx_http2_total")
    h1 = rig.doors["envoy_http"].stats("cluster.warden.upstream_cx_http1_total")
    assert h2.get("cluster.warden.upstream_cx_http2_total", 0) >= 1, h2
    assert rig.doors["envoy_http2"].stats("cluster.warden.upstream_cx_http1_total").get("cluster.warden.upstream_cx_http1_total", 0) == 0
    assert h1.get("cluster.warden.upstream_cx_http1_total", 0) >= 1, h1


def test_envoy_http2_config_is_envoy_http_plus_the_cluster_protocol():
    """The two deploy files differ only in the warden cluster's protocol (kept in step)."""
    one, two = yaml.safe_load(ENVOY_HTTP.read_text()), yaml.safe_load(ENVOY_HTTP2.read_text())
    warden = next(c for c in two["static_resources"]["clusters"] if c["name"] == "warden")
    options = warden["typed_extension_protocol_options"]
    protocol = options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    explicit = protocol.pop("explicit_http_config")
    assert explicit["http2_protocol_options"]
    one_warden = next(c for c in one["static_resources"]["clusters"] if c["name"] == "warden")
    assert one_warden["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].pop(
        "explicit_http_config") == {"http_protocol_options": {}}
    assert one == two
    protocol["explicit_http_config"] = explicit
    # The README's snippet is the file's.
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Front doors"):readme.index("## Configuration reference")]
    snippet = next(block for block in re.findall(r"```yaml\n(.*?)```", section, re.S) if "explicit_http_config" in block)
    assert yaml.safe_load(snippet)["clusters"][0]["typed_extension_protocol_options"] == options


@pytest.mark.parametrize("path", [ENVOY_HTTP, ENVOY_HTTP2], ids=["http1", "h2c"])
def test_envoy_closes_idle_connections_to_warden_before_warden_does(path):
    """Warden closes a front-door connection idle for 60 s (ServeCommand: idleTimeoutSeconds, README); Envoy's
    upstream default is 1 h, so a check could be sent on a connection Warden is closing (reset: a denial).
    Envoy must give up first (HttpProtocolOptions.common_http_protocol_options.idle_timeout)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    warden_idle = int(re.search(r"connections idle for (\d+) s are closed", readme)[1])
    serve = (Path(__file__).resolve().parents[2] / "Sources/warden/ServeCommand.swift").read_text()
    assert f"configuration.idleTimeoutSeconds = {warden_idle}\n" in serve
    cluster = next(c for c in yaml.safe_load(path.read_text())["static_resources"]["clusters"] if c["name"] == "warden")
    options = cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    envoy_idle = options["common_http_protocol_options"]["idle_timeout"]
    assert envoy_idle.endswith("s") and float(envoy_idle[:-1]) < warden_idle


def test_deploy_configs_validate():
    assert validate_nginx().returncode == 0
    assert validate_caddy().returncode == 0


@pytest.mark.parametrize("lang, path", [("nginx", "deploy/nginx/nginx.conf"), ("caddyfile", "deploy/caddy/Caddyfile")])
def test_readme_snippets_are_taken_from_the_tested_configs(lang, path):
    """Every line of the README's Front doors snippet (comments aside) is a line of the config the tests run."""
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    section = readme[readme.index("## Front doors"):readme.index("## Configuration reference")]
    snippet = re.search(rf"```{lang}\n(.*?)```", section, re.S)[1]
    config = {line.strip() for line in (root / path).read_text().splitlines()}
    for line in snippet.splitlines():
        code = line.split("#")[0].strip() if lang == "nginx" else line.strip()
        if not code or code.startswith("#"):
            continue
        # nginx one-line locations in the README are several lines in the file.
        if lang == "nginx" and code.startswith("location @"):
            for part in re.findall(r"[^{};]+;", code.split("{", 1)[1]):
                assert part.strip() in config, part
            continue
        assert code in config or code in ("}", "{"), code


# -- the example policies' documented decisions (deploy/kubernetes/base/policies, harness/orders_api.py) ----
@pytest.fixture(scope="module")
def orders_rig(module_idp, upstream, warden_bin, make_envoy, tmp_path_factory):
    base = tmp_path_factory.mktemp("front-doors-orders")
    root = Path(__file__).resolve().parents[2]
    policies = render_policies(load_policy_dir(root / "deploy/kubernetes/base/policies"), base / "policies",
                               jwks_uri=module_idp.jwks_uri)
    warden = Warden(policies, binary=warden_bin, work_dir=base / "warden", debug_headers=False, http=True,
                    namespace="orders", workload_labels={"app": "orders"})
    started = []
    try:
        doors = {door: make_envoy(envoy_http_config(warden_http_port=warden.http_port, warden_admin_port=warden.admin_port,
                                                    upstream_port=upstream.port, http2=door == "envoy_http2"))
                 for door in ("envoy_http", "envoy_http2")}
        doors["nginx"] = Nginx(base / "nginx", warden_http_port=warden.http_port, upstream_port=upstream.port)
        started.append(doors["nginx"])
        doors["caddy"] = Caddy(base / "caddy", warden_http_port=warden.http_port, upstream_port=upstream.port)
        started.append(doors["caddy"])
        yield doors
    finally:
        for p in started:
            p.stop()
        warden.stop()
        warden.process.unregister()


@pytest.mark.parametrize("door", FRONT_DOORS[1:])
@pytest.mark.parametrize("case", orders_api.COMMON, ids=[c.name for c in orders_api.COMMON])
def test_example_policies_give_their_documented_decisions(orders_rig, module_idp, upstream, door, case):
    """The cases the sidecar pod passes through Envoy's gRPC ext_authz (test_deploy_kubernetes.py): status,
    body, challenge, upstream headers and no token upstream, through each HTTP front door."""
    orders_api.check(case, orders_rig[door].base_url, Minter(module_idp, audience=orders_api.AUDIENCE), upstream)


# -- the seed's example policies (deploy/dialects) behind the deploy configs: their output headers ------------
DIALECTS = Path(__file__).resolve().parents[2] / "deploy" / "dialects"
KEYCLOAK = "https://keycloak.example.com/realms/demo"


@pytest.fixture(scope="module", params=["jwt-authn.yaml", "istio.yaml", "security-policy.yaml"])
def dialect_rig(request, module_idp, upstream, warden_bin, make_envoy, tmp_path_factory):
    """One example policy as written (the Keycloak URLs swapped for the test IdP's) behind nginx, Caddy and
    Envoy http_service, each run from its deploy/ config."""
    base = tmp_path_factory.mktemp("front-doors-dialect")
    (base / "policies").mkdir()
    text = (DIALECTS / request.param).read_text()
    text = text.replace(KEYCLOAK + "/protocol/openid-connect/certs", module_idp.jwks_uri).replace(KEYCLOAK, module_idp.issuer)
    (base / "policies" / request.param).write_text(text)
    extra = ["--target", "HTTPRoute/orders"] if request.param == "security-policy.yaml" else []
    warden = Warden(base / "policies", binary=warden_bin, work_dir=base / "warden", debug_headers=False, http=True,
                    namespace="default", extra_args=extra)
    started = []
    try:
        doors = {"envoy_http": make_envoy(envoy_http_config(warden_http_port=warden.http_port, warden_admin_port=warden.admin_port,
                                                            upstream_port=upstream.port))}
        doors["nginx"] = Nginx(base / "nginx", warden_http_port=warden.http_port, upstream_port=upstream.port)
        started.append(doors["nginx"])
        doors["caddy"] = Caddy(base / "caddy", warden_http_port=warden.http_port, upstream_port=upstream.port)
        started.append(doors["caddy"])
        yield request.param, Rig(warden, upstream, doors)
    finally:
        for p in started:
            p.stop()
        warden.stop()
        warden.process.unregister()


def _payload(value: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))


@pytest.mark.parametrize("door", ["nginx", "caddy", "envoy_http"])
def test_example_policies_output_headers_are_warden_s_not_the_client_s(dialect_rig, module_idp, warden_bin, door):
    """Every example policy writes the user id into X-User-Id (istio and jwt-authn the payload into
    X-Jwt-Payload): a client's own `X-User-Id: admin` must never reach the app, only the verified value or
    nothing. Each header `warden validate` lists for the example is one the configs carry."""
    name, rig = dialect_rig
    listed = subprocess.run([warden_bin, "validate", "--policy", str(DIALECTS / name)], capture_output=True, text=True,
                            timeout=30).stdout
    outputs = re.search(r"^info: output headers: ([^(]+) \(", listed, re.M)[1].split(", ")
    assert "x-user-id" in outputs and ("x-jwt-payload" in outputs) == (name != "security-policy.yaml"), listed
    token = Minter(module_idp, audience="orders-api").mint(groups=["admin"])
    spoof = {"X-User-Id": "admin", "X-Jwt-Payload": base64.urlsafe_b64encode(b'{"sub":"admin"}').decode().rstrip("=")}
    r, seen = rig.send(door, "GET", "/orders", {"Authorization": f"Bearer {token}", **spoof})
    assert r.status == 200, r.text
    got = {h: seen["headers"].get(h) for h in outputs}
    assert got["x-user-id"] == "alice", got
    if "x-jwt-payload" in got:
        assert _payload(got["x-jwt-payload"])["sub"] == "alice", got
    # An open path (jwt-authn /healthz is not checked by the deploy configs; /docs needs no token there, the Istio
    # pair allows it): nothing verified, so nothing of the client's either.
    if name != "security-policy.yaml":
        r, seen = rig.send(door, "GET", "/docs/x", spoof)
        assert r.status == 200, r.text
        assert {h: seen["headers"].get(h) or None for h in outputs} == {h: None for h in outputs}, seen["headers"]
