import Testing
import WardenYAML
@testable import WardenPolicy

struct ErrorFixture: Sendable, CustomTestStringConvertible {
    var file: String
    var expected: String
    var testDescription: String { file }
}

let errorFixtures: [ErrorFixture] = [
    ErrorFixture(file: "methods-not-list.yaml",
                 expected: "errors/methods-not-list.yaml:12: spec.rules[0].to[1].operation.methods: expected a list of strings, found a scalar"),
    ErrorFixture(file: "deny-without-rules.yaml",
                 expected: "errors/deny-without-rules.yaml:17: spec.action: a DENY policy must have at least one rule (use rules: [{}] to deny everything)"),
    ErrorFixture(file: "unknown-when-key.yaml",
                 expected: "errors/unknown-when-key.yaml:10: spec.rules[0].when[1].key: attribute destination.labels[app] is replaced by the workload selector"),
    ErrorFixture(file: "when-without-values.yaml",
                 expected: "errors/when-without-values.yaml:8: spec.rules[0].when[0]: at least one of values or notValues must be set for key request.headers[x-tenant]"),
    ErrorFixture(file: "jwt-without-issuer.yaml", expected: "errors/jwt-without-issuer.yaml:9: spec.jwtRules[1]: issuer or jwksUri must be non-empty string"),
    ErrorFixture(file: "jwks-uri-scheme.yaml",
                 expected: "errors/jwks-uri-scheme.yaml:8: spec.jwtRules[0].jwksUri: URI scheme \"ftp\" is not supported"),
    ErrorFixture(file: "bad-cidr.yaml", expected: "errors/bad-cidr.yaml:11: spec.rules[0].from[0].source.ipBlocks[1]: bad CIDR range (10.0.0.0/33)"),
    ErrorFixture(file: "typo-field.yaml",
                 expected: "errors/typo-field.yaml:10: spec.rules[0].to[0].operation.notpaths: unknown field (expected one of: hosts, methods, notHosts, notMethods, notPaths, notPorts, paths, ports)"),
    ErrorFixture(file: "quoted-bool.yaml",
                 expected: "errors/quoted-bool.yaml:8: spec.jwtRules[0].forwardOriginalToken: expected a boolean (true or false), found quoted \"true\""),
    ErrorFixture(file: "bad-timeout.yaml",
                 expected: "errors/bad-timeout.yaml:8: spec.jwtRules[0].timeout: invalid duration \"5 seconds\": must be a valid duration greater than 1ms (e.g. \"5s\", \"500ms\", \"1m\")"),
    ErrorFixture(file: "bad-template.yaml",
                 expected: "errors/bad-template.yaml:9: spec.rules[0].to[0].operation.paths[0]: invalid or unsupported path template \"/users/{id}/{*}\" (only {*} and {**} are supported)"),
    ErrorFixture(file: "alias.yaml", expected: "errors/alias.yaml:12: YAML aliases are not supported (found *m)"),
    ErrorFixture(file: "syntax.yaml",
                 expected: "errors/syntax.yaml:6: did not find expected ',' or ']' (while parsing a flow sequence at line 5, column 14)"),
]

@Suite struct PolicyLoadingTests {
    @Test(arguments: errorFixtures)
    func invalidResourceNamesFileLineAndField(_ fixture: ErrorFixture) {
        let root = fixturesDirectory()
        let source = PolicySource(paths: ["\(root)/errors/\(fixture.file)"])
        do {
            _ = try source.load()
            Issue.record("\(fixture.file) loaded without error")
        } catch {
            #expect(error.errors.map { $0.description.replacing(root + "/", with: "") } == [fixture.expected])
        }
    }

    @Test func allErrorsOfADirectoryAreReportedTogether() {
        let root = fixturesDirectory()
        do {
            _ = try PolicySource(paths: ["\(root)/errors"]).load()
            Issue.record("loading the error fixtures succeeded")
        } catch {
            #expect(error.errors.count == errorFixtures.count)
        }
    }

    @Test func bothAPIVersionsAndAllJWTFieldsLoad() throws {
        let set = try PolicySet.parse(yaml: """
            apiVersion: security.istio.io/v1beta1
            kind: RequestAuthentication
            metadata:
              name: jwt
              namespace: foo
            spec:
              selector:
                matchLabels: {app: web}
              jwtRules:
              - issuer: https://issuer.example
                audiences: [api, web]
                jwksUri: https://issuer.example/.well-known/jwks.json
                fromHeaders:
                - name: x-jwt
                  prefix: "Token "
                fromParams: [token]
                fromCookies: [session]
                forwardOriginalToken: true
                outputClaimToHeaders:
                - header: x-user
                  claim: sub
                - header: x-org
                  claim: org.name
                outputPayloadToHeader: x-jwt-payload
                timeout: 1m30s
                spaceDelimitedClaims: [roles]
              - issuer: other
                jwks: '{"keys":[]}'
            """)
        let ra = try #require(set.requestAuthentications.first)
        #expect(ra.ref == PolicyRef(namespace: "foo", name: "jwt"))
        #expect(ra.selector?.matchLabels == ["app": "web"])
        let r = ra.jwtRules[0]
        #expect(r.audiences == ["api", "web"])
        #expect(r.fromHeaders == [JWTHeader(name: "x-jwt", prefix: "Token ")])
        #expect(r.fromParams == ["token"] && r.fromCookies == ["session"])
        #expect(r.forwardOriginalToken)
        #expect(r.outputClaimToHeaders == [ClaimToHeader(header: "x-user", claim: "sub"), ClaimToHeader(header: "x-org", claim: "org.name")])
        #expect(r.outputPayloadToHeader == "x-jwt-payload")
        #expect(r.timeout == .seconds(90))
        #expect(r.spaceDelimitedClaims == ["roles"])
        #expect(r.source == ra.ref)
        let other = ra.jwtRules[1]
        #expect(other.jwks == "{\"keys\":[]}" && other.usesDefaultLocations && other.timeout == nil && !other.forwardOriginalToken)
    }

    @Test func unknownKindsAreSkippedWithAWarning() throws {
        let set = try PolicySet.parse(yaml: """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {name: vs}
            ---
            apiVersion: security.istio.io/v1
            kind: PeerAuthentication
            metadata: {name: pa}
            ---
            """, file: "mixed.yaml")
        #expect(set.authorizationPolicies.isEmpty)
        #expect(set.notes.map(\.description) == [
            "warning: mixed.yaml:1: skipped kind VirtualService (networking.istio.io/v1)",
            "warning: mixed.yaml:5: skipped kind PeerAuthentication (security.istio.io/v1)",
        ])
    }

    /// Skipping a document meant to restrict access would serve without it (fail open): only kinds known
    /// to be irrelevant are skipped; the rest of the security groups, other dialects and kind-less documents
    /// are load errors naming file and line.
    @Test(arguments: [
        ("apiVersion: gateway.envoyproxy.io/v1alpha2\nkind: SecurityPolicy\nmetadata: {name: sp}\nspec: {}\n", "reads SecurityPolicy in gateway.envoyproxy.io/v1alpha1"),
        // A security kind by name, whatever its apiVersion: none, another group, an odd-case group (issue 20 audit).
        ("kind: AuthorizationPolicy\nmetadata: {name: x}\nspec: {action: DENY}\n", "AuthorizationPolicy with no apiVersion"),
        ("apiVersion: example.com/v1\nkind: AuthorizationPolicy\nmetadata: {name: x}\n", "apiVersion \"example.com/v1\""),
        // Linkerd's AuthorizationPolicy (policy.linkerd.io) is refused too: Warden cannot tell it restricts nothing here
        // (README "Loading": keep other meshes' policies out of --policy paths).
        ("apiVersion: policy.linkerd.io/v1alpha1\nkind: AuthorizationPolicy\nmetadata: {name: l5d}\nspec: {targetRef: {kind: Server, name: web}}\n",
         "apiVersion \"policy.linkerd.io/v1alpha1\" is not one Warden reads"),
        ("apiVersion: Security.Istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: x}\n", "reads AuthorizationPolicy in security.istio.io"),
        ("apiVersion: v1\nkind: RequestAuthentication\nmetadata: {name: x}\n", "reads RequestAuthentication in security.istio.io"),
        ("kind: SecurityPolicy\nmetadata: {name: sp}\nspec: {}\n", "SecurityPolicy with no apiVersion"),
        ("apiVersion: Gateway.EnvoyProxy.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: sp}\n", "reads SecurityPolicy in"),
        ("apiVersion: security.istio.io/v1\nkind: securitypolicy\nmetadata: {name: sp}\n", "reads SecurityPolicy in"),
        ("kind: TokenPolicy\nmetadata: {name: x}\n", "reads TokenPolicy in security.warden.io/v1alpha1"),
        ("apiVersion: Security.Warden.io/v1alpha1\nkind: TokenPolicy\nmetadata: {name: x}\n", "reads TokenPolicy in"),
        ("apiVersion: Security.Istio.io/v1\nkind: AuthorizationPolicyV2\nmetadata: {name: x}\n", "kind AuthorizationPolicyV2"),
        ("rules:\n- match: {prefix: /}\n  requires: {provider_name: keycloak}\n", "Envoy jwt_authn configuration"),
        ("foo: bar\n", "a document without kind"),
        ("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicyV2\nmetadata: {name: x}\n", "kind AuthorizationPolicyV2"),
        ("apiVersion: security.istio.io/v2\nkind: AuthorizationPolicy\nmetadata: {name: x}\nspec: {action: DENY}\n", "apiVersion \"security.istio.io/v2\""),
        ("apiVersion: security.warden.io/v9\nkind: TokenPolicy\nmetadata: {name: x}\n", "TokenPolicy with apiVersion \"security.warden.io/v9\""),
    ])
    func documentsThatMayRestrictAccessAreNeverSkipped(_ yaml: String, _ message: String) {
        do {
            _ = try PolicySet.parse(yaml: yaml, file: "p.yaml")
            Issue.record("loaded: \(message)")
        } catch {
            #expect(error.description.contains("p.yaml:1"), "\(error)")
            #expect(error.description.contains(message), "\(error)")
        }
    }

    @Test func irrelevantKindsOfSecurityGroupsAndOtherGroupsAreSkipped() throws {
        let set = try PolicySet.parse(yaml: """
            apiVersion: gateway.envoyproxy.io/v1alpha1
            kind: BackendTrafficPolicy
            metadata: {name: btp}
            ---
            apiVersion: example.com/v1
            kind: Widget
            metadata: {name: other-group}
            """, file: "k.yaml")
        #expect(set.notes.map(\.description) == [
            "warning: k.yaml:1: skipped kind BackendTrafficPolicy (gateway.envoyproxy.io/v1alpha1)",
            "warning: k.yaml:5: skipped kind Widget (example.com/v1)",
        ])
    }

    @Test func duplicateResourcesAreRejected() {
        let doc = ap("same", "rules:\n- {}")
        #expect(throws: PolicyLoadFailure.self) { try PolicySet.parse(yaml: doc + doc, file: "dup.yaml") }
    }

    @Test func kubectlListsAreExpanded() throws {
        let set = try PolicySet.parse(yaml: """
            apiVersion: v1
            kind: List
            items:
            - apiVersion: security.istio.io/v1
              kind: AuthorizationPolicy
              metadata: {name: a, namespace: foo}
              spec: {}
            """)
        #expect(set.authorizationPolicies.map(\.ref.name) == ["a"])
    }
}
