"""A RequestAuthentication rule's `timeout` bounds its JWKS fetch (Istio: "the maximum amount of time that
the resolver will spend waiting for the JWKS to be fetched. Default is 5s"); rules without one keep
--jwks-fetch-timeout. Needs WARDEN_BIN.
"""
from __future__ import annotations

import json
import time

from harness.grpc_client import AuthzClient
from harness.idp import IdP
from harness.warden import ALLOW_ALL_POLICY, write_policy_dir
from test_jwks_store import FETCH_FAILED, decision_reason, outcome


def policies(directory, idp: IdP, timeout: str | None):
    rule = f"  - issuer: {idp.issuer}\n    jwksUri: {idp.jwks_uri}\n"
    if timeout is not None:
        rule += f"    timeout: {timeout}\n"
    ra = ("apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n"
          "metadata: {name: jwt, namespace: default}\nspec:\n  jwtRules:\n" + rule)
    return write_policy_dir(directory, {"allow-all.yaml": ALLOW_ALL_POLICY, "ra.yaml": ra})


def test_rule_timeout_bounds_a_cold_check_while_the_default_waits(make_warden, idp, minter, tmp_path):
    idp.delay = 1.5
    hasty = make_warden(policies(tmp_path / "p1", idp, "500ms"), extra_args=["--ready-timeout", "0"])
    patient = make_warden(policies(tmp_path / "p2", idp, None), extra_args=["--ready-timeout", "0"])
    clients = [AuthzClient(hasty.address), AuthzClient(patient.address)]
    try:
        t0 = time.monotonic()
        assert outcome(clients[0], minter.mint(), "/hasty", timeout=8) == FETCH_FAILED
        elapsed = time.monotonic() - t0
        assert elapsed < 1.4, f"answered after {elapsed:.1f} s; the rule's timeout is 500ms, the IdP takes 1.5 s"
        assert "timed out" in decision_reason(hasty, "/hasty").lower()

        # No `timeout` on the rule: --jwks-fetch-timeout (5 s) applies, so the 1.5 s fetch (started at
        # startup, or by this check) completes and the check is allowed.
        assert outcome(clients[1], minter.mint(), "/patient", timeout=8) == "allow"

        # /config_dump shows the bound in force per source.
        bounds = [json.loads(w.admin_status("/config_dump")[1])["jwks"][0]["fetch_timeout_seconds"]
                  for w in (hasty, patient)]
        assert bounds == [0.5, 5.0], bounds
    finally:
        for c in clients:
            c.close()
        idp.delay = 0
