"""Minting JWTs with joserfc: any alg and kid, claim helpers, expired/future/wrong-key tokens."""
from __future__ import annotations

import base64
import json
import time

from joserfc import jwt
from joserfc.jws import JWSRegistry

from .idp import IdP, SigningKey, generate_key

# joserfc refuses some algorithms unless asked for explicitly; allow every one we mint with.
_ALL_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
             "HS256", "HS384", "HS512"]
_REGISTRY = JWSRegistry(algorithms=_ALL_ALGS)


def b64url(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(header: dict | str, payload: dict | str, signature: bytes | str = b"") -> str:
    """Assembles a token by hand (no signing): for malformed-token tests."""
    h = header if isinstance(header, str) else b64url(json.dumps(header, separators=(",", ":")))
    p = payload if isinstance(payload, str) else b64url(json.dumps(payload, separators=(",", ":")))
    s = signature if isinstance(signature, str) else b64url(signature)
    return f"{h}.{p}.{s}"


def decode_unverified(token: str) -> tuple[dict, dict]:
    """(header, payload) of a compact JWS, without verification."""
    def part(s: str) -> dict:
        return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
    h, p, _ = token.split(".")
    return part(h), part(p)


class Minter:
    """Signs tokens with the IdP's keys. Defaults: iss = the IdP's issuer, sub `alice`, aud `warden-test`,
    iat now, exp now+300, RS256 with the IdP's current RSA key."""

    def __init__(self, idp: IdP, audience: str | list[str] | None = "warden-test", subject: str = "alice"):
        self.idp = idp
        self.audience = audience
        self.subject = subject

    def claims(self, *, now: int | None = None, exp_in: int | None = 300, **overrides) -> dict:
        now = int(time.time()) if now is None else now
        claims: dict = {"iss": self.idp.issuer, "sub": self.subject, "iat": now}
        if self.audience is not None:
            claims["aud"] = self.audience
        if exp_in is not None:
            claims["exp"] = now + exp_in
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def mint(self, claims: dict | None = None, *, alg: str = "RS256", kid: str | None = None,
             key: SigningKey | None = None, header: dict | None = None, omit_kid: bool = False,
             exp_in: int | None = 300, **claim_overrides) -> str:
        """A signed token. `claims` replaces the defaults entirely; otherwise `claim_overrides` adjust them
        (a value of None removes the claim). `key` defaults to the IdP's key for `alg` (or `kid`)."""
        if key is None:
            key = self.idp.key(kid) if kid else self.idp.key_for(alg)
        if claims is None:
            claims = self.claims(exp_in=exp_in, **claim_overrides)
        hdr = {"alg": alg, "typ": "JWT"}
        if not omit_kid:
            hdr["kid"] = kid if kid is not None else key.kid
        if header:
            hdr.update(header)
        if any(v is None for v in hdr.values()):
            # A None value removes the member; jwt.encode would put typ back, so sign the JWS directly.
            from joserfc import jws
            hdr = {k: v for k, v in hdr.items() if v is not None}
            payload = json.dumps(claims, separators=(",", ":")).encode()
            return jws.serialize_compact(hdr, payload, key.jwk, algorithms=[alg])
        return jwt.encode(hdr, claims, key.jwk, algorithms=[alg], registry=_REGISTRY)

    # -- scenarios -------------------------------------------------------------------------------------
    def expired(self, seconds_ago: int = 3600, **kw) -> str:
        now = int(time.time())
        return self.mint(iat=now - seconds_ago - 300, exp=now - seconds_ago, **kw)

    def not_yet_valid(self, seconds_ahead: int = 3600, **kw) -> str:
        now = int(time.time())
        return self.mint(nbf=now + seconds_ahead, exp=now + seconds_ahead + 300, **kw)

    def wrong_key(self, alg: str = "RS256", **kw) -> str:
        """Signed by a fresh key that is not published, under the kid of the published one."""
        published = self.idp.key_for(alg)
        rogue = generate_key(alg, published.kid)
        return self.mint(key=rogue, alg=alg, **kw)

    def unknown_kid(self, alg: str = "RS256", kid: str = "no-such-kid", **kw) -> str:
        """Signed by a fresh, unpublished key under a kid the JWKS does not have."""
        return self.mint(key=generate_key(alg, kid), alg=alg, **kw)

    def tampered(self, **kw) -> str:
        """A valid token whose payload was changed after signing (sub → mallory)."""
        token = self.mint(**kw)
        h, _, s = token.split(".")
        _, payload = decode_unverified(token)
        payload["sub"] = "mallory"
        return f"{h}.{b64url(json.dumps(payload, separators=(',', ':')))}.{s}"
