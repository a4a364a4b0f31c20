import Testing
@testable import WardenPolicy

/// An AuthorizationPolicy spec and whether Istio's validation (`ValidateAuthorizationPolicy`,
/// `CheckValidPathTemplate` in istio/istio) accepts it: nil, or a fragment of Warden's load error.
struct ValidationCase: Sendable, CustomTestStringConvertible {
    var name: String
    var spec: String
    var error: String?
    var testDescription: String { name }
}

let validationCases: [ValidationCase] = [
    // Path templates: per "/"-separated segment.
    ValidationCase(name: "{*} then {**}", spec: "rules:\n- to:\n  - operation:\n      paths: [\"/a/{*}/{**}\"]", error: nil),
    ValidationCase(name: "literal after {**}", spec: "rules:\n- to:\n  - operation:\n      paths: [\"/a/{**}/b\"]", error: nil),
    ValidationCase(name: "trailing slash after a template", spec: "rules:\n- to:\n  - operation:\n      paths: [\"/a/{*}/\"]", error: nil),
    ValidationCase(name: "{*} after {**}", spec: "rules:\n- to:\n  - operation:\n      paths: [\"/a/{**}/{*}\"]",
                   error: "paths[0]: invalid or unsupported path template \"/a/{**}/{*}\" ({**} must be the last operator)"),
    ValidationCase(name: "{**} twice", spec: "rules:\n- to:\n  - operation:\n      notPaths: [\"/{**}/x/{**}\"]",
                   error: "notPaths[0]: invalid or unsupported path template \"/{**}/x/{**}\" ({**} must be the last operator)"),
    ValidationCase(name: "template inside a segment", spec: "rules:\n- to:\n  - operation:\n      paths: [\"/files/x{*}\"]",
                   error: "paths[0]: invalid or unsupported path template \"/files/x{*}\" (only {*} and {**} are supported)"),
    ValidationCase(name: "named variable", spec: "rules:\n- to:\n  - operation:\n      paths: [\"/users/{id}/{*}\"]",
                   error: "(only {*} and {**} are supported)"),
    ValidationCase(name: "glob literal in a template path", spec: "rules:\n- to:\n  - operation:\n      paths: [\"/a/*/{*}\"]",
                   error: "(segment \"*\" is not a valid path literal)"),
    ValidationCase(name: "empty segment in a template path", spec: "rules:\n- to:\n  - operation:\n      paths: [\"/a//{*}\"]",
                   error: "(segment \"\" is not a valid path literal)"),
    ValidationCase(name: "space in a template path", spec: "rules:\n- to:\n  - operation:\n      paths: [\"/a b/{*}\"]",
                   error: "(segment \"a b\" is not a valid path literal)"),
    ValidationCase(name: "pchar punctuation in a template path", spec: "rules:\n- to:\n  - operation:\n      paths: [\"/a:b@c;d=e,f+g/{*}\"]", error: nil),
    ValidationCase(name: "no template: literals unchecked", spec: "rules:\n- to:\n  - operation:\n      paths: [\"/a b//c\"]", error: nil),

    // CUSTOM: needs rules; its rules cannot use identities (ext_authz runs before authentication).
    ValidationCase(name: "CUSTOM without rules", spec: "action: CUSTOM\nprovider:\n  name: warden",
                   error: "a CUSTOM policy must have at least one rule (use rules: [{}] to send every request)"),
    ValidationCase(name: "CUSTOM with rules [{}]", spec: "action: CUSTOM\nprovider:\n  name: warden\nrules:\n- {}", error: nil),
    ValidationCase(name: "CUSTOM with paths and ipBlocks", spec: "action: CUSTOM\nprovider:\n  name: warden\nrules:\n- from:\n  - source:\n      ipBlocks: [10.0.0.0/8]\n  to:\n  - operation:\n      notPaths: [/healthz]\n  when:\n  - key: request.headers[x-a]\n    values: [b]",
                   error: nil),
    ValidationCase(name: "CUSTOM with requestPrincipals", spec: "action: CUSTOM\nprovider:\n  name: warden\nrules:\n- from:\n  - source:\n      requestPrincipals: [\"*\"]",
                   error: "source.requestPrincipals: requestPrincipals is not supported with action CUSTOM"),
    ValidationCase(name: "CUSTOM with namespaces", spec: "action: CUSTOM\nprovider:\n  name: warden\nrules:\n- from:\n  - source:\n      namespaces: [a]",
                   error: "namespaces is not supported with action CUSTOM"),
    ValidationCase(name: "CUSTOM with a claim condition", spec: "action: CUSTOM\nprovider:\n  name: warden\nrules:\n- when:\n  - key: request.auth.claims[scope]\n    values: [a]",
                   error: "when[0].key: request.auth.claims[scope] is not supported with action CUSTOM"),
    ValidationCase(name: "CUSTOM with source.principal", spec: "action: CUSTOM\nprovider:\n  name: warden\nrules:\n- when:\n  - key: source.principal\n    values: [a]",
                   error: "source.principal is not supported with action CUSTOM"),
    ValidationCase(name: "ALLOW may use a claim condition", spec: "rules:\n- when:\n  - key: request.auth.claims[scope]\n    values: [a]", error: nil),

    // when keys Istio validates.
    ValidationCase(name: "inline headers key", spec: "rules:\n- when:\n  - key: request.experimental.inline.headers[x-a]\n    values: [b]", error: nil),
    ValidationCase(name: "inline headers key without a name", spec: "rules:\n- when:\n  - key: request.experimental.inline.headers\n    values: [b]",
                   error: "bad key (request.experimental.inline.headers): should have format a[b]"),
]


/// One rule of istiod's validation and the CRD schema, as a row: the Istio source it follows (file and line at
/// `IstioValidation.commit`, istio/istio 86c9f01, API v1.31), a whole document, and what Warden must say:
/// nil (loads), or a fragment of the load error. `warning`: the `warden validate` code the document must raise.
/// Rows named `Test…/"…"` replay a case of Istio's own `TestValidateAuthorizationPolicy` /
/// `TestValidateRequestAuthentication` (pkg/config/validation/validation_test.go) or of its CRD fixtures
/// (pkg/config/validation/testdata/crds/*.yaml), translated to YAML.
struct IstioRule: Sendable, CustomTestStringConvertible {
    var source: String
    var name: String
    var document: String
    var error: String?
    var warning: PolicyWarning.Code? = nil
    var testDescription: String { "\(source): \(name)" }
}

/// A RequestAuthentication document in namespace `foo`.
func ra(_ name: String, _ body: String, annotations: String = "") -> String {
    """
    apiVersion: security.istio.io/v1
    kind: RequestAuthentication
    metadata:
      name: \(name)
      namespace: foo
    \(annotations)
    spec:
    \(body.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n"))
    ---

    """
}

let okRule = "jwtRules:\n- issuer: https://issuer.example\n  jwksUri: https://issuer.example/jwks"
func dryRun(_ v: String) -> String { "  annotations:\n    istio.io/dry-run: \"\(v)\"" }
let gatewayRef = "{group: gateway.networking.k8s.io, kind: Gateway, name: gw}"

let istioRules: [IstioRule] = [
    // MARK: validateMetadata / checkDryRunAnnotation (validation.go L181–L220)
    // Istio rejects it ("foo/r has unsupported annotation istio.io/dry-run, please remove the annotation"); Warden
    // deliberately accepts it (issue 19: dry-run token rules) and warns that istiod refuses the file.
    IstioRule(source: "validation.go L184-L187,L206-L207 (deliberately differs: issue 19)", name: "TestValidateRequestAuthentication/\"dry run annotation not supported\"",
              document: ra("r", okRule, annotations: dryRun("true")), error: nil, warning: .requestAuthenticationDryRunNotIstio),
    IstioRule(source: "validation.go L210-L214", name: "TestValidateAuthorizationPolicy/\"dry-run-valid-allow\"",
              document: ap("p", "rules:\n- {}", annotations: dryRun("true")), error: nil),
    IstioRule(source: "validation.go L210-L214", name: "TestValidateAuthorizationPolicy/\"dry-run-valid-deny\"",
              document: ap("p", "action: DENY\nrules:\n- {}", annotations: dryRun("False")), error: nil),
    IstioRule(source: "validation.go L211-L213", name: "TestValidateAuthorizationPolicy/\"dry-run-invalid-value\"",
              document: ap("p", "rules:\n- {}", annotations: dryRun("foo")), error: "foo/p has annotation istio.io/dry-run with invalid value (foo)"),
    IstioRule(source: "validation.go L211-L213", name: "dry-run value strconv.ParseBool refuses (tRuE)",
              document: ap("p", "rules:\n- {}", annotations: dryRun("tRuE")), error: "with invalid value (tRuE)"),
    IstioRule(source: "validation.go L215-L217", name: "TestValidateAuthorizationPolicy/\"dry-run-invalid-action-custom\"",
              document: ap("p", "action: CUSTOM\nprovider:\n  name: warden\nrules:\n- {}", annotations: dryRun("true")),
              error: "the annotation istio.io/dry-run currently only supports action ALLOW/DENY, found action CUSTOM in foo/p"),
    IstioRule(source: "validation.go L215-L217", name: "TestValidateAuthorizationPolicy/\"dry-run-invalid-action-audit\"",
              document: ap("p", "action: AUDIT\nrules:\n- {}", annotations: dryRun("true")),
              error: "found action AUDIT in foo/p"),
    IstioRule(source: "validation.go L189-L191", name: "webhook-always-reject annotation",
              document: ap("p", "rules:\n- {}", annotations: "  annotations:\n    internal.istio.io/webhook-always-reject: \"\""),
              error: "\"internal.istio.io/webhook-always-reject\" annotation found, rejecting"),
    IstioRule(source: "validation.go L192-L195", name: "parent-namespace annotation",
              document: ra("r", okRule, annotations: "  annotations:\n    internal.istio.io/parent-namespace: bar"),
              error: "\"internal.istio.io/parent-namespace\" annotation found, this may not be set by users"),
    IstioRule(source: "validation.go L196-L199", name: "parents annotation",
              document: ra("r", okRule, annotations: "  annotations:\n    internal.istio.io/parents: x"),
              error: "\"internal.istio.io/parents\" annotation found, this may not be set by users"),

    // MARK: validateWorkloadSelector (validation.go L1360-L1379)
    IstioRule(source: "validation.go L1364-L1367", name: "TestValidateAuthorizationPolicy/\"selector-empty-key\"",
              document: ap("p", "selector:\n  matchLabels:\n    \"\": httpbin\n    version: v1\nrules:\n- {}"), error: "empty key is not supported in selector: \"=httpbin\""),
    IstioRule(source: "validation.go L1364-L1367", name: "TestValidateRequestAuthentication/\"bad workload selector - empty key\"",
              document: ra("r", "selector:\n  matchLabels:\n    \"\": httpbin\n" + okRule), error: "empty key is not supported in selector"),
    IstioRule(source: "validation.go L1368-L1371", name: "TestValidateAuthorizationPolicy/\"selector-wildcard-value\"",
              document: ap("p", "selector:\n  matchLabels:\n    app: httpbin-*\nrules:\n- {}"), error: "wildcard is not supported in selector: \"app=httpbin-*\""),
    IstioRule(source: "validation.go L1368-L1371", name: "TestValidateAuthorizationPolicy/\"selector-wildcard-key\"",
              document: ap("p", "action: DENY\nselector:\n  matchLabels:\n    \"app*\": httpbin\nrules:\n- {}"), error: "wildcard is not supported in selector: \"app*=httpbin\""),
    IstioRule(source: "validation.go L1360-L1379", name: "TestValidateAuthorizationPolicy/\"selector-empty-value\"",
              document: ap("p", "selector:\n  matchLabels:\n    app: \"\"\n    version: v1\nrules:\n- {}"), error: nil),
    IstioRule(source: "validation.go L1360-L1379", name: "TestValidateRequestAuthentication/\"empty value\"",
              document: ra("r", "selector:\n  matchLabels:\n    app: httpbin\n    version: \"\"\n" + okRule), error: nil),
    IstioRule(source: "validation.go L1373-L1376", name: "TestValidateAuthorizationPolicy/\"selector-empty-labels\" (a warning)",
              document: ap("p", "selector:\n  matchLabels: {}\nrules:\n- {}"), error: nil, warning: .selectorWithoutLabels),
    IstioRule(source: "crd L18078-L18080", name: "label value longer than 63 bytes",
              document: ap("p", "selector:\n  matchLabels:\n    app: \(String(repeating: "a", count: 64))\nrules:\n- {}"), error: "may not be more than 63 bytes"),

    // MARK: validateOneOfSelectorType / validatePolicyTargetReference (validation.go L1318-L1400)
    IstioRule(source: "validation.go L1333-L1358", name: "TestValidateAuthorizationPolicy/\"target-ref-good\"",
              document: ap("p", "targetRef: \(gatewayRef)\nrules:\n- {}"), error: nil),
    IstioRule(source: "validation.go L1333-L1358", name: "TestValidateAuthorizationPolicy/\"target-refs-good\"",
              document: ap("p", "action: DENY\ntargetRefs:\n- \(gatewayRef)\nrules:\n- {}"), error: nil),
    IstioRule(source: "validation.go L1333-L1358", name: "TestValidateAuthorizationPolicy/\"target-refs-good-service\"",
              document: ap("p", "targetRefs:\n- {group: \"\", kind: Service, name: foo}\nrules:\n- {}"), error: nil),
    IstioRule(source: "validation.go L1325-L1331", name: "ServiceEntry and GatewayClass are allowed",
              document: ap("p", "targetRefs:\n- {group: networking.istio.io, kind: ServiceEntry, name: se}\n- {group: gateway.networking.k8s.io, kind: GatewayClass, name: gc}\nrules:\n- {}"),
              error: nil),
    IstioRule(source: "validation.go L1340-L1343", name: "TestValidateAuthorizationPolicy/\"target-ref-non-empty-namespace\"",
              document: ap("p", "targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: gw, namespace: bar}\nrules:\n- {}"),
              error: "targetRef namespace must not be set; cross namespace referencing is not supported"),
    IstioRule(source: "validation.go L1340-L1343", name: "a DENY in namespace attacker naming a Gateway in bar (targetRefs)",
              document: ap("p", "action: DENY\ntargetRefs:\n- {group: gateway.networking.k8s.io, kind: Gateway, name: gw, namespace: bar}\nrules:\n- {}", namespace: "attacker"),
              error: "cross namespace referencing is not supported"),
    IstioRule(source: "validation.go L1337-L1339", name: "TestValidateAuthorizationPolicy/\"target-ref-empty-name\"",
              document: ap("p", "targetRef: {group: gateway.networking.k8s.io, kind: Gateway}\nrules:\n- {}"), error: "targetRef name must be set"),
    IstioRule(source: "validation.go L1345-L1356", name: "TestValidateAuthorizationPolicy/\"target-ref-wrong-group\"",
              document: ap("p", "action: DENY\ntargetRef: {group: wrong-group, kind: Gateway, name: foo}\nrules:\n- {}"),
              error: "targetRef must be to one of [core/v1/Service networking.istio.io/v1/ServiceEntry gateway.networking.k8s.io/v1/Gateway gateway.networking.k8s.io/v1/GatewayClass] but was wrong-group/Gateway"),
    IstioRule(source: "validation.go L1345-L1356", name: "TestValidateAuthorizationPolicy/\"target-ref-wrong-kind\"",
              document: ap("p", "targetRef: {group: gateway.networking.k8s.io, kind: WrongKind, name: foo}\nrules:\n- {}"),
              error: "but was gateway.networking.k8s.io/WrongKind"),
    IstioRule(source: "validation.go L1345-L1356", name: "Gateway without group is core/Gateway, not allowed",
              document: ap("p", "targetRefs:\n- {kind: Gateway, name: gw}\nrules:\n- {}"), error: "but was /Gateway"),
    IstioRule(source: "validation.go L1381-L1400", name: "TestValidateAuthorizationPolicy/\"target-ref-and-selector-cannot-both-be-set\"",
              document: ap("p", "selector:\n  matchLabels: {app: a}\ntargetRef: \(gatewayRef)\nrules:\n- {}"), error: "only one of targetRefs or workloadSelector can be set"),
    IstioRule(source: "validation.go L1381-L1400", name: "TestValidateAuthorizationPolicy/\"target-refs-and-selector-cannot-both-be-set\"",
              document: ap("p", "selector:\n  matchLabels: {app: a}\ntargetRefs:\n- \(gatewayRef)\nrules:\n- {}"), error: "only one of targetRefs or workloadSelector can be set"),
    IstioRule(source: "validation.go L1381-L1400; crd reqauth-invalid.yaml \"multi-refs\"", name: "targetRef and targetRefs both set",
              document: ra("r", "targetRef: \(gatewayRef)\ntargetRefs:\n- \(gatewayRef)\n" + okRule), error: "only one of targetRefs or workloadSelector can be set"),
    IstioRule(source: "validation.go L1337-L1339", name: "TestValidateRequestAuthentication/\"bad targetRef - empty name\"",
              document: ra("r", "targetRef: {group: gateway.networking.k8s.io, kind: Gateway}\n" + okRule), error: "targetRef name must be set"),
    IstioRule(source: "validation.go L1340-L1343", name: "TestValidateRequestAuthentication/\"bad targetRef - non-empty namespace\"",
              document: ra("r", "targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: gw, namespace: bar}\n" + okRule), error: "targetRef namespace must not be set"),
    IstioRule(source: "crd L18369-L18380; crd reqauth-invalid.yaml \"bad-target-group\"", name: "group outside the CRD pattern",
              document: ra("r", "targetRef: {group: \"__\", kind: Service, name: foo}\n" + okRule), error: "targetRef group \"__\" should match"),
    IstioRule(source: "crd L18369-L18380; crd reqauth-invalid.yaml \"bad-target-kind\"", name: "kind outside the CRD pattern",
              document: ra("r", "targetRef: {group: \"\", kind: Serv_ice, name: foo}\n" + okRule), error: "targetRef kind \"Serv_ice\" should match"),
    IstioRule(source: "crd L18394", name: "at most 16 targetRefs",
              document: ap("p", "targetRefs:\n" + (0..<17).map { "- {group: gateway.networking.k8s.io, kind: Gateway, name: g\($0)}" }.joined(separator: "\n") + "\nrules:\n- {}"),
              error: "at most 16 targetRefs"),
    IstioRule(source: "validation.go L1340-L1343 (Warden's TokenPolicy follows it)", name: "TokenPolicy targetRefs in another namespace",
              document: "apiVersion: security.warden.io/v1alpha1\nkind: TokenPolicy\nmetadata:\n  name: t\n  namespace: foo\nspec:\n  targetRefs:\n  - {group: gateway.networking.k8s.io, kind: Gateway, name: gw, namespace: bar}\n  jwtRules: []\n",
              error: "cross namespace referencing is not supported"),

    // MARK: ValidateAuthorizationPolicy rules (validation.go L1403-L1594)
    IstioRule(source: "validation.go L1478-L1480", name: "TestValidateAuthorizationPolicy/\"from-empty\"",
              document: ap("p", "rules:\n- from: []"), error: "`from` must not be empty"),
    IstioRule(source: "validation.go L1531-L1533", name: "TestValidateAuthorizationPolicy/\"to-empty\"",
              document: ap("p", "rules:\n- to: []"), error: "`to` must not be empty"),
    IstioRule(source: "validation.go L1491-L1492", name: "TestValidateAuthorizationPolicy/\"source-nil\"",
              document: ap("p", "rules:\n- from:\n  - source:"), error: "`from.source` must not be nil"),
    IstioRule(source: "validation.go L1498-L1504", name: "TestValidateAuthorizationPolicy/\"source-empty\"",
              document: ap("p", "rules:\n- from:\n  - source: {}"), error: "`from.source` must not be empty"),
    IstioRule(source: "validation.go L1539-L1540", name: "TestValidateAuthorizationPolicy/\"operation-nil\"",
              document: ap("p", "rules:\n- to:\n  - operation:"), error: "`to.operation` must not be nil"),
    IstioRule(source: "validation.go L1543-L1547", name: "TestValidateAuthorizationPolicy/\"operation-empty\"",
              document: ap("p", "rules:\n- to:\n  - operation: {}"), error: "`to.operation` must not be empty"),
    IstioRule(source: "validation.go L1495-L1497; crd authz-invalid.yaml", name: "TestValidateAuthorizationPolicy/\"serviceAccounts and namespaces\"",
              document: ap("p", "rules:\n- from:\n  - source:\n      serviceAccounts: [bar/sa]\n      namespaces: [bar]"), error: "cannot set serviceAccounts with namespaces or principals"),
    IstioRule(source: "validation.go L1495-L1497", name: "TestValidateAuthorizationPolicy/\"good serviceAccounts\"",
              document: ap("p", "rules:\n- from:\n  - source:\n      serviceAccounts: [ns1/sa1, ns2/sa2]\n  - source:\n      principals: [sa2]"), error: nil),
    IstioRule(source: "validation.go L1464-L1466", name: "TestValidateAuthorizationPolicy/\"provider-wrong-action\"",
              document: ap("p", "action: DENY\nprovider:\n  name: warden\nrules:\n- {}"), error: "provider must only be set with action CUSTOM"),
    IstioRule(source: "validation.go L1421-L1423", name: "TestValidateAuthorizationPolicy/\"custom-empty-provider\"",
              document: ap("p", "action: CUSTOM\nprovider:\n  name: \"\"\nrules:\n- {}"), error: "action CUSTOM requires provider.name"),
    IstioRule(source: "validation.go L1436-L1447", name: "TestValidateAuthorizationPolicy/\"custom-invalid-rule\"",
              document: ap("p", "action: CUSTOM\nprovider:\n  name: warden\nrules:\n- from:\n  - source:\n      namespaces: [ns]"), error: "namespaces is not supported with action CUSTOM"),
    IstioRule(source: "validation.go L1441-L1442", name: "CUSTOM with trustDomains",
              document: ap("p", "action: CUSTOM\nprovider:\n  name: warden\nrules:\n- from:\n  - source:\n      trustDomains: [cluster.local]"), error: "trustDomains is not supported with action CUSTOM"),
    IstioRule(source: "validation.go L1456", name: "CUSTOM with when source.trustDomain",
              document: ap("p", "action: CUSTOM\nprovider:\n  name: warden\nrules:\n- when:\n  - key: source.trustDomain\n    values: [cluster.local]"), error: "source.trustDomain is not supported with action CUSTOM"),
    IstioRule(source: "validation.go L1468-L1471", name: "TestValidateAuthorizationPolicy/\"deny-rules-nil\"",
              document: ap("p", "action: DENY"), error: "a DENY policy must have at least one rule"),
    IstioRule(source: "validation.go L1403-L1594", name: "TestValidateAuthorizationPolicy/\"allow-rules-nil\"",
              document: ap("p", "action: ALLOW"), error: nil, warning: .allowWithoutRules),
    IstioRule(source: "security.go L106-L113 (validation.go L1507-L1522)", name: "TestValidateAuthorizationPolicy/\"Principals-empty\"",
              document: ap("p", "rules:\n- from:\n  - source:\n      principals: [p1, \"\"]"), error: "empty value not allowed"),
    IstioRule(source: "security.go L106-L113 (validation.go L1549-L1556)", name: "TestValidateAuthorizationPolicy/\"Methods-empty\"",
              document: ap("p", "rules:\n- to:\n  - operation:\n      methods: [GET, \"\"]"), error: "empty value not allowed"),
    IstioRule(source: "security.go L285-L299 (validation.go L1503-L1506)", name: "TestValidateAuthorizationPolicy/\"invalid ip and port in ipBlocks\"",
              document: ap("p", "rules:\n- from:\n  - source:\n      ipBlocks: [1.2.3.4, ip1]"), error: "bad IP address (ip1)"),
    IstioRule(source: "security.go L301-L310 (validation.go L1547-L1548)", name: "invalid port in ports",
              document: ap("p", "rules:\n- to:\n  - operation:\n      ports: [\"80\", port1]"), error: "bad port (port1)"),
    IstioRule(source: "validation.go L1564-L1566", name: "TestValidateAuthorizationPolicy/\"condition-key-missing\"",
              document: ap("p", "rules:\n- when:\n  - values: [v1, v2]"), error: "key must not be empty"),
    IstioRule(source: "validation.go L1568-L1570", name: "TestValidateAuthorizationPolicy/\"condition-value-missing\"",
              document: ap("p", "rules:\n- when:\n  - key: source.principal"), error: "at least one of values or notValues must be set for key source.principal"),
    IstioRule(source: "security.go L239-L240", name: "TestValidateAuthorizationPolicy/\"condition-value-invalid\"",
              document: ap("p", "rules:\n- when:\n  - key: source.ip\n    values: [a.b.c.d]"), error: "bad IP address (a.b.c.d)"),
    IstioRule(source: "security.go L239-L240", name: "TestValidateAuthorizationPolicy/\"condition-notValue-invalid\"",
              document: ap("p", "rules:\n- when:\n  - key: source.ip\n    notValues: [a.b.c.d]"), error: "bad IP address (a.b.c.d)"),
    IstioRule(source: "security.go L266-L267", name: "TestValidateAuthorizationPolicy/\"condition-unknown\"",
              document: ap("p", "rules:\n- when:\n  - key: key1\n    values: [v1]"), error: "unknown attribute: key1"),
    IstioRule(source: "security.go L232-L234", name: "TestValidateAuthorizationPolicy/\"value-empty\"",
              document: ap("p", "rules:\n- when:\n  - key: request.headers[:authority]\n    values: [v1, \"\"]"), error: "empty value not allowed"),
    IstioRule(source: "validation.go L1403-L1594", name: "TestValidateAuthorizationPolicy/\"good\"",
              document: ap("p", "selector:\n  matchLabels: {app: httpbin, version: v1}\nrules:\n- from:\n  - source:\n      principals: [sa1]\n  - source:\n      principals: [sa2]\n  to:\n  - operation:\n      methods: [GET]\n  - operation:\n      methods: [POST]\n  when:\n  - key: source.ip\n    values: [1.2.3.4, 5.6.7.0/24]\n  - key: request.headers[:authority]\n    values: [v1, v2]"),
              error: nil),
    IstioRule(source: "crd L17200 (rules maxItems)", name: "at most 512 rules",
              document: ap("p", "rules:\n" + String(repeating: "- {}\n", count: 513)), error: "at most 512 rules"),

    // MARK: source.serviceAccounts / trustDomains (security.go L117-L181)
    IstioRule(source: "security.go L147-L150", name: "more than 16 service accounts",
              document: ap("p", "rules:\n- from:\n  - source:\n      serviceAccounts: [\((0..<17).map { "sa\($0)" }.joined(separator: ", "))]"), error: "may not have more than 16 values"),
    IstioRule(source: "security.go L155-L157", name: "TestValidateAuthorizationPolicy/\"ServiceAccounts-empty\" (wildcard)",
              document: ap("p", "rules:\n- from:\n  - source:\n      serviceAccounts: [\"ns/*\"]"), error: "wildcard not allowed, found in ServiceAccounts"),
    IstioRule(source: "security.go L158-L161", name: "service account with two slashes",
              document: ap("p", "rules:\n- from:\n  - source:\n      notServiceAccounts: [a/b/c]"), error: "expected format 'serviceAccount' or 'namespace/serviceAccount', found \"a/b/c\" in NotServiceAccounts"),
    IstioRule(source: "security.go L162-L164", name: "service account over 320 bytes",
              document: ap("p", "rules:\n- from:\n  - source:\n      serviceAccounts: [\"ns/\(String(repeating: "s", count: 320))\"]"), error: "value cannot exceed 320 characters"),
    IstioRule(source: "security.go L167-L169", name: "service account with empty namespace",
              document: ap("p", "rules:\n- from:\n  - source:\n      serviceAccounts: [/sa]"), error: "found empty namespace \"/sa\" in ServiceAccounts"),
    IstioRule(source: "security.go L170-L172", name: "service account with empty name",
              document: ap("p", "rules:\n- from:\n  - source:\n      serviceAccounts: [ns/]"), error: "found empty serviceAccount \"ns/\" in ServiceAccounts"),
    IstioRule(source: "security.go L123-L125", name: "trust domain with two wildcards",
              document: ap("p", "rules:\n- from:\n  - source:\n      trustDomains: [\"*a*\"]"), error: "at most one wildcard is allowed, found in TrustDomains: \"*a*\""),
    IstioRule(source: "security.go L126-L128", name: "trust domain with a wildcard inside",
              document: ap("p", "rules:\n- from:\n  - source:\n      notTrustDomains: [\"a*b\"]"), error: "wildcard is only allowed at the start or end, found in NotTrustDomains: \"a*b\""),
    IstioRule(source: "security.go L138-L142", name: "trust domain containing /",
              document: ap("p", "rules:\n- from:\n  - source:\n      trustDomains: [cluster.local/ns]"), error: "trust domain must not contain '/', found in TrustDomains: \"cluster.local/ns\""),
    IstioRule(source: "security.go L134-L144; crd authz-valid.yaml \"full\"", name: "trust domains exact, prefix, suffix, presence",
              document: ap("p", "rules:\n- from:\n  - source:\n      trustDomains: [cluster.local, \"cluster-prefix-*\", \"*-suffix-cluster\", \"*\"]\n      notTrustDomains: [not-cluster.local]"), error: nil),

    // MARK: when keys (security.go L231-L270)
    IstioRule(source: "security.go L246-L247", name: "when source.trustDomain (valid in Istio)",
              document: ap("p", "rules:\n- when:\n  - key: source.trustDomain\n    values: [cluster.local, \"cluster-prefix-*\", \"*-suffix-cluster\", \"*\"]\n    notValues: [not-cluster.local]"), error: nil),
    IstioRule(source: "security.go L246-L247 → L117-L131", name: "when source.trustDomain with a wildcard inside",
              document: ap("p", "rules:\n- when:\n  - key: source.trustDomain\n    values: [\"a*b\"]"), error: "invalid `value` for `key` source.trustDomain: wildcard is only allowed at the start or end"),
    IstioRule(source: "security.go L243-L244 → L146-L181", name: "when source.serviceAccount ns/sa and sa",
              document: ap("p", "rules:\n- when:\n  - key: source.serviceAccount\n    values: [ns1/sa1, sa2]"), error: nil),
    IstioRule(source: "security.go L243-L244 → L158-L161", name: "when source.serviceAccount not sa or ns/sa",
              document: ap("p", "rules:\n- when:\n  - key: source.serviceAccount\n    notValues: [a/b/c]"), error: "invalid `notValue` for `key` source.serviceAccount: expected format"),
    IstioRule(source: "security.go L243-L244 → L155-L157", name: "when source.serviceAccount with a wildcard",
              document: ap("p", "rules:\n- when:\n  - key: source.serviceAccount\n    values: [\"ns/*\"]"), error: "wildcard not allowed"),
    IstioRule(source: "security.go L260-L261", name: "destination.namespace",
              document: ap("p", "rules:\n- when:\n  - key: destination.namespace\n    values: [a]"), error: "attribute destination.namespace is replaced by the metadata.namespace"),
    IstioRule(source: "security.go L264-L265", name: "destination.user",
              document: ap("p", "rules:\n- when:\n  - key: destination.user\n    values: [a]"), error: "deprecated attribute destination.user: only supported in v1alpha1"),
    IstioRule(source: "security.go L312-L318", name: "request.auth.claims without a name",
              document: ap("p", "rules:\n- when:\n  - key: request.auth.claims[]\n    values: [a]"), error: "bad key (request.auth.claims[])"),
    IstioRule(source: "security.go L255-L256 → L301-L310", name: "destination.port out of range",
              document: ap("p", "rules:\n- when:\n  - key: destination.port\n    values: [\"65536\"]"), error: "bad port (65536)"),

    // MARK: ValidateRequestAuthentication / validateJwtRule (validation.go L1596-L1707)
    IstioRule(source: "validation.go L1649-L1651", name: "TestValidateRequestAuthentication/\"empty jwt rule\"",
              document: ra("r", "jwtRules:\n- {}"), error: "issuer or jwksUri must be non-empty string"),
    IstioRule(source: "validation.go L1649-L1651", name: "TestValidateRequestAuthentication/\"empty issuer and jwksUri\"",
              document: ra("r", "jwtRules:\n- issuer: \"\"\n  jwksUri: \"\""), error: "issuer or jwksUri must be non-empty string"),
    IstioRule(source: "validation.go L1649-L1651", name: "TestValidateRequestAuthentication/\"empty issuer and set jwksUri\" (a warning)",
              document: ra("r", "jwtRules:\n- issuer: \"\"\n  jwksUri: https://foo.com/cert"), error: nil, warning: .jwtRuleWithoutIssuer),
    IstioRule(source: "validation.go L1649-L1651", name: "jwks without issuer or jwksUri",
              document: ra("r", "jwtRules:\n- jwks: '{\"keys\": []}'"), error: "issuer or jwksUri must be non-empty string"),
    IstioRule(source: "validation.go L1643-L1647", name: "crd reqauth-invalid.yaml \"empty-aud\"",
              document: ra("r", "jwtRules:\n- issuer: example\n  audiences: [\"\"]"), error: "audience must be non-empty string"),
    IstioRule(source: "security.go L83-L92 (validation.go L1653-L1656)", name: "TestValidateRequestAuthentication/\"bad JwksUri - no protocol\"",
              document: ra("r", "jwtRules:\n- issuer: foo.com\n  jwksUri: foo.com"), error: "URI scheme \"\" is not supported"),
    IstioRule(source: "security.go L83-L92; crd reqauth-invalid.yaml \"invalid-jwks\"", name: "jwksUri scheme ftp",
              document: ra("r", "jwtRules:\n- issuer: foo.com\n  jwksUri: ftp://foo.com/jwks"), error: "URI scheme \"ftp\" is not supported"),
    IstioRule(source: "security.go L94-L99 (Go url.Parse)", name: "TestValidateRequestAuthentication/\"bad JwksUri - invalid port\"",
              document: ra("r", "jwtRules:\n- issuer: foo.com\n  jwksUri: https://foo.com:not-a-number"), error: "invalid port \":not-a-number\" after host"),
    IstioRule(source: "security.go L94-L99", name: "jwksUri with a numeric port and an IPv6 host",
              document: ra("r", "jwtRules:\n- issuer: foo.com\n  jwksUri: \"https://[::1]:8443/jwks\""), error: nil),
    IstioRule(source: "crd L18276-L18284", name: "jwksUri longer than 2048 bytes",
              document: ra("r", "jwtRules:\n- issuer: foo.com\n  jwksUri: https://foo.com/\(String(repeating: "a", count: 2048))"), error: "may not be more than 2048 bytes"),
    IstioRule(source: "validation.go L1658-L1664", name: "TestValidateRequestAuthentication/\"jwks error\"",
              document: ra("r", "jwtRules:\n- issuer: foo.com\n  jwks: foo\n  fromHeaders:\n  - {name: x-foo, prefix: \"Bearer \"}"), error: "jwks parse error"),
    IstioRule(source: "validation.go L1658-L1664", name: "jwks with an unknown kty",
              document: ra("r", "jwtRules:\n- issuer: foo.com\n  jwks: '{\"keys\": [{\"kty\": \"XYZ\"}]}'"), error: "jwks parse error: key 0 has unsupported \"kty\" \"XYZ\""),
    IstioRule(source: "validation.go L1658-L1664", name: "TestValidateRequestAuthentication/\"jwks ok\"",
              document: ra("r", "jwtRules:\n- issuer: foo.com\n  jwks: '{\"keys\": [{\"kty\": \"EC\", \"crv\": \"P-256\", \"x\": \"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\", \"y\": \"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}]}'"),
              error: nil),
    IstioRule(source: "validation.go L1612 → L1621-L1637", name: "TestValidateRequestAuthentication/\"jwks with private RSA key warns\" (oct key)",
              document: ra("r", "jwtRules:\n- issuer: foo.com\n  audiences: [api]\n  jwks: '{\"keys\": [{\"kty\": \"oct\", \"k\": \"c2VjcmV0\"}]}'"), error: nil, warning: .jwksPrivateKey),
    IstioRule(source: "crd L18345-L18348", name: "jwks and jwksUri both set",
              document: ra("r", "jwtRules:\n- issuer: foo.com\n  jwksUri: https://foo.com/jwks\n  jwks: '{\"keys\": []}'"), error: "only one of jwks or jwksUri can be set"),
    IstioRule(source: "validation.go L1667-L1674", name: "TestValidateRequestAuthentication/\"bad header location\"",
              document: ra("r", "jwtRules:\n- issuer: foo.com\n  jwksUri: https://foo.com\n  fromHeaders:\n  - {name: \"\", prefix: \"Bearer \"}"), error: "location header name must be non-empty string"),
    IstioRule(source: "validation.go L1676-L1680", name: "TestValidateRequestAuthentication/\"bad param location\"",
              document: ra("r", "jwtRules:\n- issuer: foo.com\n  jwksUri: https://foo.com\n  fromParams: [\"\"]"), error: "location query must be non-empty string"),
    IstioRule(source: "validation.go L1682-L1686", name: "TestValidateRequestAuthentication/\"bad cookie location\"",
              document: ra("r", "jwtRules:\n- issuer: foo.com\n  jwksUri: https://foo.com\n  fromCookies: [\"\"]"), error: "cookie name must be non-empty string"),
    IstioRule(source: "validation.go L1689-L1691", name: "TestValidateRequestAuthentication/\"null outputClaimToHeader\"",
              document: ra("r", "jwtRules:\n- issuer: foo.com\n  jwksUri: https://foo.com\n  outputClaimToHeaders:\n  - ~"), error: "outputClaimToHeaders must not be null"),
    IstioRule(source: "validation.go L1693-L1695", name: "TestValidateRequestAuthentication/\"null claim value in outputClaimToHeader \"",
              document: ra("r", "jwtRules:\n- issuer: foo.com\n  jwksUri: https://foo.com\n  outputClaimToHeaders:\n  - {header: x-jwt-claim, claim: \"\"}"), error: "outputClaimToHeaders header and claim value must be non-empty string"),
    IstioRule(source: "validation.go L1693-L1695", name: "TestValidateRequestAuthentication/\"null header value in outputClaimToHeader \"",
              document: ra("r", "jwtRules:\n- issuer: foo.com\n  jwksUri: https://foo.com\n  outputClaimToHeaders:\n  - {header: \"\", claim: sub}"), error: "outputClaimToHeaders header and claim value must be non-empty string"),
    IstioRule(source: "validation.go L1697-L1699, L82", name: "TestValidateRequestAuthentication/\"invalid header value in outputClaimToHeader \"",
              document: ra("r", "jwtRules:\n- issuer: foo.com\n  jwksUri: https://foo.com\n  outputClaimToHeaders:\n  - {header: \"abc%123\", claim: sub}"), error: "header name abc%123 is not a valid header name"),
    IstioRule(source: "validation.go L1697-L1699, L82; crd reqauth-invalid.yaml \"invalid-claim-to-header-bad-header\"", name: "outputClaimToHeaders :authority",
              document: ra("r", "jwtRules:\n- issuer: example\n  outputClaimToHeaders:\n  - {claim: x, header: \":authority\"}"), error: "header name :authority is not a valid header name"),
    IstioRule(source: "validation.go L1697-L1699, L82", name: "outputClaimToHeaders x.y (a dot is outside ^[-_A-Za-z0-9]+$)",
              document: ra("r", "jwtRules:\n- issuer: example\n  outputClaimToHeaders:\n  - {claim: x, header: x.y}"), error: "header name x.y is not a valid header name"),
    IstioRule(source: "agent/validation.go L140-L149 (validation.go L1701-L1705)", name: "timeout under 1ms",
              document: ra("r", "jwtRules:\n- issuer: example\n  timeout: 500us"), error: "duration must be greater than 1ms"),
    IstioRule(source: "agent/validation.go L145-L147", name: "timeout finer than ms",
              document: ra("r", "jwtRules:\n- issuer: example\n  timeout: 1500us"), error: "only durations to ms precision are supported"),
    IstioRule(source: "crd L18336-L18341; crd reqauth-invalid.yaml \"bad-timeout\"", name: "timeout apple",
              document: ra("r", "jwtRules:\n- issuer: example\n  timeout: apple"), error: "must be a valid duration greater than 1ms"),
    IstioRule(source: "crd L18304-L18311; crd reqauth-invalid.yaml \"invalid-presence-value\"", name: "presence MANDATORY",
              document: ra("r", "jwtRules:\n- issuer: example\n  presence: MANDATORY"), error: "Unsupported value: \"MANDATORY\": supported values: \"OPTIONAL\", \"REQUIRED\""),
    IstioRule(source: "crd L18304-L18311; crd reqauth-valid.yaml \"full\"", name: "presence REQUIRED and OPTIONAL (API v1.31)",
              document: ra("r", "jwtRules:\n- issuer: a\n  jwksUri: https://a/jwks\n  presence: REQUIRED\n- issuer: b\n  jwksUri: https://b/jwks\n  presence: OPTIONAL"), error: nil),
    IstioRule(source: "crd L18312-L18318; crd reqauth-invalid.yaml \"invalid-space-delimited-claims\"", name: "spaceDelimitedClaims empty",
              document: ra("r", "jwtRules:\n- issuer: example\n  spaceDelimitedClaims: [\"\"]"), error: "empty value not allowed"),
    IstioRule(source: "crd L18312-L18318", name: "more than 64 spaceDelimitedClaims",
              document: ra("r", "jwtRules:\n- issuer: example\n  spaceDelimitedClaims: [\((0..<65).map { "c\($0)" }.joined(separator: ", "))]"), error: "at most 64 claims"),
    IstioRule(source: "validation.go L1596-L1619", name: "TestValidateRequestAuthentication/\"good\"",
              document: ra("r", "selector:\n  matchLabels: {app: httpbin, version: v1}\njwtRules:\n- issuer: foo.com\n  jwksUri: https://foo.com\n  fromHeaders:\n  - {name: x-foo, prefix: \"Bearer \"}\n  fromParams: [x_foo]\n  fromCookies: [x_foo]"), error: nil),
    IstioRule(source: "validation.go L1596-L1619", name: "TestValidateRequestAuthentication/\"empty spec\"",
              document: ra("r", "{}"), error: nil),
]

@Suite struct IstioRuleTests {
    @Test(arguments: istioRules)
    func followsIstio(_ row: IstioRule) throws {
        do {
            let set = try PolicySet.parse(yaml: row.document, file: "test.yaml")
            #expect(row.error == nil, "loaded, but Istio rejects it: \(row.error ?? "")")
            if let code = row.warning {
                let codes = PolicyLint(policies: set, rootNamespace: "istio-system").warnings().map(\.code)
                #expect(codes.contains(code), "\(codes)")
            }
        } catch {
            let message = error.errors.map(\.description).joined(separator: "; ")
            if let expected = row.error {
                #expect(message.contains(expected), "\(message)")
                // File and line: every error names the file and a line inside the document.
                #expect(error.errors.allSatisfy { $0.file == "test.yaml" && $0.line >= 1 }, "\(message)")
            } else {
                Issue.record("rejected, but Istio accepts it: \(message)")
            }
        }
    }

    /// Every row cites an Istio source.
    @Test func everyRowCitesIstio() {
        for row in istioRules {
            #expect(row.source.contains(".go L") || row.source.contains("crd "), "\(row.name)")
        }
        #expect(IstioValidation.commit.hasPrefix("86c9f01"))
    }
}

@Suite struct IstioValidationTests {
    @Test(arguments: validationCases)
    func acceptsWhatIstioAccepts(_ c: ValidationCase) {
        do {
            _ = try PolicySet.parse(yaml: ap("p", c.spec), file: "test.yaml")
            #expect(c.error == nil, "loaded, but Istio rejects it: \(c.error ?? "")")
        } catch {
            let message = error.errors.map(\.description).joined(separator: "; ")
            if let expected = c.error {
                #expect(message.contains(expected), "\(message)")
            } else {
                Issue.record("rejected, but Istio accepts it: \(message)")
            }
        }
    }
}

/// `source.trustDomains` and `when: source.trustDomain` match as istiod's `srcTrustDomainGenerator` compiles
/// them (generator.go L220–L241 at 86c9f01): exact → prefix `spiffe://td/`; `*` → prefix `spiffe://`;
/// `td-*` / `*-td` → `spiffe://td-[^/]*/.*` / `spiffe://[^/]*-td/.*`. Service accounts as `serviceAccountRegex`.
struct SpiffeRow: Sendable, CustomTestStringConvertible {
    var pattern: String
    var principal: String
    var matches: Bool
    var testDescription: String { "\(pattern) vs \(principal)" }
}

let trustDomainRows: [SpiffeRow] = [
    SpiffeRow(pattern: "cluster.local", principal: "spiffe://cluster.local/ns/foo/sa/bar", matches: true),
    SpiffeRow(pattern: "cluster.local", principal: "spiffe://cluster.local.evil/ns/foo/sa/bar", matches: false),
    SpiffeRow(pattern: "cluster.local", principal: "spiffe://cluster.local", matches: false),
    SpiffeRow(pattern: "cluster.local", principal: "cluster.local/ns/foo/sa/bar", matches: false),
    SpiffeRow(pattern: "*", principal: "spiffe://anything/x", matches: true),
    SpiffeRow(pattern: "*", principal: "", matches: false),
    SpiffeRow(pattern: "prod-*", principal: "spiffe://prod-eu/ns/a/sa/b", matches: true),
    SpiffeRow(pattern: "prod-*", principal: "spiffe://prod-eu", matches: false),
    SpiffeRow(pattern: "prod-*", principal: "spiffe://staging/prod-x/y", matches: false),
    SpiffeRow(pattern: "*.local", principal: "spiffe://cluster.local/ns/a/sa/b", matches: true),
    SpiffeRow(pattern: "*.local", principal: "spiffe://cluster.local.x/ns/a/sa/b", matches: false),
]

let serviceAccountRows: [SpiffeRow] = [
    SpiffeRow(pattern: "foo/bar", principal: "spiffe://cluster.local/ns/foo/sa/bar", matches: true),
    SpiffeRow(pattern: "foo/bar", principal: "spiffe://cluster.local/ns/foo/sa/bar-2", matches: false),
    SpiffeRow(pattern: "foo/bar", principal: "spiffe://cluster.local/ns/foo/x/y/sa/bar/z", matches: true),
    SpiffeRow(pattern: "foo/bar", principal: "spiffe://cluster.local/ns/foo/sa/bar/", matches: false),
    SpiffeRow(pattern: "foo/bar", principal: "spiffe:///ns/foo/sa/bar", matches: false),
    SpiffeRow(pattern: "foo/bar", principal: "spiffe://td/ns/foox/sa/bar", matches: false),
]

@Suite struct SpiffeIdentityMatchTests {
    @Test(arguments: trustDomainRows)
    func trustDomain(_ row: SpiffeRow) throws {
        #expect(SpiffeIdentityMatch.trustDomain(StringPattern(row.pattern), principal: row.principal) == row.matches)
        // The same through both policy forms, in a DENY policy (a miss there would fail open).
        for rule in ["from:\n  - source:\n      trustDomains: [\"\(row.pattern)\"]", "when:\n  - key: source.trustDomain\n    values: [\"\(row.pattern)\"]"] {
            let e = try effective(ap("deny", "action: DENY\nrules:\n- \(rule)"))
            let d = AuthorizationEvaluator.evaluate(e, request: Req(principal: row.principal).attributes, identity: nil)
            #expect(d.isAllowed == !row.matches, "\(rule)")
        }
    }

    @Test(arguments: serviceAccountRows)
    func serviceAccount(_ row: SpiffeRow) throws {
        for rule in ["from:\n  - source:\n      serviceAccounts: [\"\(row.pattern)\"]", "when:\n  - key: source.serviceAccount\n    values: [\"\(row.pattern)\"]"] {
            let e = try effective(ap("deny", "action: DENY\nrules:\n- \(rule)"))
            let d = AuthorizationEvaluator.evaluate(e, request: Req(principal: row.principal).attributes, identity: nil)
            #expect(d.isAllowed == !row.matches, "\(rule)")
        }
    }

    /// A bare `sa` in `when: source.serviceAccount` means the policy's namespace, as in `serviceAccounts`.
    @Test func bareServiceAccountIsThePolicyNamespace() throws {
        let e = try effective(ap("deny", "action: DENY\nrules:\n- when:\n  - key: source.serviceAccount\n    values: [bar]"))
        let mine = AuthorizationEvaluator.evaluate(e, request: Req(principal: "spiffe://td/ns/foo/sa/bar").attributes, identity: nil)
        let theirs = AuthorizationEvaluator.evaluate(e, request: Req(principal: "spiffe://td/ns/other/sa/bar").attributes, identity: nil)
        #expect(!mine.isAllowed)
        #expect(theirs.isAllowed)
    }
}
