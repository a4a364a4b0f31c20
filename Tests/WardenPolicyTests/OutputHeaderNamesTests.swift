import Foundation
import Testing
import WardenPolicy

/// `PolicySet.outputHeaderNames`, which `warden validate` prints for the operator's proxy config: every header a
/// rule of any dialect writes toward the upstream. The seed's examples (deploy/dialects) as written.
@Suite struct OutputHeaderNamesTests {
    static let dialects = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../deploy/dialects").standardized

    @Test(arguments: [
        ("istio.yaml", ["x-jwt-payload", "x-user-id"]),          // outputPayloadToHeader, outputClaimToHeaders
        ("jwt-authn.yaml", ["x-jwt-payload", "x-user-id"]),      // forward_payload_header, claim_to_headers
        ("security-policy.yaml", ["x-user-id"]),                 // claimToHeaders
    ])
    func theSeedExamples(_ file: String, _ expected: [String]) throws {
        let set = try PolicySource(paths: [Self.dialects.appendingPathComponent(file).path]).load()
        #expect(set.outputHeaderNames == expected)
    }

    @Test func namesAreLowerCasedAndListedOnce() throws {
        let set = try PolicySet.parse(yaml: """
            apiVersion: security.istio.io/v1
            kind: RequestAuthentication
            metadata: {name: a, namespace: default}
            spec:
              jwtRules:
              - issuer: https://a.example
                jwks: '{"keys":[]}'
                outputClaimToHeaders: [{header: X-Sub, claim: sub}, {header: x-tenant, claim: org.tenant}]
              - issuer: https://b.example
                jwks: '{"keys":[]}'
                outputClaimToHeaders: [{header: x-sub, claim: sub}]
            """)
        #expect(set.outputHeaderNames == ["x-sub", "x-tenant"])
        #expect(try PolicySet.parse(yaml: "").outputHeaderNames.isEmpty)
    }
}
