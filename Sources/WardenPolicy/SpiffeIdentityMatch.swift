import WardenJSON

/// Trust-domain and service-account matches on the peer's SPIFFE principal, exactly as istiod compiles
/// them into Envoy RBAC principal matchers (istio/istio 86c9f01, `pilot/pkg/security/authz/model/generator.go`:
/// `srcTrustDomainGenerator`, `serviceAccountRegex`). Byte-wise, as Envoy's string and RE2 matchers.
enum SpiffeIdentityMatch {
    static let scheme = "spiffe://"

    /// `source.trustDomains` / `when: source.trustDomain` (generator.go L226–L241):
    /// `*` → prefix `spiffe://` (any SPIFFE identity); `td` → prefix `spiffe://td/`;
    /// `td-*` → regex `spiffe://td-[^/]*/.*`; `*-td` → regex `spiffe://[^/]*-td/.*`.
    /// Validation allows at most one `*`, at an end (`CheckWildcardValues`), so these are all the forms.
    static func trustDomain(_ p: StringPattern, principal: String) -> Bool {
        guard principal.bytesHavePrefix(scheme) else { return false }
        if case .presence = p { return true }
        let rest = principal.utf8.dropFirst(scheme.utf8.count)
        // The trust domain is everything before the first `/`, which must exist.
        guard let slash = rest.firstIndex(of: UInt8(ascii: "/")) else { return false }
        let td = Substring(rest[rest.startIndex..<slash])
        switch p {
        case .exact(let v): return td.bytesEqual(v)
        case .prefix(let v): return td.bytesHavePrefix(v)
        case .suffix(let v): return td.bytesHaveSuffix(v)
        case .presence: return true
        }
    }

    /// `ns/sa` against `spiffe://.+/ns/<ns>/(.+/|)sa/<sa>(/.+)?` (generator.go L205–L218, `serviceAccountRegex`):
    /// a full match, so `sa/<sa>-x` does not match `<sa>`. `ns` and `sa` hold neither `/` nor `*` (validated).
    static func serviceAccount(namespace ns: String, name sa: String, principal: String) -> Bool {
        guard principal.bytesHavePrefix(scheme) else { return false }
        let u = Array(principal.utf8.dropFirst(scheme.utf8.count))
        let nsMarker = Array("/ns/\(ns)/".utf8)
        let saMarker = Array("sa/\(sa)".utf8)
        func hasAt(_ needle: [UInt8], _ at: Int) -> Bool {
            at >= 0 && at + needle.count <= u.count && u[at..<(at + needle.count)].elementsEqual(needle)
        }
        // `.+` before `/ns/`: at least one byte of trust domain.
        var i = 1
        while i + nsMarker.count <= u.count {
            if hasAt(nsMarker, i) {
                let q = i + nsMarker.count
                // `(.+/|)`: sa/ follows at once, or after at least one byte and a `/`.
                var r = q
                while r + saMarker.count <= u.count {
                    if (r == q || (r >= q + 2 && u[r - 1] == UInt8(ascii: "/"))) && hasAt(saMarker, r) {
                        let end = r + saMarker.count
                        // `(/.+)?`: the end, or `/` and at least one more byte.
                        if end == u.count || (u[end] == UInt8(ascii: "/") && end + 1 < u.count) { return true }
                    }
                    r += 1
                }
            }
            i += 1
        }
        return false
    }
}
