"""A local OIDC identity provider: JWKS + discovery on 127.0.0.1, with controls for rotation and outages."""
from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

from .ports import LOCALHOST

# alg → (kty, curve or size) of the key that signs it.
ALG_KEY_TYPES = {
    "RS256": ("RSA", 2048), "RS384": ("RSA", 2048), "RS512": ("RSA", 2048),
    "PS256": ("RSA", 2048), "PS384": ("RSA", 2048), "PS512": ("RSA", 2048),
    "ES256": ("EC", "P-256"), "ES384": ("EC", "P-384"), "ES512": ("EC", "P-521"),
    "EdDSA": ("OKP", "Ed25519"),
    "HS256": ("oct", 32), "HS384": ("oct", 48), "HS512": ("oct", 64),
}
_CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}


@dataclass
class SigningKey:
    """A private key the IdP can sign with, plus how it is published."""
    kid: str
    alg: str
    jwk: object  # joserfc key (RSAKey, ECKey, OKPKey or OctKey), private
    published: bool = True

    def public_jwk(self) -> dict:
        if isinstance(self.jwk, OctKey):
            return self.jwk.as_dict(private=True, kid=self.kid, alg=self.alg, use="sig")
        return self.jwk.as_dict(private=False, kid=self.kid, alg=self.alg, use="sig")


def generate_key(alg: str, kid: str) -> SigningKey:
    """A fresh key for `alg`, generated with `cryptography` (RSA 2048, EC P-256/384/521, Ed25519) or random bytes."""
    kty, param = ALG_KEY_TYPES[alg]
    if kty == "RSA":
        jwk = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=param))
    elif kty == "EC":
        jwk = ECKey.import_key(ec.generate_private_key(_CURVES[param]()))
    elif kty == "OKP":
        jwk = OKPKey.import_key(ed25519.Ed25519PrivateKey.generate())
    else:
        import os
        jwk = OctKey.import_key(os.urandom(param))
    return SigningKey(kid=kid, alg=alg, jwk=jwk)


@dataclass
class IdPState:
    keys: list[SigningKey] = field(default_factory=list)
    status_override: int | None = None  # answer every request with this HTTP status
    delay: float = 0.0  # seconds to sleep before answering
    cache_control: str | None = "max-age=300"
    extra_jwks: list[dict] = field(default_factory=list)  # raw JWK dicts appended as-is (e.g. malformed)
    raw_jwks_body: bytes | None = None  # when set, served verbatim instead of the JWKS
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # RFC 7662 introspection: opaque token → its claims (active) ; client id → secret ; last form seen
    opaque: dict[str, dict] = field(default_factory=dict)
    clients: dict[str, str] = field(default_factory=lambda: {"warden": "introspection-secret"})
    introspection_requests: list[dict] = field(default_factory=list)
    client_keys: dict[str, dict] = field(default_factory=dict)  # client id → public JWK (private_key_jwt)
    # RFC 8693 token exchange at /token: audiences it refuses (invalid_target), the lifetime it grants
    exchange_refused_audiences: set = field(default_factory=set)
    exchange_expires_in: int = 300
    exchange_requests: list[dict] = field(default_factory=list)
    assertion_jtis: set = field(default_factory=set)


class IdP:
    """JWKS at `/jwks.json`, discovery at `/.well-known/openid-configuration`; issuer = base URL.

    Controls: `rotate()`, `add_key()`, `unpublish()`, `go_down()`/`come_up()` (connection refused),
    `fail_with(status)`, `delay`, `serve_raw_jwks(bytes)`; `count(path)` tells how often a path was fetched.
    By default it holds one RSA 2048 (`rsa-1`, RS256), one EC P-256 (`ec-1`, ES256) and one Ed25519
    (`ed-1`, EdDSA) key.
    """

    def __init__(self, issuer_path: str = ""):
        self.state = IdPState()
        self.issuer_path = issuer_path.rstrip("/")
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self._generation = 1
        for alg, kid in (("RS256", "rsa-1"), ("ES256", "ec-1"), ("EdDSA", "ed-1")):
            self.state.keys.append(generate_key(alg, kid))
        self.come_up()

    # -- addresses -------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def issuer(self) -> str:
        return self.base_url + self.issuer_path

    @property
    def jwks_uri(self) -> str:
        return self.issuer + "/jwks.json"

    @property
    def discovery_uri(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    # -- keys ------------------------------------------------------------------------------------------
    def key(self, kid: str) -> SigningKey:
        with self.state.lock:
            for k in self.state.keys:
                if k.kid == kid:
                    return k
        raise KeyError(kid)

    def key_for(self, alg: str) -> SigningKey:
        """The newest published key for `alg`; generates and publishes one if none exists."""
        with self.state.lock:
            for k in reversed(self.state.keys):
                if k.alg == alg and k.published:
                    return k
        return self.add_key(alg)

    def add_key(self, alg: str, kid: str | None = None, published: bool = True) -> SigningKey:
        kid = kid or f"{alg.lower()}-{self._next_generation()}"
        key = generate_key(alg, kid)
        key.published = published
        with self.state.lock:
            self.state.keys.append(key)
        return key

    def rotate(self, alg: str = "RS256", keep_old: bool = False) -> SigningKey:
        """Publishes a new key for `alg` under a new kid; drops the old ones for that alg unless `keep_old`."""
        new = generate_key(alg, f"{alg.lower()}-{self._next_generation()}")
        with self.state.lock:
            if not keep_old:
                self.state.keys = [k for k in self.state.keys if k.alg != alg]
            self.state.keys.append(new)
        return new

    def unpublish(self, kid: str) -> None:
        """Keeps the private key (tokens can still be minted) but removes it from the JWKS."""
        self.key(kid).published = False

    def jwks(self) -> dict:
        with self.state.lock:
            keys = [k.public_jwk() for k in self.state.keys if k.published and k.alg[:2] != "HS"]
            return {"keys": keys + list(self.state.extra_jwks)}

    def jwks_with_secrets(self) -> dict:
        """JWKS including the symmetric (HS*) keys, for tests that configure inline JWKS."""
        with self.state.lock:
            return {"keys": [k.public_jwk() for k in self.state.keys if k.published]}

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "introspection_endpoint": self.introspection_endpoint,
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": sorted({k.alg for k in self.state.keys}),
        }

    # -- opaque tokens (RFC 7662) ----------------------------------------------------------------------
    @property
    def token_endpoint(self) -> str:
        return self.issuer + "/token"

    @property
    def introspection_endpoint(self) -> str:
        return self.issuer + "/introspect"

    def issue_opaque(self, **claims) -> str:
        """A random opaque token whose introspection answer is `{"active": true, **claims}`."""
        import secrets
        token = secrets.token_urlsafe(32)
        with self.state.lock:
            self.state.opaque[token] = dict(claims)
        return token

    def revoke(self, token: str) -> None:
        with self.state.lock:
            self.state.opaque.pop(token, None)

    # -- faults ----------------------------------------------------------------------------------------
    @property
    def delay(self) -> float:
        return self.state.delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        self.state.delay = seconds

    def fail_with(self, status: int | None) -> None:
        """Answer every request with `status` (e.g. 500, 503); None restores normal service."""
        self.state.status_override = status

    def serve_raw_jwks(self, body: bytes | None) -> None:
        """Serve `body` verbatim at the JWKS path (e.g. invalid JSON); None restores the real JWKS."""
        self.state.raw_jwks_body = body

    def go_down(self) -> None:
        """Closes the listening socket: connections are refused until `come_up()` (same port)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def come_up(self) -> None:
        if self._server is not None:
            return
        self._server = ThreadingHTTPServer((LOCALHOST, self.port), _handler_for(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"idp-{self.port}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.go_down()

    # -- observation -----------------------------------------------------------------------------------
    def count(self, path: str = "/jwks.json") -> int:
        """How many requests arrived for `path` (relative to the issuer path)."""
        with self.state.lock:
            return self.state.counts.get(self.issuer_path + path, 0)

    def reset_counts(self) -> None:
        with self.state.lock:
            self.state.counts.clear()

    def _next_generation(self) -> int:
        self._generation += 1
        return self._generation


def _handler_for(idp: IdP):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
            pass

        def do_GET(self):  # noqa: N802
            state = idp.state
            path = self.path.split("?", 1)[0]
            with state.lock:
                state.counts[path] = state.counts.get(path, 0) + 1
            if state.delay:
                time.sleep(state.delay)
            if state.status_override is not None:
                return self._send(state.status_override, b'{"error":"unavailable"}')
            if path == idp.issuer_path + "/jwks.json":
                body = state.raw_jwks_body if state.raw_jwks_body is not None else json.dumps(idp.jwks()).encode()
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    return self._send(304, b"", etag=etag)
                return self._send(200, body, etag=etag)
            if path == idp.issuer_path + "/.well-known/openid-configuration":
                return self._send(200, json.dumps(idp.discovery()).encode())
            return self._send(404, b'{"error":"not found"}')

        def do_POST(self):  # noqa: N802
            """RFC 7662 §2.1: POST form `token`, client authentication by Basic or client_secret_post."""
            import base64
            from urllib.parse import parse_qs, unquote
            state = idp.state
            path = self.path.split("?", 1)[0]
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            with state.lock:
                state.counts[path] = state.counts.get(path, 0) + 1
            if state.delay:
                time.sleep(state.delay)
            if state.status_override is not None:
                return self._send(state.status_override, b'{"error":"unavailable"}')
            if path not in (idp.issuer_path + "/introspect", idp.issuer_path + "/token"):
                return self._send(404, b'{"error":"not found"}')
            multi = parse_qs(raw, keep_blank_values=True)
            form = {k: v[0] for k, v in multi.items()}
            auth = self.headers.get("Authorization", "")
            if form.get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
                client, method = form.get("client_id"), "private_key_jwt"
                secret = None
                known = self._assertion_ok(client, form.get("client_assertion", ""))
            elif auth.startswith("Basic "):
                user, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                client, secret, method = unquote(user), unquote(secret), "client_secret_basic"
            else:
                client, secret, method = form.get("client_id"), form.get("client_secret"), "client_secret_post"
            with state.lock:
                state.introspection_requests.append({"method": method, "client": client, "form": form,
                                                     "content_type": self.headers.get("Content-Type")})
                if method != "private_key_jwt":
                    known = client is not None and state.clients.get(client) == secret
                claims = state.opaque.get(form.get("token", ""))
            if not known:  # RFC 7662 §2.3 / RFC 6749 §2.3: the client must authenticate
                return self._send(401, b'{"error":"invalid_client"}')
            if path == idp.issuer_path + "/token":
                return self._token_exchange(client, form, multi)
            if claims is None:
                return self._send(200, b'{"active":false}')
            return self._send(200, json.dumps({"active": True, **claims}).encode())

        def _token_exchange(self, client: str, form: dict, multi: dict):
            """RFC 8693 §2: the subject token must be one this IdP signed; the new token is for the requested
            audiences, keeps sub and scope, and records the chain in `act` (§4.1: the new actor outermost)."""
            from joserfc import jwt as jose_jwt
            from joserfc.jwk import KeySet
            from harness.tokens import Minter
            state = idp.state
            with state.lock:
                state.exchange_requests.append({"client": client, "form": form, "audiences": multi.get("audience", []),
                                                "resources": multi.get("resource", [])})
            if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange":
                return self._send(400, b'{"error":"unsupported_grant_type"}')
            try:
                subject = jose_jwt.decode(form.get("subject_token", ""), KeySet.import_key_set(idp.jwks()),
                                          algorithms=["RS256", "ES256", "EdDSA"]).claims
            except Exception:  # noqa: BLE001 - any failure: not our token
                return self._send(400, b'{"error":"invalid_grant","error_description":"subject token not issued here"}')
            audiences = multi.get("audience", []) + multi.get("resource", [])
            if not audiences or any(a in state.exchange_refused_audiences for a in audiences):
                return self._send(400, b'{"error":"invalid_target","error_description":"audience not allowed"}')
            actor = client
            if "actor_token" in form:
                actor = jose_jwt.decode(form["actor_token"], KeySet.import_key_set(idp.jwks()),
                                        algorithms=["RS256", "ES256", "EdDSA"]).claims.get("sub", client)
            act = {"sub": actor}
            if "act" in subject:
                act["act"] = subject["act"]
            now = int(time.time())
            claims = {"iss": idp.issuer, "sub": subject.get("sub"), "aud": audiences[0] if len(audiences) == 1 else audiences,
                      "iat": now, "exp": now + state.exchange_expires_in, "act": act, "client_id": client}
            if form.get("scope") or subject.get("scope"):
                claims["scope"] = form.get("scope") or subject.get("scope")
            token = Minter(idp).mint(claims)
            return self._send(200, json.dumps({"access_token": token, "token_type": "Bearer", "expires_in": state.exchange_expires_in,
                                               "issued_token_type": "urn:ietf:params:oauth:token-type:access_token"}).encode())

        def _assertion_ok(self, client, assertion: str) -> bool:
            """RFC 7523 §3: signed by the client's registered key; iss = sub = client id; aud = this endpoint;
            not expired; a jti used once."""
            from joserfc import jwt as jose_jwt
            from joserfc.jwk import JWKRegistry
            jwk = idp.state.client_keys.get(client or "")
            if jwk is None:
                return False
            try:
                token = jose_jwt.decode(assertion, JWKRegistry.import_key(jwk),
                                        algorithms=["RS256", "PS256", "ES256", "ES384", "EdDSA"])
            except Exception:  # noqa: BLE001 - any decoding or signature failure is an unknown client
                return False
            c = token.claims
            now = time.time()
            with idp.state.lock:
                fresh = c.get("jti") not in idp.state.assertion_jtis
                idp.state.assertion_jtis.add(c.get("jti"))
            return (c.get("iss") == client and c.get("sub") == client and c.get("aud") in (idp.introspection_endpoint, idp.token_endpoint)
                    and c.get("exp", 0) > now and c.get("iat", now + 10) <= now + 5 and fresh)

        def _send(self, status: int, body: bytes, etag: str | None = None):
            self.send_response(status)
            if status != 304:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if idp.state.cache_control and status in (200, 304):
                self.send_header("Cache-Control", idp.state.cache_control)
            if etag:
                self.send_header("ETag", etag)
            self.end_headers()
            if body:
                self.wfile.write(body)

    return Handler
