import Testing
import WardenAuthz
import WardenJWKS
import WardenPolicy

/// A rule's `timeout` becomes its JWKS source's fetch timeout (socket-free: the store is never started,
/// so nothing is fetched; the store's status shows what each source was registered with).
private func requestAuthentication(_ rules: String) throws -> PolicySet {
    try PolicySet.parse(yaml: """
    apiVersion: security.istio.io/v1
    kind: RequestAuthentication
    metadata: {name: jwt, namespace: default}
    spec:
      jwtRules:
    \(rules)
    """)
}

private let slowURI = "http://127.0.0.1:9/jwks.json"

private func timeoutPipeline(_ set: PolicySet, jwksFiles: [String: String] = [:]) -> CheckService {
    var options = AuthzOptions()
    options.jwksFiles = jwksFiles
    let store = JWKSStore(configuration: JWKSStoreConfiguration(fetchTimeout: 2, logger: { _ in }))
    return CheckService(policies: set, scope: WorkloadScope(), keyStore: store, options: options, clock: { testNow })
}

@Test(arguments: [
    // (rules, source, expected fetch timeout in seconds; the store's default is 2)
    ("  - {issuer: a, jwksUri: \"\(slowURI)\", timeout: 0.3s}", JWKSSource.remote(uri: slowURI), 0.3),
    ("  - {issuer: a, jwksUri: \"\(slowURI)\", timeout: 1m}", .remote(uri: slowURI), 60),
    ("  - {issuer: a, jwksUri: \"\(slowURI)\"}", .remote(uri: slowURI), 2),
    ("  - {issuer: \"http://127.0.0.1:9\", timeout: 750ms}", .discovery(issuer: "http://127.0.0.1:9"), 0.75),
    // Rules sharing a jwksUri share one fetch: the last one that sets a timeout decides.
    ("  - {issuer: a, jwksUri: \"\(slowURI)\", timeout: 1s}\n  - {issuer: b, jwksUri: \"\(slowURI)\"}", .remote(uri: slowURI), 1),
    ("  - {issuer: a, jwksUri: \"\(slowURI)\", timeout: 1s}\n  - {issuer: b, jwksUri: \"\(slowURI)\", timeout: 250ms}", .remote(uri: slowURI), 0.25),
] as [(String, JWKSSource, Double)])
func ruleTimeoutReachesTheKeyStore(rules: String, source: JWKSSource, expected: Double) throws {
    let p = timeoutPipeline(try requestAuthentication(rules))
    let status = try #require(p.keyStore.status(for: source))
    #expect(status.fetchTimeout == expected)
}

@Test func reloadChangesAndDropsTheRuleTimeout() throws {
    let source = JWKSSource.remote(uri: slowURI)
    let p = timeoutPipeline(try requestAuthentication("  - {issuer: a, jwksUri: \"\(slowURI)\", timeout: 500ms}"))
    #expect(p.keyStore.status(for: source)?.fetchTimeout == 0.5)
    p.install(try requestAuthentication("  - {issuer: a, jwksUri: \"\(slowURI)\", timeout: 3s}"))
    #expect(p.keyStore.status(for: source)?.fetchTimeout == 3)
    p.install(try requestAuthentication("  - {issuer: a, jwksUri: \"\(slowURI)\"}"))
    #expect(p.keyStore.status(for: source)?.fetchTimeout == 2)
}

@Test func jwksFileSourcesHaveNoFetchTimeout() throws {
    let p = timeoutPipeline(try requestAuthentication("  - {issuer: a, jwksUri: \"\(slowURI)\", timeout: 300ms}"),
                            jwksFiles: ["a": "/nonexistent/jwks.json"])
    #expect(p.keyStore.sources == [.file(path: "/nonexistent/jwks.json")])
    #expect(p.keyStore.status(for: .file(path: "/nonexistent/jwks.json"))?.fetchTimeout == nil)
}

/// A reload that drops a rule drops its key source: no more fetches, no more weight in readiness.
@Test func reloadUnregistersSourcesNoRuleNames() throws {
    let p = timeoutPipeline(try requestAuthentication("  - {issuer: a, jwksUri: \"\(slowURI)\"}\n  - {issuer: b, jwksUri: \"http://127.0.0.1:9/b\"}"))
    #expect(Set(p.keyStore.sources) == [.remote(uri: slowURI), .remote(uri: "http://127.0.0.1:9/b")])
    p.install(try requestAuthentication("  - {issuer: b, jwksUri: \"http://127.0.0.1:9/b\"}"))
    #expect(p.keyStore.sources == [.remote(uri: "http://127.0.0.1:9/b")])
    #expect(p.keyStore.status(for: .remote(uri: slowURI)) == nil)
}
