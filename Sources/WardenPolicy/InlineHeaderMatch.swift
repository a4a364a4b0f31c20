import WardenJSON

/// `request.experimental.inline.headers[name]` matching, as istiod compiles it (`HeaderMatcherWithRegex`
/// in `pilot/pkg/security/authz/matcher/header.go`): a `*` value is Envoy's `present_match` (any value,
/// even empty); any other value `v` becomes the regex `^v$|^v,.*|.*,v,.*|.*,v$` (with `v` quoted, and a
/// leading or trailing `*` turned into `.*`), matched against the header value — repeated headers joined
/// with `,`, no spaces trimmed. So one element of a comma-separated list can match:
///
/// - exact `v`: the value is `v`, starts with `v,`, contains `,v,` or ends with `,v`;
/// - prefix `v*`: the value starts with `v` or contains `,v`;
/// - suffix `*v`: the value ends with `v` or contains `v,`.
///
/// Compared byte for byte (RE2 on UTF-8), and without building the `,v,` strings per check.
enum InlineHeaderMatch {
    static func matches(_ p: StringPattern, _ value: String) -> Bool {
        let comma = UInt8(ascii: ",")
        let utf8 = value.utf8
        let count = utf8.count
        /// The byte before offset `i` is a comma (`i > 0`).
        func commaBefore(_ i: Int) -> Bool { i > 0 && utf8[utf8.index(utf8.startIndex, offsetBy: i - 1)] == comma }
        /// The byte at offset `i` is a comma.
        func commaAt(_ i: Int) -> Bool { i < count && utf8[utf8.index(utf8.startIndex, offsetBy: i)] == comma }
        switch p {
        case .presence: return true
        case .exact(let v):
            // `^v$|^v,.*|.*,v,.*|.*,v$`: an occurrence of v bounded on each side by the value's edge or a comma.
            return value.bytesContain(v) { start, end in (start == 0 || commaBefore(start)) && (end == count || commaAt(end)) }
        case .prefix(let v):
            // `^v.*|.*,v.*`
            return value.bytesContain(v) { start, _ in start == 0 || commaBefore(start) }
        case .suffix(let v):
            // `.*v$|.*v,.*`
            return value.bytesContain(v) { _, end in end == count || commaAt(end) }
        }
    }
}
