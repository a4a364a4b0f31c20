/// A `when` key `experimental.envoy.filters.<filter>[<field>]`: the field `<field>` of the dynamic
/// metadata another Envoy filter wrote under the namespace `envoy.filters.<filter>`.
///
/// Split exactly as istiod splits it (`envoyFilterGenerator` in
/// `pilot/pkg/security/authz/model/generator.go`): drop `experimental.`, drop one trailing `]`, split at
/// the first `[`. So `experimental.envoy.filters.network.mysql_proxy[db.table]` is the namespace
/// `envoy.filters.network.mysql_proxy` and the one field `db.table` (dots are part of the name), and
/// `…[a][b]` is the one field `a][b`, not a nested path: istiod emits a single metadata path segment.
public struct FilterMetadataKey: Sendable, Hashable, CustomStringConvertible {
    /// The metadata namespace (the filter's name), e.g. `envoy.filters.http.set_metadata`.
    public let namespace: String
    /// The field of that namespace's Struct.
    public let field: String

    public init(namespace: String, field: String) {
        self.namespace = namespace
        self.field = field
    }

    static let prefix = "experimental.envoy.filters."

    /// Parses a key that starts with `experimental.envoy.filters.`; nil when istiod's `validateMapKey`
    /// rejects it (no `[`, no trailing `]`, or nothing between them).
    init?(key: String) {
        // Bytes, as Go's strings functions see them: a `[` or `]` followed by a combining mark is still
        // a bracket here (Swift's Character view would see one grapheme and miss it).
        let u = key.utf8
        guard u.starts(with: Self.prefix.utf8), u.last == UInt8(ascii: "]"),
              let open = u.firstIndex(of: UInt8(ascii: "["))
        else { return nil }
        // validateMapKey: `open < len(key)-2`, i.e. at least one byte between `[` and the last `]`.
        let fieldStart = u.index(after: open), fieldEnd = u.index(before: u.endIndex)
        guard fieldStart < fieldEnd else { return nil }
        let namespaceStart = u.index(u.startIndex, offsetBy: "experimental.".utf8.count)
        namespace = String(decoding: u[namespaceStart..<open], as: UTF8.self)
        field = String(decoding: u[fieldStart..<fieldEnd], as: UTF8.self)
    }

    /// The key as written in the policy.
    public var description: String { "experimental.\(namespace)[\(field)]" }
}
