/// Which documents in a policy directory Warden may skip, and which it must refuse.
///
/// Skipping a document that was meant to restrict access serves without it — allowing what it denied.
/// So only kinds known to say nothing about request authentication or authorization are skipped (with a
/// warning); a kind Warden does not know in an API group that holds security policies, a security policy
/// of another dialect Warden does not read yet, and a document without `kind` (an Envoy `jwt_authn`
/// configuration looks like that) are load errors.
enum DocumentKind {
    /// API groups whose kinds may restrict access.
    static let securityGroups: Set<String> = ["security.istio.io", "gateway.envoyproxy.io", "security.warden.io"]

    /// Kinds of those groups that Warden knows to be irrelevant to its decisions.
    static let irrelevant: [String: Set<String>] = [
        // mTLS mode between sidecars: Envoy terminates it; Warden sees only its result (`source.principal`).
        "security.istio.io": ["PeerAuthentication"],
        // Envoy Gateway's proxy, traffic, patch and backend resources: not authentication or authorization.
        "gateway.envoyproxy.io": ["EnvoyProxy", "BackendTrafficPolicy", "ClientTrafficPolicy", "EnvoyPatchPolicy",
                                  "EnvoyExtensionPolicy", "Backend", "HTTPRouteFilter"],
    ]

    /// The kinds Warden reads as security policy, by name (compared ignoring case): one of them in an apiVersion
    /// Warden does not read — none, another group, an odd-case group, an unknown version — is refused, never
    /// skipped (skipping an ALLOW or DENY would serve without it).
    static let securityKinds: [String: String] = [
        "AuthorizationPolicy": "security.istio.io/v1 or v1beta1",
        "RequestAuthentication": "security.istio.io/v1 or v1beta1",
        "SecurityPolicy": SecurityPolicyDecoder.apiVersion,
        TokenPolicy.kind: TokenPolicy.apiVersion,
    ]

    /// Why a document of a security kind (by name) in `apiVersion` is refused; nil when it is not such a kind.
    static func securityKindRefusal(kind: String, apiVersion: String) -> String? {
        guard let (name, expected) = securityKinds.first(where: { $0.key.lowercased() == kind.lowercased() }) else { return nil }
        return "\(kind) with \(apiVersion.isEmpty ? "no apiVersion" : "apiVersion \"\(apiVersion)\"") is not one Warden reads (it reads \(name) "
            + "in \(expected) only); refusing to load rather than serve without it"
    }

    /// The API group of `apiVersion` (`group/version`; "" for the core group or none).
    static func group(of apiVersion: String) -> String {
        guard let slash = apiVersion.lastIndex(of: "/") else { return "" }
        return String(apiVersion[..<slash])
    }

    /// Why a document that is not one of Warden's kinds must not be skipped, or nil when skipping it is safe.
    static func refusal(kind: String, apiVersion: String, keys: [String]) -> String? {
        if kind.isEmpty {
            let envoyKeys = keys.filter { ["providers", "rules", "requirement_map", "filter_state_rules", "bypass_cors_preflight"].contains($0) }
            if !envoyKeys.isEmpty {
                return "this looks like part of an Envoy jwt_authn configuration (\(envoyKeys.sorted().joined(separator: ", "))) "
                    + "but has no providers; Warden reads a whole JwtAuthentication (providers + rules), its typed_config with "
                    + "@type, or the http_filters entry (refusing to load rather than serve without its rules)"
            }
            if keys.isEmpty { return nil }  // an empty document
            return "a document without kind is not a policy Warden can read (refusing to load rather than serve without it)"
        }
        if let refusal = securityKindRefusal(kind: kind, apiVersion: apiVersion) { return refusal }
        // Groups compared ignoring case: `Security.Istio.io` is no one else's group.
        let group = group(of: apiVersion).lowercased()
        guard securityGroups.contains(group), !(irrelevant[group]?.contains(kind) ?? false) else { return nil }
        return "kind \(kind) of \(apiVersion) is not one Warden knows; in a security API group an unknown kind may restrict "
            + "access, so Warden refuses to load rather than serve without it"
    }
}
