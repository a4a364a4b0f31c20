"""AuthorizationPolicy semantics end to end: client → real Envoy (ext_authz) → Warden → echo upstream.

One Warden serves many "workloads": each Envoy route sends `context_extensions` (`namespace`,
`label.app`) and Warden scopes the policies per request, as Istio scopes them per workload. The
catch-all route uses Warden's own `--namespace default --workload-labels app=api,tier=front`.
Expected answers are Istio's (istio/api security/v1beta1 docs) and Envoy's (RBAC: 403
`RBAC: access denied`; jwt_authn: 401 with its body and `www-authenticate`).
"""
from __future__ import annotations

import pytest

from harness.envoy import Route
from harness.tokens import Minter
from policy_support import send

RBAC_DENIED = "RBAC: access denied"


def _routes() -> list[Route]:
    def ns(prefix: str, namespace: str, **labels: str) -> Route:
        ext = {"namespace": namespace, **{f"label.{k}": v for k, v in labels.items()}}
        return Route(prefix=prefix, context_extensions=ext)
    return [
        ns("/edge", "edge"),
        ns("/shop", "shop"),
        ns("/match", "match"),
        ns("/guard", "guard"),
        ns("/order", "ordering"),
        ns("/empty", "empty"),
        ns("/onlyaudit", "onlyaudit"),
        ns("/audit", "audit"),
        ns("/custom", "custom"),
        ns("/sel-api", "sel", app="api"),
        ns("/sel-web", "sel", app="web"),
        Route(prefix="/"),
    ]


def _policies(iss: str, jwks_uri: str) -> dict[str, str]:
    ap = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
    return {
        "mesh.yaml": f"""\
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: idp, namespace: istio-system}}
spec:
  jwtRules:
  - issuer: "{iss}"
    jwksUri: "{jwks_uri}"
    audiences: [warden-test]
---
{ap}metadata: {{name: block-header, namespace: istio-system}}
spec:
  action: DENY
  rules:
  - when:
    - key: request.headers[x-block]
      values: ["yes"]
""",
        "edge.yaml": f"""\
{ap}metadata: {{name: require-jwt, namespace: edge}}
spec:
  action: DENY
  rules:
  - from:
    - source:
        notRequestPrincipals: ["*"]
    to:
    - operation:
        notPaths: ["/edge/healthz", "/edge/metrics"]
""",
        "shop.yaml": f"""\
{ap}metadata: {{name: read, namespace: shop}}
spec:
  rules:
  - to:
    - operation: {{methods: [GET, HEAD]}}
---
{ap}metadata: {{name: write, namespace: shop}}
spec:
  action: ALLOW
  rules:
  - to:
    - operation: {{methods: [POST, PUT, DELETE]}}
    when:
    - key: request.auth.claims[scope]
      values: ["orders:write"]
  - to:
    - operation: {{methods: [POST, PUT, DELETE]}}
    when:
    - key: request.auth.claims[scp]
      values: ["orders:write"]
""",
        "match.yaml": f"""\
{ap}metadata: {{name: matchers, namespace: match}}
spec:
  rules:
  - to: [{{operation: {{hosts: ["API.Example.com"], paths: ["/match/host"]}}}}]
  - to: [{{operation: {{paths: ["/match/items/{{*}}/detail", "/match/files/{{**}}"]}}}}]
  - to: [{{operation: {{paths: ["/match/pre*", "*.png"]}}}}]
  - to: [{{operation: {{methods: ["PATCH"], paths: ["/match/patch"]}}}}]
  - to: [{{operation: {{paths: ["/match/header"]}}}}]
    when: [{{key: "request.headers[x-tenant]", values: ["acme"]}}]
  - to: [{{operation: {{paths: ["/match/nested"]}}}}]
    when: [{{key: "request.auth.claims[org][tenant]", values: ["acme"]}}]
  - to: [{{operation: {{paths: ["/match/aud"]}}}}]
    when:
    - {{key: request.auth.audiences, values: ["warden-test"]}}
    - {{key: request.auth.presenter, values: ["web-*"]}}
  - to: [{{operation: {{paths: ["/match/remote"]}}}}]
    when: [{{key: remote.ip, values: ["203.0.113.0/24"]}}]
  - from: [{{source: {{remoteIpBlocks: ["198.51.100.7"]}}}}]
    to: [{{operation: {{paths: ["/match/remote-block"]}}}}]
  - from: [{{source: {{ipBlocks: ["127.0.0.0/8"]}}}}]
    to: [{{operation: {{paths: ["/match/local"]}}}}]
  - from: [{{source: {{notIpBlocks: ["127.0.0.1"]}}}}]
    to: [{{operation: {{paths: ["/match/notlocal"]}}}}]
  - to: [{{operation: {{paths: ["/match/srcip"]}}}}]
    when: [{{key: source.ip, values: ["127.0.0.1/32"]}}]
  - to: [{{operation: {{paths: ["/match/typed"]}}}}]
    when:
    - {{key: "request.auth.claims[admin]", values: ["true"]}}
    - {{key: "request.auth.claims[level]", values: ["42"]}}
  - from: [{{source: {{requestPrincipals: ["{iss}/alice"]}}}}]
    to: [{{operation: {{paths: ["/match/principal"]}}}}]
  - to: [{{operation: {{paths: ["/match/notvalues"]}}}}]
    when: [{{key: "request.headers[x-env]", notValues: ["prod"]}}]
  - to: [{{operation: {{paths: ["/match/groups"]}}}}]
    when: [{{key: "request.auth.claims[groups]", values: ["admins"]}}]
""",
        "guard.yaml": f"""\
{ap}metadata: {{name: no-admin, namespace: guard}}
spec:
  action: DENY
  rules:
  - to: [{{operation: {{paths: ["/guard/admin", "/guard/admin/*"]}}}}]
---
{ap}metadata: {{name: allow-all, namespace: guard}}
spec:
  rules: [{{}}]
""",
        "ordering.yaml": f"""\
{ap}metadata: {{name: allow-all, namespace: ordering}}
spec:
  action: ALLOW
  rules: [{{}}]
---
{ap}metadata: {{name: deny-blocked, namespace: ordering}}
spec:
  action: DENY
  rules:
  - to: [{{operation: {{paths: ["/order/blocked"]}}}}]
""",
        "empty.yaml": f"""\
{ap}metadata: {{name: allow-nothing, namespace: empty}}
spec: {{}}
""",
        "audit.yaml": f"""\
{ap}metadata: {{name: audit-all, namespace: audit}}
spec:
  action: AUDIT
  rules: [{{}}]
---
{ap}metadata: {{name: allow-ok, namespace: audit}}
spec:
  rules:
  - to: [{{operation: {{paths: ["/audit/ok"]}}}}]
---
{ap}metadata: {{name: audit-only, namespace: onlyaudit}}
spec:
  action: AUDIT
  rules: [{{}}]
""",
        "custom.yaml": f"""\
{ap}metadata: {{name: ext, namespace: custom}}
spec:
  action: CUSTOM
  provider: {{name: warden}}
  rules: [{{}}]
""",
        "selectors.yaml": f"""\
{ap}metadata: {{name: deny-api, namespace: sel}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  action: DENY
  rules: [{{}}]
---
{ap}metadata: {{name: front, namespace: default}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  rules:
  - to: [{{operation: {{notPaths: ["/forbidden"]}}}}]
---
{ap}metadata: {{name: other-workload, namespace: default}}
spec:
  selector: {{matchLabels: {{app: other}}}}
  action: DENY
  rules: [{{}}]
---
{ap}metadata: {{name: other-namespace, namespace: elsewhere}}
spec:
  action: DENY
  rules: [{{}}]
""",
    }


@pytest.fixture(scope="module")
def rig(module_idp, upstream, warden_bin, make_envoy, tmp_path_factory):
    from harness.warden import Warden, write_policy_dir
    base = tmp_path_factory.mktemp("authz")
    policies = write_policy_dir(base / "policies", _policies(module_idp.issuer, module_idp.jwks_uri))
    w = Warden(policies, binary=warden_bin, work_dir=base, namespace="default",
               workload_labels={"app": "api", "tier": "front"}, root_namespace="istio-system")
    envoy = make_envoy(upstream_port=upstream.port, warden_port=w.port, routes=_routes())
    yield envoy, w
    w.stop()
    w.process.unregister()


@pytest.fixture(scope="module")
def tokens(module_idp):
    m = Minter(module_idp)
    iss = module_idp.issuer
    return {
        "alice": m.mint(),
        "scope_write": m.mint(scope="orders:read orders:write"),
        "scope_read": m.mint(scope="orders:read"),
        "scp_write": m.mint(scp=["orders:read", "orders:write"]),
        "scope_prefix": m.mint(scope="orders:writer"),
        "nested": m.mint(org={"tenant": "acme", "tier": "gold"}),
        "nested_other": m.mint(org={"tenant": "globex"}),
        "azp": m.mint(azp="web-app"),
        "azp_other": m.mint(azp="cli"),
        "typed": m.mint(admin=True, level=42),
        "typed_false": m.mint(admin=False, level=42),
        "bob": m.mint(sub="bob"),
        "groups": m.mint(groups=["users", "admins"]),
        "expired": m.expired(),
        "iss": iss,
    }


def call(rig, upstream, method, target, headers=None, token=None, host=None):
    envoy, _ = rig
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return send(envoy.port, method, target, headers, host=host, upstream=upstream)


def assert_allowed(r, path=None):
    assert r.status == 200, r
    assert r.upstream is not None, r
    assert r.upstream_headers.get("x-warden-decision") == "allow", r
    if path is not None:
        assert r.upstream["path"] == path, r


def assert_rbac_denied(r, denied_by=None):
    assert r.status == 403, r
    assert r.text == RBAC_DENIED, r
    assert r.upstream is None, r
    assert "www-authenticate" not in r.headers, r
    if denied_by:
        assert r.headers.get("x-warden-denied-by") == denied_by, r


# -- edge gateway: DENY requests without a token except health/metrics ----------------------------------

@pytest.mark.parametrize("path", ["/edge/healthz", "/edge/metrics"])
def test_edge_health_and_metrics_need_no_token(rig, upstream, path):
    assert_allowed(call(rig, upstream, "GET", path), path)


def test_edge_without_token_is_rbac_denied(rig, upstream):
    assert_rbac_denied(call(rig, upstream, "GET", "/edge/orders"), "edge/require-jwt")


def test_edge_notpaths_are_exact(rig, upstream):
    assert_rbac_denied(call(rig, upstream, "GET", "/edge/healthz/details"))


def test_edge_with_token_is_allowed_and_token_is_stripped(rig, upstream, tokens):
    r = call(rig, upstream, "GET", "/edge/orders?x=1", token=tokens["alice"])
    assert_allowed(r, "/edge/orders?x=1")
    assert "authorization" not in r.upstream_headers


def test_edge_with_expired_token_is_401_not_403(rig, upstream, tokens):
    envoy, _ = rig
    r = call(rig, upstream, "GET", "/edge/orders", token=tokens["expired"])
    assert r.status == 401 and r.text == "Jwt is expired", r
    assert r.headers["www-authenticate"] == \
        f'Bearer realm="http://127.0.0.1:{envoy.port}/edge/orders", error="invalid_token"'
    assert r.upstream is None


def test_edge_health_with_invalid_token_is_still_401(rig, upstream):
    # jwt_authn runs before RBAC: a bad token fails even where no policy needs one.
    r = call(rig, upstream, "GET", "/edge/healthz", headers={"Authorization": "Bearer not-a-jwt"})
    assert r.status == 401, r
    assert r.text == "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"


def test_lowercase_bearer_is_no_token(rig, upstream, tokens):
    # The prefix "Bearer " is case-sensitive: "bearer …" is not a token (so: missing → RBAC deny on /edge)
    r = call(rig, upstream, "GET", "/edge/orders", headers={"Authorization": f"bearer {tokens['alice']}"})
    assert_rbac_denied(r)
    # … and where nothing needs a token the header reaches the upstream untouched.
    r = call(rig, upstream, "GET", "/order/x", headers={"Authorization": f"bearer {tokens['alice']}"})
    assert_allowed(r)
    assert r.upstream_headers["authorization"] == f"bearer {tokens['alice']}"


def test_cors_preflight_bypasses_jwt_but_not_rbac(rig, upstream):
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
                 "Authorization": "Bearer garbage"}
    # No JWT check on a preflight (Istio sets bypass_cors_preflight) …
    assert_allowed(call(rig, upstream, "OPTIONS", "/order/x", headers=preflight))
    # … but RBAC still runs: the edge DENY (no request principal) applies.
    assert_rbac_denied(call(rig, upstream, "OPTIONS", "/edge/x", headers=preflight))
    # A plain OPTIONS (no Origin) with the same bad token is authenticated and fails.
    assert call(rig, upstream, "OPTIONS", "/order/x", headers={"Authorization": "Bearer garbage"}).status == 401


# -- scope-based ALLOW for writes ---------------------------------------------------------------------

def test_reads_need_no_scope(rig, upstream):
    assert_allowed(call(rig, upstream, "GET", "/shop/orders/1"))


@pytest.mark.parametrize("name", ["scope_write", "scp_write"])
def test_write_with_scope(rig, upstream, tokens, name):
    r = call(rig, upstream, "POST", "/shop/orders", token=tokens[name])
    assert_allowed(r, "/shop/orders")
    assert r.upstream["method"] == "POST"


@pytest.mark.parametrize("name", ["scope_read", "scope_prefix", "alice"])
def test_write_without_scope_is_denied(rig, upstream, tokens, name):
    assert_rbac_denied(call(rig, upstream, "POST", "/shop/orders", token=tokens[name]))


def test_write_without_token_is_403_not_401(rig, upstream):
    r = call(rig, upstream, "DELETE", "/shop/orders/1")
    assert_rbac_denied(r)


def test_methods_are_case_sensitive_and_unlisted_denied(rig, upstream, tokens):
    assert_rbac_denied(call(rig, upstream, "PATCH", "/shop/orders/1", token=tokens["scope_write"]))


# -- matchers -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("host,ok", [("api.example.com", True), ("API.EXAMPLE.COM", True),
                                     ("api.example.com:8080", False), ("web.example.com", False)])
def test_hosts_are_case_insensitive(rig, upstream, host, ok):
    r = call(rig, upstream, "GET", "/match/host", host=host)
    assert_allowed(r) if ok else assert_rbac_denied(r)


@pytest.mark.parametrize("path,ok", [
    ("/match/items/42/detail", True),
    ("/match/items/42/43/detail", False),
    ("/match/items//detail", False),
    ("/match/files/a/b/c.txt", True),
    ("/match/files/", True),
    ("/match/prefix-anything", True),
    ("/match/deep/image.png", True),
    ("/match/image.png?size=2", True),
    ("/match/image.PNG", False),
    ("/match/unknown", False),
])
def test_path_templates_and_wildcards(rig, upstream, path, ok):
    r = call(rig, upstream, "GET", path)
    assert_allowed(r, path) if ok else assert_rbac_denied(r, "match/matchers" if False else None)


def test_methods(rig, upstream):
    assert_allowed(call(rig, upstream, "PATCH", "/match/patch"))
    assert_rbac_denied(call(rig, upstream, "GET", "/match/patch"))


@pytest.mark.parametrize("value,ok", [("acme", True), ("ACME", False), ("acme,globex", False), (None, False)])
def test_when_request_header(rig, upstream, value, ok):
    r = call(rig, upstream, "GET", "/match/header", headers={"x-tenant": value} if value else {})
    assert_allowed(r) if ok else assert_rbac_denied(r)


def test_when_request_header_duplicates_are_joined_like_envoy(rig, upstream):
    # Envoy's header matcher sees repeated headers joined with ","; so does ext_authz.
    r = call(rig, upstream, "GET", "/match/header", headers=[("x-tenant", "acme"), ("x-tenant", "globex")])
    assert_rbac_denied(r)


@pytest.mark.parametrize("value,ok", [("dev", True), (None, True), ("prod", False)])
def test_when_not_values(rig, upstream, value, ok):
    r = call(rig, upstream, "GET", "/match/notvalues", headers={"x-env": value} if value else {})
    assert_allowed(r) if ok else assert_rbac_denied(r)


@pytest.mark.parametrize("name,ok", [("nested", True), ("nested_other", False), ("alice", False), (None, False)])
def test_when_nested_claim(rig, upstream, tokens, name, ok):
    r = call(rig, upstream, "GET", "/match/nested", token=tokens[name] if name else None)
    assert_allowed(r) if ok else assert_rbac_denied(r)


@pytest.mark.parametrize("name,ok", [("azp", True), ("azp_other", False), ("alice", False)])
def test_when_audiences_and_presenter(rig, upstream, tokens, name, ok):
    r = call(rig, upstream, "GET", "/match/aud", token=tokens[name])
    assert_allowed(r) if ok else assert_rbac_denied(r)


@pytest.mark.parametrize("name,ok", [("typed", True), ("typed_false", False), ("alice", False)])
def test_when_bool_and_number_claims(rig, upstream, tokens, name, ok):
    r = call(rig, upstream, "GET", "/match/typed", token=tokens[name])
    assert_allowed(r) if ok else assert_rbac_denied(r)


@pytest.mark.parametrize("name,ok", [("groups", True), ("alice", False)])
def test_when_claim_array(rig, upstream, tokens, name, ok):
    r = call(rig, upstream, "GET", "/match/groups", token=tokens[name])
    assert_allowed(r) if ok else assert_rbac_denied(r)


@pytest.mark.parametrize("name,ok", [("alice", True), ("bob", False), (None, False)])
def test_request_principals(rig, upstream, tokens, name, ok):
    r = call(rig, upstream, "GET", "/match/principal", token=tokens[name] if name else None)
    assert_allowed(r) if ok else assert_rbac_denied(r)


@pytest.mark.parametrize("xff,ok", [
    ("203.0.113.9", True),                  # rightmost entry = remote.ip (no trusted hops)
    ("203.0.113.9, 10.1.1.1", False),       # the rightmost is not in the block
    ("10.1.1.1, 203.0.113.77", True),
    (None, False),                          # no XFF: the peer (127.0.0.1)
])
def test_remote_ip_from_x_forwarded_for(rig, upstream, xff, ok):
    r = call(rig, upstream, "GET", "/match/remote", headers={"x-forwarded-for": xff} if xff else {})
    assert_allowed(r) if ok else assert_rbac_denied(r)


def test_remote_ip_blocks(rig, upstream):
    assert_allowed(call(rig, upstream, "GET", "/match/remote-block", headers={"x-forwarded-for": "198.51.100.7"}))
    assert_rbac_denied(call(rig, upstream, "GET", "/match/remote-block", headers={"x-forwarded-for": "198.51.100.8"}))


def test_source_ip_is_the_peer_not_xff(rig, upstream):
    # ipBlocks / source.ip: the connection peer, whatever x-forwarded-for says.
    assert_allowed(call(rig, upstream, "GET", "/match/local", headers={"x-forwarded-for": "8.8.8.8"}))
    assert_allowed(call(rig, upstream, "GET", "/match/srcip", headers={"x-forwarded-for": "8.8.8.8"}))
    assert_rbac_denied(call(rig, upstream, "GET", "/match/notlocal", headers={"x-forwarded-for": "8.8.8.8"}))


# -- path normalization -------------------------------------------------------------------------------

@pytest.mark.parametrize("target,ok", [
    ("/guard/public", True),
    ("/guard/admin", False),
    ("/guard/admin/users", False),
    ("/guard/public/../admin", False),
    ("/guard/public/%2e%2e/admin", False),
    ("/guard/public/%2E%2E/admin/x", False),
    ("/guard/./admin", False),
    ("/guard/%61dmin", False),               # %61 = 'a' (unreserved, decoded as Envoy's normalize_path does)
    ("/guard/public\\..\\admin", False),     # backslashes are separators
    ("/guard/admin/../public", True),
    ("/guard/ADMIN", True),                  # paths are case-sensitive
    ("/guard/admin%2Fusers", True),          # %2F stays encoded (Istio's default BASE normalization)
    ("/guard/adminx", True),
])
def test_path_normalization(rig, upstream, target, ok):
    r = call(rig, upstream, "GET", target)
    if ok:
        assert_allowed(r)
        assert r.upstream["path"] == target  # this Envoy forwards the path untouched
    else:
        assert_rbac_denied(r, "guard/no-admin")


@pytest.fixture(scope="module")
def istio_rbac_envoy(make_envoy, upstream, rig):
    """Envoy as an Istio sidecar enforces the `guard` policies itself: HCM `normalize_path: true`,
    `merge_slashes: false`, escaped slashes kept (meshConfig pathNormalization BASE), RBAC DENY compiled
    the way istiod compiles `paths: ["/guard/admin", "/guard/admin/*"]`."""
    from harness.envoy import render_config
    config = render_config(upstream_port=upstream.port, warden_port=rig[1].port)
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["normalize_path"] = True
    hcm["merge_slashes"] = False
    hcm["path_with_escaped_slashes_action"] = "KEEP_UNCHANGED"
    rbac = {"name": "envoy.filters.http.rbac", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
        "rules": {"action": "DENY", "policies": {"ns[guard]-policy[no-admin]-rule[0]": {
            "permissions": [{"or_rules": {"rules": [
                {"url_path": {"path": {"exact": "/guard/admin"}}},
                {"url_path": {"path": {"prefix": "/guard/admin/"}}}]}}],
            "principals": [{"any": True}]}}}}}
    hcm["http_filters"] = [rbac, hcm["http_filters"][-1]]
    return make_envoy(config)


@pytest.mark.parametrize("target", [
    "/guard/public", "/guard/admin", "/guard/admin/users", "/guard/public/../admin", "/guard/public/%2e%2e/admin",
    "/guard/public/%2E%2E/admin/x", "/guard/./admin", "/guard/%61dmin", "/guard/public\\..\\admin",
    "/guard/admin/../public", "/guard/ADMIN", "/guard/admin%2Fusers", "/guard/admin%2fusers", "/guard//admin",
    "/guard/admin/", "/guard/admin?x=/guard/public", "/guard/admin#frag", "/guard/%2561dmin", "/guard/admin;x",
])
def test_path_decisions_match_envoy_rbac_with_istio_normalization(rig, upstream, istio_rbac_envoy, target):
    """Warden (behind an Envoy that forwards paths untouched) denies exactly what Envoy's own RBAC denies
    after Istio's BASE normalization."""
    warden_answer = call(rig, upstream, "GET", target)
    envoy_answer = send(istio_rbac_envoy.port, "GET", target, upstream=upstream)
    assert (warden_answer.status, warden_answer.text if warden_answer.status != 200 else "") == \
        (envoy_answer.status, envoy_answer.text if envoy_answer.status != 200 else ""), (target, warden_answer, envoy_answer)


def test_invalid_percent_encoding_is_denied(rig, upstream):
    envoy, _ = rig
    r = call(rig, upstream, "GET", "/guard/%zz")
    assert r.status in (400, 403), r
    assert r.upstream is None


# -- precedence, empty policies, AUDIT, CUSTOM ---------------------------------------------------------

def test_deny_beats_allow(rig, upstream):
    assert_allowed(call(rig, upstream, "GET", "/order/open"))
    assert_rbac_denied(call(rig, upstream, "GET", "/order/blocked"), "ordering/deny-blocked")


def test_allow_with_empty_spec_denies_everything(rig, upstream, tokens):
    assert_rbac_denied(call(rig, upstream, "GET", "/empty/x"))
    assert_rbac_denied(call(rig, upstream, "GET", "/empty/x", token=tokens["alice"]))


def test_audit_never_changes_the_decision(rig, upstream):
    assert_allowed(call(rig, upstream, "GET", "/audit/ok"))
    assert_rbac_denied(call(rig, upstream, "GET", "/audit/other"))   # AUDIT is not an ALLOW policy
    assert_allowed(call(rig, upstream, "GET", "/onlyaudit/anything"))


def test_custom_policies_are_ignored(rig, upstream):
    assert_allowed(call(rig, upstream, "GET", "/custom/x"))


def test_root_namespace_policy_applies_everywhere(rig, upstream):
    for path in ("/order/open", "/custom/x", "/hello", "/sel-web/x"):
        assert_rbac_denied(call(rig, upstream, "GET", path, headers={"x-block": "yes"}), "istio-system/block-header")


# -- scoping: --namespace/--workload-labels and context_extensions --------------------------------------

def test_workload_flags_select_policies(rig, upstream):
    assert_allowed(call(rig, upstream, "GET", "/hello"))            # default/front (app=api) applies
    assert_rbac_denied(call(rig, upstream, "GET", "/forbidden"))    # … and its notPaths; other-workload does not


def test_context_extensions_select_namespace_and_labels(rig, upstream):
    assert_rbac_denied(call(rig, upstream, "GET", "/sel-api/x"), "sel/deny-api")
    assert_allowed(call(rig, upstream, "GET", "/sel-web/x"))


def test_unknown_issuer_is_401_everywhere(rig, upstream, tokens, module_idp):
    other = Minter(module_idp).mint(iss="https://elsewhere.example")
    r = call(rig, upstream, "GET", "/order/open", token=other)
    assert r.status == 401 and r.text == "Jwt issuer is not configured", r
