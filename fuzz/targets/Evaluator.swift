// Fuzz target: the authorization evaluator with hostile request attributes against a fixed policy set.
// The input is split at NUL bytes into method, path, host, a header name and value, source IP, the
// token subject (empty: no token), a `groups` claim and an x-forwarded-for value.
// Properties (a violation is an authorization bypass, so it aborts):
// - never crashes;
// - a request whose normalized path is under /admin/ is never allowed (DENY paths: /admin/*);
// - a token whose `groups` claim holds "banned" is never allowed (DENY when claims[groups]);
// - an allow implies GET, a normalized path under /api/, and the request principal https://idp/alice
//   (the only ALLOW rule).
import WardenJSON
import WardenPolicy

let effective: EffectivePolicy = {
    let yaml = """
    apiVersion: security.istio.io/v1
    kind: AuthorizationPolicy
    metadata: {name: deny-admin, namespace: default}
    spec:
      action: DENY
      rules:
      - to: [{operation: {paths: ["/admin/*"]}}]
      - when: [{key: "request.auth.claims[groups]", values: ["banned"]}]
      - from: [{source: {ipBlocks: ["10.0.0.0/8"], notPrincipals: ["*"]}}]
    ---
    apiVersion: security.istio.io/v1
    kind: AuthorizationPolicy
    metadata: {name: allow-api, namespace: default}
    spec:
      action: ALLOW
      rules:
      - from: [{source: {requestPrincipals: ["https://idp/alice"]}}]
        to: [{operation: {methods: ["GET"], paths: ["/api/*"], notHosts: ["evil.example"]}}]
        when: [{key: "request.headers[x-tenant]", notValues: ["blocked"]}]
    """
    do { return try PolicySet.parse(yaml: yaml).effective(for: WorkloadScope()) } catch { fatalError("fixture policy: \(error)") }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let parts = UnsafeBufferPointer(start: data, count: size).split(separator: 0, omittingEmptySubsequences: false)
        .map { String(decoding: $0, as: UTF8.self) }
    func part(_ i: Int) -> String { i < parts.count ? parts[i] : "" }
    var request = RequestAttributes()
    request.method = part(0)
    request.path = part(1)
    request.host = part(2)
    request.headers = [":method": request.method, ":path": request.path, ":authority": request.host]
    if !part(3).isEmpty { request.headers[part(3).lowercased()] = part(4) }
    if !part(8).isEmpty { request.headers["x-forwarded-for"] = part(8) }
    request.sourceIP = part(5)
    let identity: RequestIdentity? = part(6).isEmpty ? nil : RequestIdentity(
        issuer: "https://idp", subject: part(6), audiences: [], presenter: nil,
        claims: ["sub": .string(part(6)), "groups": .array(part(7).split(separator: ",").map { .string(String($0)) })])

    let decision = AuthorizationEvaluator.evaluate(effective, request: request, identity: identity)
    guard decision.isAllowed else { return 0 }

    // Byte-wise, as the policies match (and Envoy): `hasPrefix` would miss "/admin/\u{301}x".
    let rawPath = String(decoding: request.path.utf8.prefix { $0 != UInt8(ascii: "?") && $0 != UInt8(ascii: "#") }, as: UTF8.self)
    let normalized = PathNormalizer.normalize(rawPath) ?? ""
    if normalized.bytesHavePrefix("/admin/") { fatalError("allowed under /admin/: \(request.path.debugDescription)") }
    if part(7).split(separator: ",").contains(where: { $0.bytesEqual("banned") }) { fatalError("allowed a banned group: \(part(7).debugDescription)") }
    guard request.method.bytesEqual("GET"), normalized.bytesHavePrefix("/api/"), identity?.principal.bytesEqual("https://idp/alice") == true else {
        fatalError("allowed outside the ALLOW rule: \(request.method.debugDescription) \(request.path.debugDescription) \(identity?.principal ?? "-")")
    }
    return 0
}
