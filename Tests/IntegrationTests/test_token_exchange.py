"""Token exchange at the edge (RFC 8693, issue 18) through a real Envoy: after a request is allowed, Warden
exchanges its verified token at the IdP's token endpoint for one minted for the upstream's audience, which
replaces it toward the upstream. RFC 8693 §2.1 (request: grant_type, subject_token, subject_token_type,
audience/resource, scope, actor_token), §2.2.1 (answer: access_token, issued_token_type, token_type,
expires_in), §2.2.2 (errors: invalid_target, invalid_grant), §4.1 (`act`: the current actor outermost).
The test IdP (harness/idp.py) implements the grant, verifies the subject token and counts its calls."""
from __future__ import annotations

import base64
import json
import time

import pytest

from harness import httpclient
from harness.ports import free_port
from harness.tokens import Minter
from harness.warden import write_policy_dir


def claims_of(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


def policies(idp, secret, *, audience: str = "orders-api", paths: str = "['/orders*']", extra: str = "",
             actor_file=None, margin: str = "30s", when: str = "", named_endpoint: bool = True,
             operation: str = "") -> dict[str, str]:
    ra = ("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: default}\n"
          f"spec:\n  jwtRules:\n  - issuer: {idp.issuer}\n    jwksUri: {idp.jwks_uri}\n")
    ap = ("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: users, namespace: default}\n"
          f"spec:\n  rules:\n  - from: [{{source: {{requestPrincipals: ['{idp.issuer}/*']}}}}]\n{when}")
    actor = f"    actorTokenFile: {actor_file}\n" if actor_file else ""
    tp = ("apiVersion: security.warden.io/v1alpha1\nkind: TokenPolicy\nmetadata: {name: exchange, namespace: default}\n"
          f"spec:\n  tokenExchange:\n  - issuer: {idp.issuer}\n    to: [{{operation: {{paths: {paths}{', ' + operation if operation else ''}}}}}]\n"
          + (f"    endpoint: {idp.token_endpoint}\n" if named_endpoint else "")
          + f"    clientId: warden\n    clientSecretFile: {secret}\n"
          f"    audiences: [{audience}]\n    expiryMargin: {margin}\n{actor}{extra}")
    return {"ra.yaml": ra, "ap.yaml": ap, "tp.yaml": tp}


@pytest.fixture
def rig(idp, make_warden, make_envoy, upstream, tmp_path):
    secret = tmp_path / "client-secret"
    secret.write_text("introspection-secret\n")

    def start(**kw):
        w = make_warden(write_policy_dir(tmp_path / f"p{start.n}", policies(idp, secret, **kw)))
        start.n += 1
        return w, make_envoy(upstream_port=upstream.port, warden_port=w.port)
    start.n = 0
    return start


def get(envoy, token: str, path: str = "/orders/7"):
    return httpclient.request("GET", envoy.url(path), headers={"authorization": f"Bearer {token}"})


def test_the_upstream_gets_a_token_for_its_audience_and_never_the_users(rig, idp, upstream):
    _, envoy = rig()
    user = Minter(idp, audience="gateway").mint(sub="alice", scope="orders:read")
    r = get(envoy, user)
    assert r.status == 200, r.body
    seen = upstream.last()
    auth = seen["headers"]["authorization"]
    assert auth.startswith("Bearer ") and auth[7:] != user
    exchanged = claims_of(auth[7:])
    assert exchanged["aud"] == "orders-api" and exchanged["sub"] == "alice"
    assert exchanged["act"] == {"sub": "warden"}  # RFC 8693 §4.1: Warden's client is the actor
    assert user not in json.dumps(seen)  # the original token reaches the upstream nowhere
    req = idp.state.exchange_requests[-1]
    assert req["form"]["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    assert req["form"]["subject_token"] == user and req["audiences"] == ["orders-api"]
    assert req["form"]["subject_token_type"] == "urn:ietf:params:oauth:token-type:access_token"


def test_one_exchange_per_user_token_and_a_new_one_near_expiry(rig, idp, upstream):
    idp.state.exchange_expires_in = 32
    warden, envoy = rig(margin="30s")  # reused for 32 − 30 = 2 s
    user = Minter(idp).mint(sub="alice")
    idp.reset_counts()
    tokens = set()
    for _ in range(10):
        assert get(envoy, user).status == 200
        tokens.add(upstream.last()["headers"]["authorization"])
    assert idp.count("/token") == 1 and len(tokens) == 1
    time.sleep(2.3)
    assert get(envoy, user).status == 200
    assert idp.count("/token") == 2
    import urllib.request
    with urllib.request.urlopen(warden.admin_url + "/metrics", timeout=2) as r:
        metrics = r.read().decode()
    assert 'warden_token_exchange_total{result="call"} 2' in metrics
    assert 'warden_token_exchange_total{result="cache"} 9' in metrics
    assert "warden_token_exchange_call_duration_seconds_count 2" in metrics


def test_requests_the_rule_does_not_name_are_not_exchanged(rig, idp, upstream):
    _, envoy = rig()
    idp.reset_counts()
    assert get(envoy, Minter(idp).mint(), path="/health").status == 200
    assert idp.count("/token") == 0
    assert "authorization" not in upstream.last()["headers"]  # Istio's default: the token is not forwarded


@pytest.mark.parametrize("ports", ["ports", "notPorts"])
def test_a_rule_on_the_destination_port_fails_closed_where_the_port_is_unreported(idp, make_warden, make_envoy, upstream,
                                                                                  tmp_path, ports):
    """Envoy's gRPC check reports the listener's port, so `to.ports` is decided on it; the HTTP front door
    reports none (ConnectionFact.destination). Skipping the rule there would send the request on with the
    user's token instead of the exchanged one: it is refused instead (403, token_exchange_connection_fact_unreported),
    without a call; a rule whose other fields do not match is not in the way."""
    secret = tmp_path / "client-secret"
    secret.write_text("introspection-secret\n")
    listener = free_port()
    port = listener if ports == "ports" else listener + 1  # the rule applies to Envoy's listener either way
    w = make_warden(write_policy_dir(tmp_path / "p", policies(idp, secret, operation=f"{ports}: ['{port}']")), http=True)
    envoy = make_envoy(upstream_port=upstream.port, warden_port=w.port, listener_port=listener)
    user = Minter(idp).mint(sub="alice")
    idp.reset_counts()
    r = get(envoy, user)
    assert r.status == 200, r.body
    assert claims_of(upstream.last()["headers"]["authorization"][7:])["aud"] == "orders-api"
    assert idp.count("/token") == 1
    forwarded = {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/orders/7", "X-Forwarded-Host": "shop.example",
                 "Authorization": f"Bearer {user}"}
    r = httpclient.get(w.http_url + "/forward-auth", headers=forwarded)
    assert (r.status, r.text) == (403, "Token exchange was refused"), r.text
    assert "authorization" not in {n.lower() for n in r.headers}
    assert idp.count("/token") == 1
    r = httpclient.get(w.http_url + "/forward-auth", headers={**forwarded, "X-Forwarded-Uri": "/health"})
    assert r.status == 200, r.text
    _, metrics = w.admin_status("/metrics")
    assert 'reason="token_exchange_connection_fact_unreported"} 1' in metrics


def test_a_refused_exchange_is_403_and_forwards_nothing(rig, idp, upstream):
    idp.state.exchange_refused_audiences.add("orders-api")
    _, envoy = rig()
    upstream.clear()
    r = get(envoy, Minter(idp).mint())
    assert (r.status, r.body) == (403, b"Token exchange was refused")
    assert upstream.count() == 0


@pytest.mark.parametrize("fault", ["down", "slow", "500"])
def test_an_unavailable_token_endpoint_fails_closed_within_the_deadline(rig, idp, upstream, fault):
    _, envoy = rig()
    user = Minter(idp).mint()
    upstream.clear()
    if fault == "slow":
        idp.delay = 3.0
    elif fault == "500":
        idp.fail_with(500)
    try:
        if fault == "down":
            idp.go_down()  # keys were fetched when Warden started; the token endpoint goes away with the IdP
        started = time.monotonic()
        r = get(envoy, user)
        elapsed = time.monotonic() - started
    finally:
        idp.delay = 0
        idp.fail_with(None)
        idp.come_up()
    assert (r.status, r.body) == (503, b"Token exchange is unavailable")
    assert elapsed < 1.5  # Envoy's ext_authz timeout is 1 s; Warden answers before it
    assert upstream.count() == 0


def test_the_delegation_chain_grows_and_policies_can_name_the_actor(rig, idp, upstream):
    """A token exchanged upstream already (act: gateway) keeps its chain: the new token's act is
    {sub: warden, act: {sub: gateway}}; an AuthorizationPolicy `when` on request.auth.claims[act][sub]
    admits only tokens the gateway acts for."""
    when = "    when: [{key: 'request.auth.claims[act][sub]', values: ['gateway']}]\n"
    _, envoy = rig(when=when)
    via_gateway = Minter(idp).mint(sub="alice", act={"sub": "gateway"})
    direct = Minter(idp).mint(sub="alice")
    assert get(envoy, via_gateway).status == 200
    assert claims_of(upstream.last()["headers"]["authorization"][7:])["act"] == {"sub": "warden", "act": {"sub": "gateway"}}
    assert get(envoy, direct).status == 403


def test_an_actor_token_names_warden_s_workload(rig, idp, upstream, tmp_path):
    actor = tmp_path / "sa-token"
    actor.write_text(Minter(idp).mint(sub="system:serviceaccount:edge:warden") + "\n")
    _, envoy = rig(actor_file=actor)
    assert get(envoy, Minter(idp).mint(sub="alice")).status == 200
    assert claims_of(upstream.last()["headers"]["authorization"][7:])["act"] == {"sub": "system:serviceaccount:edge:warden"}
    assert idp.state.exchange_requests[-1]["form"]["actor_token_type"] == "urn:ietf:params:oauth:token-type:jwt"


def test_explain_shows_the_exchange_and_never_a_token(warden_bin, idp, tmp_path):
    import subprocess
    secret = tmp_path / "secret"
    secret.write_text("introspection-secret\n")
    (tmp_path / "p.yaml").write_text("---\n".join(policies(idp, secret).values()))
    user = Minter(idp).mint(sub="alice")
    base = [warden_bin, "explain", "--policy", str(tmp_path / "p.yaml"), "--path", "/orders/7", "--header", f"authorization: Bearer {user}"]
    offline = subprocess.run(base + ["--jwks", str(_jwks_file(idp, tmp_path))], capture_output=True, text=True, timeout=30)
    assert "Result: ✗ 503 Service Unavailable (token_exchange_unavailable)" in offline.stdout, offline.stdout + offline.stderr
    assert "pass --fetch to ask the token endpoint" in offline.stdout
    live = subprocess.run(base + ["--fetch"], capture_output=True, text=True, timeout=30)
    assert live.returncode == 0, live.stdout + live.stderr
    assert f"exchanged at {idp.token_endpoint} for audience \"orders-api\"" in live.stdout
    assert "header set: authorization: <exchanged token," in live.stdout
    assert user not in live.stdout and "eyJ" not in live.stdout.split("Result:")[1]


def _jwks_file(idp, tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(idp.jwks()))
    return path


def test_may_act_naming_another_party_is_refused_without_a_call(rig, idp):
    """RFC 8693 §4.4: `may_act` says who may act for the subject; Warden's client is not that party."""
    _, envoy = rig()
    idp.reset_counts()
    r = get(envoy, Minter(idp).mint(sub="alice", may_act={"sub": "billing"}))
    assert (r.status, r.body) == (403, b"Token exchange was refused")
    assert idp.count("/token") == 0
    assert get(envoy, Minter(idp).mint(sub="alice", may_act={"sub": "warden"})).status == 200


@pytest.mark.parametrize("act, status", [
    ({"sub": "gateway"}, 200),
    ({"sub": "other"}, 403),                                   # not an allowed current actor
    ({"sub": "gateway", "act": {"sub": "edge"}}, 403),         # two hops, maxDepth 1
    (None, 403),                                               # actors set: the token must be delegated
])
def test_token_policy_bounds_the_delegation_chain(idp, make_warden, make_envoy, upstream, tmp_path, act, status):
    """TokenPolicy `delegation` (a Warden rule: Istio's `when` keys have no chain depth): the current actor
    (the outermost `act`, RFC 8693 §4.1) must be listed, and the chain at most `maxDepth` long."""
    ra = ("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: default}\n"
          f"spec:\n  jwtRules:\n  - issuer: {idp.issuer}\n    jwksUri: {idp.jwks_uri}\n")
    tp = ("apiVersion: security.warden.io/v1alpha1\nkind: TokenPolicy\nmetadata: {name: chain, namespace: default}\n"
          f"spec:\n  jwtRules:\n  - issuer: {idp.issuer}\n    delegation: {{maxDepth: 1, actors: [gateway]}}\n")
    w = make_warden(write_policy_dir(tmp_path / "p", {"ra.yaml": ra, "tp.yaml": tp}))
    envoy = make_envoy(upstream_port=upstream.port, warden_port=w.port)
    token = Minter(idp).mint(sub="alice", **({"act": act} if act else {}))
    r = get(envoy, token)
    assert r.status == status, r.body
    if status == 403:
        assert r.body == b"Jwt delegation chain is not allowed"


def test_the_token_endpoint_comes_from_discovery_when_not_named(rig, idp, upstream):
    """No `endpoint`: the issuer's OIDC discovery document's `token_endpoint` (OIDC Discovery §3, §4.3)."""
    idp.reset_counts()
    _, envoy = rig(named_endpoint=False)
    assert get(envoy, Minter(idp).mint(sub="alice")).status == 200
    assert idp.count("/.well-known/openid-configuration") >= 1 and idp.count("/token") == 1
    assert claims_of(upstream.last()["headers"]["authorization"][7:])["aud"] == "orders-api"
