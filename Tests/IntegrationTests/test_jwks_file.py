"""`--jwks-file ISSUER=PATH`: an operator's local JWKS file replaces the rule's remote source (air-gapped
clusters); the IdP is never asked, and a new kid written to the file is picked up by the unknown-kid re-read."""
from __future__ import annotations

import json

from harness.grpc_client import AuthzClient, make_check_request
from harness.warden import write_policy_dir


def test_local_jwks_file_replaces_the_remote_source(make_warden, idp, minter, tmp_path):
    jwks = tmp_path / "keys.json"
    jwks.write_text(json.dumps(idp.jwks()))
    policies = tmp_path / "policies"
    write_policy_dir(policies, {"ra.yaml": f"""
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: jwt, namespace: default}}
spec:
  jwtRules:
  - issuer: {idp.issuer}
    jwksUri: {idp.jwks_uri}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: need-jwt, namespace: default}}
spec:
  rules:
  - from:
    - source: {{requestPrincipals: ["*"]}}
"""})
    idp.reset_counts()
    w = make_warden(policies=policies, extra_args=["--jwks-file", f"{idp.issuer}={jwks}"])
    with AuthzClient(w.address) as client:
        ok = client.check(make_check_request(headers={"authorization": f"Bearer {minter.mint()}"}))
        assert ok.HasField("ok_response"), ok
        # A key added to the file (not to the IdP) is found by the unknown-kid re-read.
        new_key = idp.add_key("ES256", kid="file-only", published=False)
        doc = idp.jwks()
        doc["keys"].append(new_key.public_jwk())
        jwks.write_text(json.dumps(doc))
        fresh = client.check(make_check_request(headers={"authorization": f"Bearer {minter.mint(alg='ES256', key=new_key)}"}))
        assert fresh.HasField("ok_response"), fresh
        denied = client.check(make_check_request(headers={"authorization": "Bearer " + minter.unknown_kid()}))
        assert denied.denied_response.status.code == 401
        assert denied.denied_response.body == "Jwks doesn't have key to match kid or alg from Jwt"
    assert idp.count() == 0  # the remote jwksUri was never fetched
