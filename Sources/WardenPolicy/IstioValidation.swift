import WardenJSON

/// Istio's validation rules that are more than a field's type, with Istio's messages. Each rule cites the
/// file and line of istio/istio at `commit` (API v1.31) it follows, so the next release can be diffed rule
/// by rule (`Tests/WardenPolicyTests/IstioValidationTests.swift` has one row per rule):
/// - `validation.go` = `pkg/config/validation/validation.go`
/// - `security.go` = `pkg/config/security/security.go`
/// - `crd` = `manifests/charts/base/files/crd-all.gen.yaml` (OpenAPI and CEL rules the API server enforces)
enum IstioValidation {
    static let commit = "86c9f01fd735fb01d8192f5bcaf0d424afb7f14c"

    // MARK: Annotations (validation.go L181–L220)

    /// Annotations istiod refuses on any resource (validation.go L189–L199).
    static let forbiddenAnnotations: [(name: String, message: String)] = [
        ("internal.istio.io/webhook-always-reject", "\"internal.istio.io/webhook-always-reject\" annotation found, rejecting"),
        ("internal.istio.io/parent-namespace", "\"internal.istio.io/parent-namespace\" annotation found, this may not be set by users"),
        ("internal.istio.io/parents", "\"internal.istio.io/parents\" annotation found, this may not be set by users"),
    ]

    /// Go's `strconv.ParseBool`, which `checkDryRunAnnotation` uses (validation.go L211).
    static func parseBool(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "TRUE", "true", "True": return true
        case "0", "f", "F", "FALSE", "false", "False": return false
        default: return nil
        }
    }

    // MARK: Selector and target references

    /// `validateWorkloadSelector` (validation.go L1360–L1379): no empty key, no `*` in a key or value.
    /// The CRD also bounds a value to 63 bytes and the map to 4096 labels (crd L18078–L18090).
    static func selectorLabelProblem(key: String, value: String) -> String? {
        if key.isEmpty { return "empty key is not supported in selector: \"\(key)=\(value)\"" }
        if key.utf8.contains(UInt8(ascii: "*")) || value.utf8.contains(UInt8(ascii: "*")) {
            return "wildcard is not supported in selector: \"\(key)=\(value)\""
        }
        if value.utf8.count > 63 { return "label value \"\(value)\" may not be more than 63 bytes (the CRD's maxLength)" }
        return nil
    }

    /// `allowedTargetRefs` (validation.go L1325–L1331): group (canonical, "" = core) and kind.
    static let allowedTargetRefs: [(group: String, version: String, kind: String)] = [
        ("core", "v1", "Service"),
        ("networking.istio.io", "v1", "ServiceEntry"),
        ("gateway.networking.k8s.io", "v1", "Gateway"),
        ("gateway.networking.k8s.io", "v1", "GatewayClass"),
    ]

    /// `validatePolicyTargetReference` (validation.go L1333–L1358), after the CRD's patterns for group
    /// and kind (crd L18369–L18380).
    static func targetRefProblem(group: String, kind: String, name: String, namespace: String) -> String? {
        if name.isEmpty { return "targetRef name must be set" }
        if !namespace.isEmpty { return "targetRef namespace must not be set; cross namespace referencing is not supported" }
        if group.utf8.count > 253 || !(group.isEmpty || isDNSSubdomain(group)) {
            return "targetRef group \"\(group)\" should match '^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'"
        }
        if kind.utf8.count > 63 || !isKindName(kind) {
            return "targetRef kind \"\(kind)\" should match '^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$'"
        }
        if name.utf8.count > 253 { return "targetRef name may not be more than 253 bytes" }
        let canonical = group.isEmpty ? "core" : group
        if !allowedTargetRefs.contains(where: { $0.group == canonical && $0.kind == kind }) {
            let list = allowedTargetRefs.map { "\($0.group)/\($0.version)/\($0.kind)" }.joined(separator: " ")
            return "targetRef must be to one of [\(list)] but was \(group)/\(kind)"
        }
        return nil
    }

    static func isDNSSubdomain(_ s: String) -> Bool {
        s.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).allSatisfy { label in
            guard let f = label.first, let l = label.last else { return false }
            return isLowerAlnum(f) && isLowerAlnum(l) && label.allSatisfy { isLowerAlnum($0) || $0 == UInt8(ascii: "-") }
        }
    }

    static func isKindName(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard let f = u.first, let l = u.last, isAlpha(f), isAlpha(l) || isDigit(l) else { return false }
        return u.allSatisfy { isAlpha($0) || isDigit($0) || $0 == UInt8(ascii: "-") }
    }

    static func isLowerAlnum(_ b: UInt8) -> Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || isDigit(b) }
    static func isAlpha(_ b: UInt8) -> Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b | 0x20) }
    static func isDigit(_ b: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) }

    // MARK: Source values (security.go)

    /// `CheckWildcardValues` (security.go L117–L131): at most one `*`, and only at the start or end.
    static func wildcardProblem(_ key: String, _ values: [String]) -> String? {
        for v in values {
            let stars = v.utf8.filter { $0 == UInt8(ascii: "*") }.count
            if stars > 1 { return "at most one wildcard is allowed, found in \(key): \"\(v)\"" }
            if stars == 1 && v != "*" && v.utf8.first != UInt8(ascii: "*") && v.utf8.last != UInt8(ascii: "*") {
                return "wildcard is only allowed at the start or end, found in \(key): \"\(v)\""
            }
        }
        return nil
    }

    /// `CheckTrustDomainValues` (security.go L134–L144): wildcard values without `/`.
    static func trustDomainProblem(_ key: String, _ values: [String]) -> String? {
        if let p = wildcardProblem(key, values) { return p }
        if let v = values.first(where: { $0.utf8.contains(UInt8(ascii: "/")) }) {
            return "trust domain must not contain '/', found in \(key): \"\(v)\""
        }
        return nil
    }

    /// `CheckServiceAccount` (security.go L146–L181): at most 16 values, each `sa` or `ns/sa`, no `*`,
    /// at most 320 bytes.
    static func serviceAccountProblem(_ key: String, _ values: [String]) -> String? {
        if values.count > 16 { return "may not have more than 16 values" }
        for v in values {
            if v.isEmpty { return "empty value not allowed, found in \(key)" }
            if v.utf8.contains(UInt8(ascii: "*")) { return "wildcard not allowed, found in \(key)" }
            let parts = v.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
            if parts.count > 2 { return "expected format 'serviceAccount' or 'namespace/serviceAccount', found \"\(v)\" in \(key)" }
            if v.utf8.count > 320 { return "value cannot exceed 320 characters, found \"\(v)\" in \(key)" }
            if parts.count == 2 && parts[0].isEmpty {
                return "expected format 'serviceAccount' or 'namespace/serviceAccount', found empty namespace \"\(v)\" in \(key)"
            }
            if parts.count == 2 && parts[1].isEmpty {
                return "expected format 'serviceAccount' or 'namespace/serviceAccount', found empty serviceAccount \"\(v)\" in \(key)"
            }
        }
        return nil
    }

    /// `sa` → `<policy namespace>/sa`, as `serviceAccountRegex` reads a bare name (generator.go L205–L211).
    static func qualifiedServiceAccount(_ v: String, policyNamespace: String) -> String {
        v.utf8.contains(UInt8(ascii: "/")) ? v : "\(policyNamespace)/\(v)"
    }

    // MARK: JWT rules

    /// `ParseJwksURI` (security.go L77–L104) on top of Go's `url.Parse`: scheme http or https, and a port,
    /// if any, that is all digits (`invalid port ":x" after host`). The CRD bounds it to 2048 bytes.
    /// Warden also refuses an empty host (istiod accepts `http:///x`, whose keys can never be fetched).
    static func jwksURIProblem(_ uri: String) -> String? {
        if uri.utf8.count > 2048 { return "jwksUri may not be more than 2048 bytes (the CRD's maxLength)" }
        if uri.utf8.contains(where: { $0 < 0x20 || $0 == 0x7f }) { return "parse \"\(uri)\": net/url: invalid control character in URL" }
        guard let colon = uri.utf8.firstIndex(of: UInt8(ascii: ":")) else { return "URI scheme \"\" is not supported" }
        let scheme = String(Substring(uri.utf8[..<colon])).lowercased()
        guard scheme == "http" || scheme == "https" else { return "URI scheme \"\(scheme)\" is not supported" }
        let afterScheme = uri.utf8[uri.utf8.index(after: colon)...]
        guard afterScheme.starts(with: "//".utf8) else { return "invalid jwksUri \"\(uri)\": missing host" }
        let authority = afterScheme.dropFirst(2).prefix { $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "?") && $0 != UInt8(ascii: "#") }
        var host = authority
        if let at = host.lastIndex(of: UInt8(ascii: "@")) { host = host[host.index(after: at)...] }
        var port: Substring.UTF8View.SubSequence?
        if host.first == UInt8(ascii: "[") {
            guard let close = host.firstIndex(of: UInt8(ascii: "]")) else { return "parse \"\(uri)\": missing ']' in host" }
            let rest = host[host.index(after: close)...]
            if !rest.isEmpty {
                guard rest.first == UInt8(ascii: ":") else { return "parse \"\(uri)\": invalid port \"\(String(Substring(rest)))\" after host" }
                port = rest.dropFirst()
            }
            host = host[host.startIndex...close]
        } else if let c = host.lastIndex(of: UInt8(ascii: ":")) {
            port = host[host.index(after: c)...]
            host = host[..<c]
        }
        if let port, !port.allSatisfy(isDigit) {
            return "parse \"\(uri)\": invalid port \":\(String(Substring(port)))\" after host"
        }
        if let bad = host.first(where: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") }) {
            return "parse \"\(uri)\": invalid character \"\(Character(Unicode.Scalar(bad)))\" in host name"
        }
        if host.isEmpty { return "invalid jwksUri \"\(uri)\": missing host" }
        return nil
    }

    /// Whether an inline `jwks` parses as a JWK set or a single JWK, as `jwk.Parse` (lestrrat-go/jwx),
    /// which `validateJwtRule` calls (validation.go L1658–L1664): a JSON object; with `keys`, an array of
    /// objects; each key with a known `kty`. Returns the problem, or nil.
    static func jwksProblem(_ text: String) -> String? {
        let root: JSONValue
        do { root = try JSONParser.parse(text) } catch { return "jwks parse error: the document is not JSON (\(error))" }
        guard case .object = root else { return "jwks parse error: the document is not a JSON object" }
        let keys: [JSONValue]
        if let set = root["keys"] {
            guard case .array(let items) = set else { return "jwks parse error: \"keys\" is not an array" }
            keys = items
        } else {
            keys = [root]
        }
        for (i, key) in keys.enumerated() {
            guard case .object = key else { return "jwks parse error: key \(i) is not a JSON object" }
            guard let kty = key["kty"]?.stringValue else { return "jwks parse error: key \(i) has no string \"kty\"" }
            guard ["RSA", "EC", "OKP", "oct"].contains(kty) else { return "jwks parse error: key \(i) has unsupported \"kty\" \"\(kty)\"" }
        }
        return nil
    }

    /// `ValidateStrictHTTPHeaderName` (validation.go L82, L222–L231) for `outputClaimToHeaders[].header`.
    static func strictHeaderNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "header name cannot be empty" }
        let ok = name.utf8.allSatisfy { isAlpha($0) || isDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
        return ok ? nil : "header name \(name) is not a valid header name"
    }

    /// `agent.ValidateDuration` (pkg/config/validation/agent/validation.go L140–L149) for `timeout`; the CRD
    /// says the same (`must be a valid duration greater than 1ms`).
    static func timeoutProblem(_ d: Duration) -> String? {
        if d < .milliseconds(1) { return "duration must be greater than 1ms" }
        let (s, atto) = d.components
        _ = s
        if atto % 1_000_000_000_000_000 != 0 { return "only durations to ms precision are supported" }
        return nil
    }
}
