/// `request.experimental.inline.headers[name]` matching, as istiod compiles it (`HeaderMatcherWithRegex`
/// in `pilot/pkg/security/authz/matcher/header.go`): a `*` value is Envoy's `present_match` (any value,
/// even empty); any other value `v` becomes the regex `^v$|^v,.*|.*,v,.*|.*,v$` (with `v` quoted, and a
/// leading or trailing `*` turned into `.*`), matched against the header value — repeated headers joined
/// with `,`, no spaces trimmed. So one element of a comma-separated list can match:
///
/// - exact `v`: the value is `v`, starts with `v,`, contains `,v,` or ends with `,v`;
/// - prefix `v*`: the value starts with `v` or contains `,v`;
/// - suffix `*v`: the value ends with `v` or contains `v,`.
enum InlineHeaderMatch {
    static func matches(_ p: StringPattern, _ value: String) -> Bool {
        switch p {
        case .presence: return true
        case .exact(let v): return value == v || value.hasPrefix(v + ",") || value.contains("," + v + ",") || value.hasSuffix("," + v)
        case .prefix(let v): return value.hasPrefix(v) || value.contains("," + v)
        case .suffix(let v): return value.hasSuffix(v) || value.contains(v + ",")
        }
    }
}
