import Testing
import WardenAuthz
import WardenExtAuthz
import WardenJSON
import WardenJWKS
import WardenPolicy
import WardenProtobuf

/// `attributes.metadata_context` (Envoy's `metadata_context_namespaces`) from the wire to the
/// `experimental.envoy.filters.*` conditions: kept by the per-check decoder, converted only for the
/// namespaces some policy reads, and a DENY on a namespace Envoy did not send fails closed.
@Suite struct MetadataContextTests {
    static let ns = "envoy.filters.http.header_to_metadata"
    static let policies = """
    apiVersion: security.istio.io/v1
    kind: AuthorizationPolicy
    metadata: {name: block, namespace: default}
    spec:
      action: DENY
      rules:
      - to: [{operation: {paths: ["/admin*"]}}]
        when:
        - key: "experimental.\(ns)[role]"
          values: [blocked, "[blocked]"]
    """

    static func service() throws -> ExtAuthzService {
        ExtAuthzService(service: CheckService(policies: try PolicySet.parse(yaml: policies), scope: WorkloadScope(), keyStore: JWKSStore(),
                                              tokenCache: (100, 1 << 20), clock: { 1_767_225_600 }))
    }

    static func request(_ path: String, metadata: [String: ProtobufStruct]?) -> [UInt8] {
        let http = AttributeContext.HttpRequest(id: "1", method: "GET", headers: [":path": path, ":authority": "a", ":method": "GET"],
                                                path: path, host: "a", scheme: "http")
        return CheckRequest(attributes: AttributeContext(request: .init(http: http),
                                                         metadataContext: metadata.map { Metadata(filterMetadata: $0) })).serializedBytes()
    }

    struct Row: Sendable, CustomTestStringConvertible {
        let name: String
        let path: String
        let metadata: [String: ProtobufStruct]?
        let reason: ReasonCode
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(name: "namespace not sent: the DENY matches (fail closed)", path: "/admin", metadata: nil, reason: .policyDeniedMetadataNotSent),
        Row(name: "empty metadata_context", path: "/admin", metadata: [:], reason: .policyDeniedMetadataNotSent),
        Row(name: "only another namespace sent", path: "/admin", metadata: ["envoy.filters.http.other": ["role": "blocked"]],
            reason: .policyDeniedMetadataNotSent),
        Row(name: "not sent, path outside the rule", path: "/public", metadata: nil, reason: .allowed),
        Row(name: "sent, string matches", path: "/admin", metadata: [ns: ["role": "blocked"]], reason: .policyDenied),
        Row(name: "sent, list element matches", path: "/admin", metadata: [ns: ["role": ["user", "blocked"]]], reason: .policyDenied),
        Row(name: "sent, other value", path: "/admin", metadata: [ns: ["role": "user"]], reason: .allowed),
        Row(name: "sent, field missing", path: "/admin", metadata: [ns: ["other": "blocked"]], reason: .allowed),
        Row(name: "sent, a number is no string", path: "/admin", metadata: [ns: ["role": 1]], reason: .allowed),
    ]

    @Test(arguments: rows)
    func decides(_ row: Row) throws {
        let ext = try Self.service()
        let box = Box()
        ext.check(Self.request(row.path, metadata: row.metadata)) { box.value = ($0, $1) }
        let (answer, result) = try #require(box.value)
        guard case .response(let bytes) = answer else { Issue.record("not a response: \(answer)"); return }
        let response = try CheckResponse(serializedBytes: bytes)
        #expect(result?.record.reasonCode == row.reason, "\(result?.record.reason ?? "")")
        #expect(response.status.code == (row.reason == .allowed ? 0 : 7))
        if row.reason == .policyDeniedMetadataNotSent {
            #expect(result?.record.reason.contains("metadata namespace \(Self.ns) not sent by Envoy") == true)
            #expect(result?.record.policy == "default/block rule[0]")
        }
    }

    final class Box: @unchecked Sendable { var value: (ExtAuthzService.Answer, CheckResult?)? }

    @Test func decoderKeepsFilterMetadataOnly() throws {
        let bytes = CheckRequest(attributes: AttributeContext(
            metadataContext: Metadata(filterMetadata: [Self.ns: ["role": "x"]],
                                      typedFilterMetadata: ["typed": ProtobufAny(typeURL: "type.googleapis.com/google.protobuf.Empty", value: [])]),
            routeMetadataContext: Metadata(filterMetadata: ["route": ["weight": 1]]))).serializedBytes()
        let e = try CheckRequestEssentials(serializedBytes: bytes)
        #expect(e.metadataContext == [Self.ns: ["role": "x"]])
        #expect(e == CheckRequestEssentials(try CheckRequest(serializedBytes: bytes)))
    }

    /// A repeated `metadata_context` (or `attributes`) merges, as protobuf merges messages: both decoders agree.
    @Test func repeatedMetadataContextMerges() throws {
        let first = CheckRequest(attributes: AttributeContext(metadataContext: Metadata(filterMetadata: ["a": ["k": "1"], "b": ["k": "1"]])))
        let second = CheckRequest(attributes: AttributeContext(metadataContext: Metadata(filterMetadata: ["b": ["k": "2"]])))
        let bytes = first.serializedBytes() + second.serializedBytes()
        let e = try CheckRequestEssentials(serializedBytes: bytes)
        #expect(e.metadataContext == ["a": ["k": "1"], "b": ["k": "2"]])
        #expect(e == CheckRequestEssentials(try CheckRequest(serializedBytes: bytes)))
    }

    @Test func onlyNamespacesPoliciesReadAreConverted() throws {
        var e = CheckRequestEssentials()
        e.metadataContext = [
            "wanted": ["s": "x", "n": 1.5, "b": true, "z": nil, "l": ["a", 2], "o": ["in": ["deep": "y"]]],
            "envoy.filters.http.jwt_authn": ["payload": ["sub": "alice"]],
        ]
        let kept = RequestAttributes(e, metadataNamespaces: ["wanted"])
        #expect(Array(kept.metadataContext.keys) == ["wanted"])
        #expect(kept.metadataContext["wanted"] == [
            "s": .string("x"), "n": .number(1.5), "b": .bool(true), "z": .null,
            "l": .array([.string("a"), .number(2)]), "o": .object(["in": .object(["deep": .string("y")])]),
        ])
        #expect(RequestAttributes(e).metadataContext.count == 2)
        #expect(RequestAttributes(e, metadataNamespaces: []).metadataContext.isEmpty)
    }
}
