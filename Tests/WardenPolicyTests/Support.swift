import Testing
import WardenJSON
@testable import WardenPolicy

/// A request with sensible defaults; only what a row changes is spelled out.
struct Req: Sendable, CustomStringConvertible {
    var method = "GET"
    var path = "/"
    var host = "example.com"
    var headers: [String: String] = [:]
    var sourceIP = "10.0.0.1"
    var principal = ""
    var destinationIP = "10.0.0.2"
    var destinationPort: UInt32 = 8080
    var sni = ""
    /// `metadata_context` by namespace (Envoy sends only the namespaces it is told to).
    var metadata: [String: [String: JSONValue]] = [:]

    var attributes: RequestAttributes {
        var r = RequestAttributes()
        r.method = method
        r.path = path
        r.host = host
        r.headers = headers
        r.headers[":authority"] = host
        r.headers[":path"] = path
        r.headers[":method"] = method
        r.sourceIP = sourceIP
        r.sourcePrincipal = principal
        r.destinationIP = destinationIP
        r.destinationPort = destinationPort
        r.sni = sni
        r.metadataContext = metadata
        return r
    }

    var description: String { "\(method) \(host)\(path)" }
}

func identity(_ iss: String = "https://issuer.example", sub: String = "alice", aud: [String] = ["api"], azp: String? = nil,
              claims: [String: JSONValue] = [:]) -> RequestIdentity {
    var all = claims
    all["iss"] = .string(iss)
    all["sub"] = .string(sub)
    return RequestIdentity(issuer: iss, subject: sub, audiences: aud, presenter: azp, claims: all)
}

/// A verified token from `iss` without a `sub` claim.
func identityWithoutSubject(_ iss: String = "https://issuer.example") -> RequestIdentity {
    RequestIdentity(issuer: iss, subject: "", audiences: ["api"], presenter: nil, claims: ["iss": .string(iss)])
}

/// Loads YAML and scopes it to namespace `foo` (labels app=web), root `istio-system`.
func effective(_ yaml: String, scope: WorkloadScope = WorkloadScope(namespace: "foo", labels: ["app": "web"])) throws -> EffectivePolicy {
    try PolicySet.parse(yaml: yaml, file: "test.yaml").effective(for: scope)
}

/// An AuthorizationPolicy document in namespace `foo`; `body` is the YAML under `spec:` (indented 2).
func ap(_ name: String, _ body: String, namespace: String = "foo", annotations: String = "") -> String {
    """
    apiVersion: security.istio.io/v1
    kind: AuthorizationPolicy
    metadata:
      name: \(name)
      namespace: \(namespace)
    \(annotations)
    spec:
    \(body.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n"))
    ---

    """
}

/// The fixture directory next to this file.
func fixturesDirectory(_ file: String = #filePath) -> String {
    var parts = file.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast()
    return parts.joined(separator: "/") + "/Fixtures"
}
