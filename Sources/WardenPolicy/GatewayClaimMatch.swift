import WardenJSON

/// Envoy Gateway's JWT principal matchers, as its xDS translator builds them
/// (envoyproxy/gateway `internal/xds/translator/authorization.go` `buildJWTPredicate`): a metadata matcher on
/// the jwt_authn payload, whose top-level `scope` and `scp` strings were normalized to lists split on spaces
/// (`jwt.go`: `normalize_payload_in_metadata.space_delimited_claims: [scope, scp]`).
///
/// Unlike Istio's `request.auth.claims`, the value type is strict: a `String` claim matcher matches a JSON
/// string only (never a list element, number or boolean), a `StringArray` one matches one string element of a
/// list only (never a bare string).
enum GatewayClaimMatch {
    static let normalizedClaims: Set<String> = ["scope", "scp"]

    /// The claim at `path` as Envoy's metadata sees it (nil: absent, which matches nothing).
    static func value(_ claims: [String: JSONValue]?, path: [String]) -> JSONValue? {
        guard let claims, let first = path.first, var value = claims.exactValue(forKey: first) else { return nil }
        for key in path.dropFirst() {
            guard let next = value.objectValue?.exactValue(forKey: key) else { return nil }
            value = next
        }
        if path.count == 1, normalizedClaims.contains(first), case .string(let s) = value {
            // Envoy's normalize_payload_in_metadata splits on the space byte, dropping empty words.
            return .array(s.bytesSplit(separator: UInt8(ascii: " ")).filter { !$0.isEmpty }.map { .string(String($0)) })
        }
        return value
    }

    static func matches(_ claims: [String: JSONValue]?, path: [String], array: Bool, _ p: StringPattern) -> Bool {
        switch value(claims, path: path) {
        case .string(let s)? where !array: return p.matches(s)
        case .array(let items)? where array:
            return items.contains { if case .string(let s) = $0 { return p.matches(s) } else { return false } }
        default: return false
        }
    }

    /// `scopes[]` entry: an element of the normalized `scope` list or of the `scp` list.
    static func scopeMatches(_ claims: [String: JSONValue]?, _ p: StringPattern) -> Bool {
        normalizedClaims.sorted().contains { matches(claims, path: [$0], array: true, p) }
    }
}
