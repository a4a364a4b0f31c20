"""Side-by-side oracles: one Envoy asks Warden (ext_authz), another runs Envoy's own filters configured
the way istiod compiles RequestAuthentication / AuthorizationPolicy. Tests send each request to both
and compare what a client and the upstream see."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from harness.envoy import render_config
from harness.warden import Warden, write_policy_dir

JWT_AUTHN_TYPE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"


def istiod_jwt_authn(providers: list[dict], required: frozenset[str] = frozenset()) -> dict:
    """A jwt_authn filter as istiod writes it for the given JwtProvider configs: providers sorted by
    issuer and named `origins-<i>`; a request passes when one provider verifies or every provider's token
    is missing (`any{P0, P1, …, all{any{P0, allow_missing}, …}}`, or `any{P0, allow_missing}` for one);
    CORS preflight bypassed (pilot/pkg/security/authn/policy_applier.go L147-L340 at istio 86c9f01).

    `required`: issuers whose rule has `presence: REQUIRED` (Istio API v1.31). istiod at 86c9f01 does not
    compile the field yet; its documented meaning ("a required token that is missing is a 401") is the
    provider's requirement without `allow_missing`: `P` instead of `any{P, allow_missing}`."""
    ordered = sorted(providers, key=lambda p: p.get("issuer", ""))
    names = [f"origins-{i}" for i in range(len(ordered))]
    inner = [{"provider_name": n} if p.get("issuer", "") in required else
             {"requires_any": {"requirements": [{"provider_name": n}, {"allow_missing": {}}]}}
             for n, p in zip(names, ordered)]
    outer = [{"provider_name": n} for n in names] + [{"requires_all": {"requirements": inner}}]
    # One provider: istiod writes just `any{P0, allow_missing}` (an `all` needs two entries).
    requires = inner[0] if len(inner) == 1 else {"requires_any": {"requirements": outer}}
    return {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": JWT_AUTHN_TYPE,
            "providers": dict(zip(names, ordered)),
            "rules": [{"match": {"prefix": "/"}, "requires": requires}],
            "bypass_cors_preflight": True,
        },
    }


def http_filters(config: dict) -> list[dict]:
    """The HTTP filter list of a `render_config()` bootstrap (its one listener's HCM)."""
    return config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]


@contextmanager
def envoy_pair(*, policies: dict[str, str], oracle_filters: list[dict], base: Path, warden_bin, upstream,
               make_envoy, prefix_filters: list[dict] = (), ext_authz_config: dict | None = None):
    """Yields (Envoy → Warden with `policies`, Envoy running `oracle_filters` then the router), both
    routing to `upstream`. `prefix_filters` run first in both (e.g. filters writing dynamic metadata);
    `ext_authz_config` adds fields to the Warden side's ext_authz filter."""
    w = Warden(write_policy_dir(base / "policies", policies), binary=warden_bin, work_dir=base, debug_headers=False)
    try:
        warden_config = render_config(upstream_port=upstream.port, warden_port=w.port, extra_filter_config=ext_authz_config)
        http_filters(warden_config)[:0] = list(prefix_filters)
        warden_envoy = make_envoy(warden_config)
        config = render_config(upstream_port=upstream.port, warden_port=w.port)
        hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        hcm["http_filters"] = [*prefix_filters, *oracle_filters, hcm["http_filters"][-1]]
        hcm["route_config"]["virtual_hosts"][0]["routes"] = [{"match": {"prefix": "/"},
                                                              "route": {"cluster": "upstream", "timeout": "5s"}}]
        yield warden_envoy, make_envoy(config)
    finally:
        w.stop()
        w.process.unregister()
