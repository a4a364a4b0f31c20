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
