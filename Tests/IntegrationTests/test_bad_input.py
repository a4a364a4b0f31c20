"""Hostile and malformed input through the real binary (and real Envoy where it changes what Warden sees).

Every row names its exact expected outcome. The invariant behind all of them: never a crash, a hang or
an allow that the policy does not grant. After each table the same Warden must still answer a valid check.

Policy under test (module-scoped): RequestAuthentication for the rig IdP + an ALLOW policy that requires
a request principal. So: valid token → allow; no token → 403 `RBAC: access denied`; bad token → 401.
"""
from __future__ import annotations

import base64
import json
import time

import grpc
import pytest
from envoy.service.auth.v3 import external_auth_pb2
from google.protobuf import struct_pb2

from harness import httpclient
from harness.grpc_client import AuthzClient, header_mutations, make_check_request
from harness.tokens import Minter, b64url, raw_token
from harness.warden import Warden, write_policy_dir

OK, PERMISSION_DENIED, UNAUTHENTICATED = 0, 7, 16
MAX_REQUEST_BYTES = 262144

RBAC_DENIED = "RBAC: access denied"
JWT_MISSING = "Jwt is missing"
JWT_BAD_FORMAT = "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
JWT_VERIFICATION_FAILS = "Jwt verification fails"
JWT_ALG_UNSUPPORTED = "Jwt header [alg] is not supported"
JWT_UNKNOWN_KID = "Jwks doesn't have key to match kid or alg from Jwt"


def policies(idp) -> dict[str, str]:
    return {
        "ra.yaml": f"""
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: jwt, namespace: default}}
spec:
  jwtRules:
  - issuer: {idp.issuer}
    jwksUri: {idp.jwks_uri}
    outputClaimToHeaders: [{{header: x-jwt-sub, claim: sub}}]
""",
        "authz.yaml": """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: require-jwt, namespace: default}
spec:
  action: ALLOW
  rules:
  - from: [{source: {requestPrincipals: ["*"]}}]
  - to: [{operation: {paths: ["/public/*"]}}]
""",
    }


@pytest.fixture(scope="module")
def jwt_warden(warden_bin, module_idp, tmp_path_factory):
    base = tmp_path_factory.mktemp("bad-input")
    w = Warden(write_policy_dir(base / "policies", policies(module_idp)), binary=warden_bin, work_dir=base,
               extra_args=["--max-request-bytes", str(MAX_REQUEST_BYTES)])
    yield w
    w.stop()
    w.process.unregister()


@pytest.fixture(scope="module")
def client(jwt_warden):
    with AuthzClient(jwt_warden.address) as c:
        yield c


@pytest.fixture(scope="module")
def mint(module_idp) -> Minter:
    return Minter(module_idp)


def outcome(response: external_auth_pb2.CheckResponse) -> tuple:
    """("allow",) or (http status, body) of a CheckResponse."""
    if response.status.code == OK:
        return ("allow",)
    return (response.denied_response.status.code, response.denied_response.body)


def check(client: AuthzClient, headers: dict[str, str] | None = None, path: str = "/data") -> tuple:
    return outcome(client.check(make_check_request("GET", path, headers or {})))


def assert_still_serving(client: AuthzClient, mint: Minter) -> None:
    assert check(client, {"authorization": f"Bearer {mint.mint()}"}) == ("allow",)
    assert check(client) == (403, RBAC_DENIED)


# --- protobuf ------------------------------------------------------------------------------------------

def _nested_struct(depth: int) -> struct_pb2.Struct:
    value: dict = {"leaf": True}
    for _ in range(depth):
        value = {"n": value}
    s = struct_pb2.Struct()
    s.update(value)
    return s


def _with_metadata(depth: int) -> bytes:
    req = make_check_request()
    req.attributes.metadata_context.filter_metadata["x"].CopyFrom(_nested_struct(depth))
    return req.SerializeToString()


def _with_header_bytes(value: bytes) -> bytes:
    """A CheckRequest whose `x-raw` header value holds `value` verbatim (protobuf string fields must be
    UTF-8; Envoy never sends anything else, only a hostile gRPC client can)."""
    placeholder = "P" * len(value)
    wire = make_check_request(headers={"x-raw": placeholder}).SerializeToString()
    assert wire.count(placeholder.encode()) == 1
    return wire.replace(placeholder.encode(), value)


VALID = make_check_request().SerializeToString()

PROTOBUF_TABLE = [
    pytest.param(VALID[:len(VALID) // 2], grpc.StatusCode.INVALID_ARGUMENT, id="truncated-half"),
    pytest.param(VALID[:-1], grpc.StatusCode.INVALID_ARGUMENT, id="truncated-last-byte"),
    pytest.param(b"\x0a\xff\xff\xff\xff\x0f", grpc.StatusCode.INVALID_ARGUMENT, id="length-4GiB"),
    pytest.param(b"\x0a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", grpc.StatusCode.INVALID_ARGUMENT,
                 id="varint-11-bytes"),
    pytest.param(b"\x0d\x01\x02\x03\x04", grpc.StatusCode.INVALID_ARGUMENT, id="attributes-as-fixed32"),
    pytest.param(b"\x08\x01", grpc.StatusCode.INVALID_ARGUMENT, id="attributes-as-varint"),
    pytest.param(b"\x0b\x0c", grpc.StatusCode.INVALID_ARGUMENT, id="group-wire-type"),
    pytest.param(b"\x00\x01", grpc.StatusCode.INVALID_ARGUMENT, id="field-number-0"),
    pytest.param(_with_metadata(200), grpc.StatusCode.INVALID_ARGUMENT, id="struct-nested-200"),
    pytest.param(b"\x0a\x02" * 0 + (b"\x0a\x80\x01" + b"\x00" * 128), grpc.StatusCode.INVALID_ARGUMENT,
                 id="attributes-holding-zeros"),
    pytest.param(_with_header_bytes(b"\xff\xfe\xc0\xaf"), grpc.StatusCode.INVALID_ARGUMENT, id="non-utf8-header"),
    pytest.param(b"\x00" * (MAX_REQUEST_BYTES + 1), grpc.StatusCode.RESOURCE_EXHAUSTED, id="over-max-request-bytes"),
]


@pytest.mark.parametrize("payload,code", PROTOBUF_TABLE)
def test_malformed_protobuf(client, mint, jwt_warden, payload, code):
    with pytest.raises(grpc.RpcError) as error:
        client.check_raw(payload)
    assert error.value.code() == code, error.value.details()
    assert_still_serving(client, mint)


@pytest.mark.parametrize("payload", [
    pytest.param(_with_metadata(15), id="struct-nested-15"),
    pytest.param(b"\x0a" + b"\x80" * 5 + b"\x00", id="non-canonical-zero-length"),
    pytest.param(b"", id="empty"),
])
def test_valid_but_odd_protobuf_is_decided(client, payload):
    """Valid encodings (Struct nesting within the depth limit, a non-minimal varint) are decided, not rejected;
    with no token they meet the ALLOW rule's 403."""
    reply = external_auth_pb2.CheckResponse.FromString(client.check_raw(payload))
    assert outcome(reply) == (403, RBAC_DENIED)


def test_invalid_requests_are_counted(jwt_warden, client):
    def invalid() -> int:
        _, text = jwt_warden.admin_status("/metrics")
        return int(next(line.split()[-1] for line in text.splitlines()
                        if line.startswith("warden_invalid_requests_total")))
    before = invalid()
    for payload in (b"\x0a\x05abc", b"\x0f\x01"):
        with pytest.raises(grpc.RpcError):
            client.check_raw(payload)
    assert invalid() == before + 2


# --- HTTP attributes (direct gRPC: exactly what a hostile or misconfigured proxy could send) ----------------

def test_200_headers_and_a_valid_token_allows(client, mint):
    headers = {f"x-h{i}": f"v{i}" for i in range(200)}
    headers["authorization"] = f"Bearer {mint.mint()}"
    assert check(client, headers) == ("allow",)


def test_64k_header_value_is_just_a_header(client, mint):
    assert check(client, {"x-big": "a" * 65536, "authorization": f"Bearer {mint.mint()}"}, ) == ("allow",)
    assert check(client, {"x-big": "a" * 65536}) == (403, RBAC_DENIED)


def test_64k_authorization_is_a_malformed_token(client):
    assert check(client, {"authorization": "Bearer " + "a" * 65536}) == (401, JWT_BAD_FORMAT)


@pytest.mark.parametrize("value,expected", [
    pytest.param("Bearer", (403, RBAC_DENIED), id="scheme-only"),
    pytest.param("Bearer ", (401, JWT_BAD_FORMAT), id="empty-token"),
    pytest.param("Bearer    ", (401, JWT_BAD_FORMAT), id="spaces-only"),
    pytest.param("Basic YWxpY2U6cHc=", (403, RBAC_DENIED), id="basic-scheme"),
    pytest.param("Bearer \t", (401, JWT_BAD_FORMAT), id="tab-token"),
    pytest.param("Bearer a.b.c", (401, "Jwt header is an invalid Base64url encoded"), id="garbage-token"),
    pytest.param("Bearer e30.e30.c2ln", (401, "Jwt header [alg] field is required and must be a string"), id="empty-objects"),
    pytest.param("Bearer ....", (401, JWT_BAD_FORMAT), id="dots"),
])
def test_authorization_edge_values(client, value, expected):
    assert check(client, {"authorization": value}) == expected


@pytest.mark.parametrize("template,expected", [
    pytest.param("bearer {t}", (403, RBAC_DENIED), id="lowercase-scheme-is-not-a-bearer-token"),
    pytest.param("BEARER {t}", (403, RBAC_DENIED), id="uppercase-scheme-is-not-a-bearer-token"),
    pytest.param("Bearer\t{t}", (403, RBAC_DENIED), id="tab-instead-of-space-is-not-the-prefix"),
    pytest.param("Bearer  {t}", ("allow",), id="two-spaces"),
    pytest.param("Bearer \t{t}", ("allow",), id="space-tab"),
    # (Envoy trims it before ext_authz; sent directly, whitespace in a segment never verifies)
    pytest.param("Bearer {t}\t", (401, "Jwt verification fails"), id="trailing-tab"),
])
def test_scheme_case_and_whitespace(client, mint, template, expected):
    """The `Bearer ` prefix (with its space) is matched case-sensitively, as Envoy's extractor does, and
    characters that cannot start a JWT are skipped after it; a scheme that does not match is no token at
    all (→ the ALLOW rule's 403). Trailing junk stays part of the token (Envoy's `extractJWT` also returns
    the rest of the value) and fails to parse. Through Envoy, HTTP/1 trims trailing whitespace first."""
    assert check(client, {"authorization": template.format(t=mint.mint())}) == expected


def test_duplicate_authorization_joined_by_comma_is_rejected(client, mint):
    """Envoy's ext_authz joins repeated headers with ','; the joined value is one malformed token (Envoy's own
    jwt_authn would see two tokens and require both to be valid). Never an allow as either identity."""
    joined = f"Bearer {mint.mint()},Bearer {mint.mint(sub='mallory')}"
    result = check(client, {"authorization": joined})
    assert result[0] == 401, result


# --- tokens ---------------------------------------------------------------------------------------------

def _unsigned(mint: Minter, header: dict, sig: bytes = b"") -> str:
    return raw_token(header, mint.claims(), sig)


TOKEN_TABLE = [
    # An unsigned token (empty third segment) is not even compact serialization …
    pytest.param(lambda m: _unsigned(m, {"alg": "none"}), (401, JWT_BAD_FORMAT), id="alg-none-empty-signature"),
    pytest.param(lambda m: _unsigned(m, {"alg": "None"}), (401, JWT_BAD_FORMAT), id="alg-None-empty-signature"),
    # … and with any signature bytes, `none` in every spelling is an unsupported alg.
    pytest.param(lambda m: _unsigned(m, {"alg": "none"}, sig=b"x"), (401, JWT_ALG_UNSUPPORTED), id="alg-none"),
    pytest.param(lambda m: _unsigned(m, {"alg": "None"}, sig=b"x"), (401, JWT_ALG_UNSUPPORTED), id="alg-None"),
    pytest.param(lambda m: _unsigned(m, {"alg": "NONE"}, sig=b"x"), (401, JWT_ALG_UNSUPPORTED), id="alg-NONE"),
    pytest.param(lambda m: _unsigned(m, {"alg": "nOnE", "kid": "rsa-1"}, sig=b"x"), (401, JWT_ALG_UNSUPPORTED),
                 id="alg-nOnE-kid"),
    pytest.param(lambda m: _unsigned(m, {"alg": "RS256 ", "kid": "rsa-1"}, sig=b"x"), (401, JWT_ALG_UNSUPPORTED),
                 id="alg-with-space"),
    pytest.param(lambda m: _unsigned(m, {"alg": 256, "kid": "rsa-1"}, sig=b"x"),
                 (401, "Jwt header [alg] field is required and must be a string"), id="alg-number"),
    pytest.param(lambda m: _hs256_with_public_key(m), (401, None), id="rs-to-hs-confusion"),
    pytest.param(lambda m: _resigned_alg(m, "RS384"), (401, None), id="alg-swapped-rs384"),
    pytest.param(lambda m: _resigned_alg(m, "PS256"), (401, None), id="alg-swapped-ps256"),
    pytest.param(lambda m: m.mint(kid="../../../../etc/passwd", key=m.idp.key_for("RS256")), (401, JWT_UNKNOWN_KID),
                 id="kid-path-traversal"),
    pytest.param(lambda m: m.mint(kid="x' OR '1'='1", key=m.idp.key_for("RS256")), (401, JWT_UNKNOWN_KID), id="kid-sql"),
    pytest.param(lambda m: m.mint(kid="k" * 4000, key=m.idp.key_for("RS256")), (401, JWT_UNKNOWN_KID), id="kid-4000-bytes"),
    pytest.param(lambda m: m.mint(big="x" * 20000), (401, JWT_BAD_FORMAT), id="claims-20k"),
    pytest.param(lambda m: m.mint(nested=_nest(10)), ("allow",), id="claims-nested-10"),
    pytest.param(lambda m: m.mint(nested=_nest(40)), (401, "Jwt payload is an invalid JSON"), id="claims-nested-40"),
    pytest.param(lambda m: m.mint(exp=str(int(time.time()) + 300)), (401, "Jwt payload [exp] field is not an integer"),
                 id="exp-as-string"),
    pytest.param(lambda m: m.mint(nbf="0"), (401, "Jwt payload [nbf] field is not an integer"), id="nbf-as-string"),
    pytest.param(lambda m: m.mint(exp=1e300), (401, "Jwt payload [exp] field is not a positive 64 bit integer"),
                 id="exp-1e300"),
    pytest.param(lambda m: m.mint(exp=-5), (401, "Jwt payload [exp] field is not a positive 64 bit integer"), id="exp-negative"),
    pytest.param(lambda m: m.mint(iss=["a", "b"]), (401, "Jwt payload [iss] field is not a string"), id="iss-as-list"),
    pytest.param(lambda m: m.mint(sub=7), (401, "Jwt payload [sub] field is not a string"), id="sub-as-number"),
    pytest.param(lambda m: m.mint(aud=[1, 2]), (401, "Jwt payload [aud] field is not a string or string list"), id="aud-numbers"),
    pytest.param(lambda m: _payload_json(m, b'{"iss":"a","iss":"b"}'), (401, None), id="duplicate-iss"),
    pytest.param(lambda m: _payload_json(m, b'{"sub":"\\ud800"}'), (401, None), id="lone-surrogate"),
    pytest.param(lambda m: m.tampered(), (401, JWT_VERIFICATION_FAILS), id="tampered-payload"),
]


def _nest(depth: int):
    v: object = "leaf"
    for _ in range(depth):
        v = {"n": v}
    return v


def _hs256_with_public_key(m: Minter) -> str:
    """The classic confusion: HS256 'signed' with the RSA public key's PEM/JWK bytes as the secret."""
    import hashlib
    import hmac
    pub = m.idp.key_for("RS256").jwk.as_pem(private=False)
    header = {"alg": "HS256", "kid": m.idp.key_for("RS256").kid, "typ": "JWT"}
    signing = f"{b64url(json.dumps(header))}.{b64url(json.dumps(m.claims()))}"
    return f"{signing}.{b64url(hmac.new(pub, signing.encode(), hashlib.sha256).digest())}"


def _resigned_alg(m: Minter, alg: str) -> str:
    """A valid RS256 signature under a header claiming another RSA alg."""
    token = m.mint()
    _, payload, sig = token.split(".")
    header = {"alg": alg, "kid": m.idp.key_for("RS256").kid, "typ": "JWT"}
    return f"{b64url(json.dumps(header))}.{payload}.{sig}"


def _payload_json(m: Minter, payload: bytes) -> str:
    header = {"alg": "RS256", "kid": m.idp.key_for("RS256").kid}
    return raw_token(header, b64url(payload), b"x" * 256)


@pytest.mark.parametrize("make,expected", TOKEN_TABLE)
def test_hostile_tokens(client, mint, make, expected):
    result = check(client, {"authorization": f"Bearer {make(mint)}"})
    if len(expected) == 2 and expected[1] is None:
        assert result[0] == expected[0], result
    else:
        assert result == expected


def test_jku_and_x5u_are_never_fetched(client, mint, module_idp):
    """A token pointing jku/x5u/x5c at the IdP (a server Warden already trusts for another path) must be
    judged with the configured JWKS only: nothing is fetched from those URLs."""
    module_idp.reset_counts()
    rogue_paths = ["/rogue-jwks.json", "/rogue-cert.pem"]
    header = {"jku": module_idp.base_url + rogue_paths[0], "x5u": module_idp.base_url + rogue_paths[1]}
    valid = mint.mint(header=header)
    # A well-signed token is still judged by the configured JWKS (its extra headers are ignored) …
    assert check(client, {"authorization": f"Bearer {valid}"}) == ("allow",)
    # … and one signed by an unknown key that "brings its own keys" is rejected.
    from harness.idp import generate_key
    rogue = mint.mint(key=generate_key("RS256", "rogue"), header=header)
    assert check(client, {"authorization": f"Bearer {rogue}"}) == (401, JWT_UNKNOWN_KID)
    time.sleep(0.3)
    with module_idp.state.lock:
        seen = dict(module_idp.state.counts)
    assert not any(p in seen for p in rogue_paths), seen


def test_many_unknown_kids_do_not_hammer_the_idp(client, mint, module_idp):
    """DoS through kids: 50 tokens with 50 different unknown kids cause at most a few JWKS refetches."""
    from harness.idp import generate_key
    key = generate_key("RS256", "x")
    module_idp.reset_counts()
    for i in range(50):
        token = mint.mint(key=key, kid=f"unknown-{i}")
        assert check(client, {"authorization": f"Bearer {token}"}) == (401, JWT_UNKNOWN_KID)
    assert module_idp.count() <= 5, module_idp.count()
    assert_still_serving(client, mint)


# --- through Envoy: what the proxy really forwards ----------------------------------------------------

@pytest.fixture(scope="module")
def envoy(make_envoy, upstream, jwt_warden):
    return make_envoy(upstream_port=upstream.port, warden_port=jwt_warden.port)


def _raw_http(envoy, lines: list[bytes]) -> tuple[int, bytes]:
    """Sends a hand-written HTTP/1.1 request (repeated headers, tabs) and returns (status, body)."""
    import socket
    host, port = envoy.url("/").split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"\r\n".join(lines) + b"\r\nconnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_envoy_duplicate_authorization_headers_deny(envoy, upstream, mint):
    upstream.clear()
    a, b = mint.mint(), mint.mint(sub="mallory")
    status, _ = _raw_http(envoy, [b"GET /data HTTP/1.1", b"host: example.com",
                                  f"authorization: Bearer {a}".encode(), f"authorization: Bearer {b}".encode()])
    assert status == 401
    assert upstream.count() == 0


@pytest.mark.parametrize("template,status", [
    pytest.param("Bearer\t{t}", 403, id="tab-instead-of-space"),
    pytest.param("Bearer \t{t}", 200, id="space-tab"),
    pytest.param("Bearer {t}\t ", 200, id="trailing-whitespace-trimmed-by-envoy"),
    pytest.param("bearer {t}", 403, id="lowercase"),
])
def test_envoy_authorization_whitespace_and_case(envoy, mint, template, status):
    got, body = _raw_http(envoy, [b"GET /data HTTP/1.1", b"host: example.com",
                                  f"authorization: {template.format(t=mint.mint())}".encode()])
    assert got == status, body


@pytest.mark.parametrize("with_token", [True, False], ids=["with-token", "anonymous"])
def test_envoy_spoofed_identity_header_never_reaches_upstream(envoy, upstream, mint, with_token):
    """A client-sent copy of a header Warden writes from claims (outputClaimToHeaders) is overwritten with the
    verified claim, or removed when there is no token; a spoofed x-warden-decision is not trusted either."""
    upstream.clear()
    headers = {"x-jwt-sub": "admin", "x-warden-decision": "allow"}
    if with_token:
        headers["authorization"] = f"Bearer {mint.mint()}"
    response = httpclient.request("GET", envoy.url("/public/page"), headers=headers)
    assert response.status == 200
    seen = response.json()["header_list"]
    assert [v for k, v in seen if k == "x-jwt-sub"] == (["alice"] if with_token else [])
    assert [v for k, v in seen if k == "x-warden-decision"] == ["allow"]  # the debug header Warden set, once


def _dropped_headers(warden) -> float:
    status, text = warden.admin_status("/metrics")
    assert status == 200
    return next(float(line.split()[1]) for line in text.splitlines() if line.startswith("warden_output_headers_dropped_total "))


@pytest.mark.parametrize("sub", [
    pytest.param("alice\r\nx-admin: yes", id="crlf"),
    pytest.param("alice\nx-admin: yes", id="lf"),
    pytest.param("alice\u0000", id="nul"),
    pytest.param("alice\u0001bob", id="control"),
    pytest.param("alice ", id="trailing-space"),
])
def test_envoy_claim_that_is_no_header_value_is_not_set(envoy, upstream, mint, jwt_warden, sub):
    """RFC 9110 §5.5: a validly signed claim with CR/LF/NUL/controls (a user-edited display name) is not
    copied into its header; the request is still decided (200 here, never a 5xx or Envoy's status_on_error,
    which is what `validate_mutations: true` turns an invalid answer into), the client's copy is removed,
    and the drop is counted. Before: Envoy refused Warden's answer."""
    upstream.clear()
    before = _dropped_headers(jwt_warden)
    response = httpclient.request("GET", envoy.url("/data"),
                                  headers={"authorization": f"Bearer {mint.mint(sub=sub)}", "x-jwt-sub": "admin"})
    assert response.status == 200, response.body
    seen = response.json()["header_list"]
    assert [v for k, v in seen if k in ("x-jwt-sub", "x-admin")] == []
    assert _dropped_headers(jwt_warden) == before + 1


def test_envoy_many_headers(envoy, upstream, mint):
    # 80 headers: forwarded to Warden and decided (the echo upstream, Python's http.server, caps at 100).
    headers = {f"x-h{i}": "v" for i in range(80)}
    headers["authorization"] = f"Bearer {mint.mint()}"
    assert httpclient.request("GET", envoy.url("/data"), headers=headers).status == 200
    # 200 headers: above Envoy's max_request_headers_count (100): Envoy answers 431, nothing reaches upstream.
    upstream.clear()
    too_many = {f"x-h{i}": "v" for i in range(200)}
    too_many["authorization"] = f"Bearer {mint.mint()}"
    assert httpclient.request("GET", envoy.url("/data"), headers=too_many).status == 431
    assert upstream.count() == 0


def test_envoy_64k_header_is_rejected_by_envoy_before_warden(envoy, upstream, mint):
    upstream.clear()
    headers = {"x-big": "a" * 65536, "authorization": f"Bearer {mint.mint()}"}
    status = httpclient.request("GET", envoy.url("/data"), headers=headers).status
    assert status in (431, 400, 0)
    assert upstream.count() == 0


def test_envoy_non_utf8_header_is_sanitized_and_decided(envoy, upstream, mint):
    """Envoy replaces invalid UTF-8 with '!' in the CheckRequest; Warden decides normally."""
    upstream.clear()
    status, body = _raw_http(envoy, [b"GET /data HTTP/1.1", b"host: example.com", b"x-bin: \xff\xfe\x80",
                                     f"authorization: Bearer {mint.mint()}".encode()])
    assert status == 200, body
    status, _ = _raw_http(envoy, [b"GET /data HTTP/1.1", b"host: example.com", b"x-bin: \xff\xfe\x80"])
    assert status == 403


# --- policy YAML ---------------------------------------------------------------------------------------

BILLION_LAUGHS = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: lol, namespace: default}
spec:
  action: ALLOW
  rules:
  - to:
    - operation:
        paths: &a0 ["/lol", "/lol", "/lol", "/lol", "/lol", "/lol", "/lol", "/lol", "/lol", "/lol"]
""" + "".join(f"        hosts{i}: &a{i} [*a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}]\n"
              for i in range(1, 10))

WRONG_TYPES = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: wrong, namespace: default}
spec:
  action: ALLOW
  rules:
  - to:
    - operation:
        methods: GET
"""


def _ten_megabytes() -> str:
    doc = ("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: big%d, namespace: other}\n"
           "spec:\n  action: ALLOW\n  rules:\n  - to: [{operation: {paths: [\"/%s\"]}}]\n")
    out, i = [], 0
    size = 0
    while size < 10 * 1024 * 1024:
        piece = doc % (i, "p" * 1000)
        out.append(piece)
        size += len(piece) + 4
        i += 1
    return "---\n".join(out)


def _reloads(w: Warden, result: str) -> int:
    _, text = w.admin_status("/metrics")
    key = f'warden_policy_reloads_total{{result="{result}"}}'
    return int(next(line.split()[-1] for line in text.splitlines() if line.startswith(key)))


@pytest.mark.parametrize("name,text", [
    pytest.param("lol.yaml", BILLION_LAUGHS, id="billion-laughs"),
    pytest.param("wrong.yaml", WRONG_TYPES, id="wrong-types"),
    pytest.param("big.yaml", None, id="ten-megabytes"),
    pytest.param("syntax.yaml", "kind: [unclosed\n  - {", id="syntax-error"),
    pytest.param("binary.yaml", "\x00\x01\x02 kind: x", id="binary"),
])
def test_bad_policy_keeps_last_good_set(make_warden, module_idp, tmp_path, name, text):
    directory = write_policy_dir(tmp_path / "p", policies(module_idp))
    mint = Minter(module_idp)
    w = make_warden(policies=directory, extra_args=["--reload-interval", "0.2"])
    with AuthzClient(w.address) as c:
        assert check(c, {"authorization": f"Bearer {mint.mint()}"}) == ("allow",)
        failed = _reloads(w, "failed")
        (directory / name).write_text(text if text is not None else _ten_megabytes())
        started = time.monotonic()
        while _reloads(w, "failed") == failed and time.monotonic() - started < 20:
            time.sleep(0.1)
        assert _reloads(w, "failed") > failed, "the broken file was not noticed"
        assert w.process.alive()
        assert check(c, {"authorization": f"Bearer {mint.mint()}"}) == ("allow",)
        assert check(c) == (403, RBAC_DENIED)
    log = w.log_text()
    assert name in log, "the config error names the file"


@pytest.mark.parametrize("text,needle", [
    pytest.param(WRONG_TYPES, "methods", id="wrong-types"),
    pytest.param(BILLION_LAUGHS, "alias", id="billion-laughs"),
])
def test_bad_policy_at_start_is_a_clear_config_error(warden_bin, tmp_path, text, needle):
    import subprocess
    directory = write_policy_dir(tmp_path / "p", {"bad.yaml": text})
    proc = subprocess.run([warden_bin, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                           "--policy", str(directory)], capture_output=True, text=True, timeout=20)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "bad.yaml" in output and needle in output.lower(), output[-2000:]
