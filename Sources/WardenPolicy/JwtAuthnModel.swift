import Foundation
import WardenJSON

/// An Envoy `jwt_authn` filter configuration (`envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication`)
/// read as a policy document: the providers, the first-match `rules` and the `requirement_map`. It applies to
/// every request this Warden checks (a filter config has no workload scope), before the Istio resources —
/// as a jwt_authn filter placed before Istio's in one filter chain: both must pass.
public struct JwtAuthnFilter: Sendable, Hashable {
    /// Where the document is, and `dialect` = `Envoy jwt_authn <file>`.
    public var origin: ResourceOrigin
    /// Providers by name, in document order.
    public var providers: [JwtAuthnProvider]
    /// First match wins; no match (or a rule without `requires`): no JWT is required.
    public var rules: [JwtAuthnRule]
    /// Named requirements a route selects with `context_extensions` (`jwt_authn.requirement_name`).
    public var requirementMap: [String: JwtRequirement]
    /// `bypass_cors_preflight` (Envoy's default: false).
    public var bypassCORSPreflight: Bool
    /// Set for the requirement an Envoy Gateway SecurityPolicy's `jwt` compiles to: it applies only where the
    /// RequestAuthentication of that SecurityPolicy does (its `targetRefs`, route-over-Gateway precedence).
    /// nil: every check (a jwt_authn document has no scope).
    public var onlyWith: PolicyRef?

    /// A SecurityPolicy's `jwt.optional: true`: its requirement admits a request without a token (`allow_missing`).
    public var allowsMissingToken: Bool {
        rules.contains { r in
            guard case .any(let children)? = r.requires else { return r.requires == .allowMissing }
            return children.contains(.allowMissing)
        }
    }
    /// The SecurityPolicy's `targetRefs` (for `warden convert`).
    public var targetRefs: [TargetRef] = []

    public init(origin: ResourceOrigin, providers: [JwtAuthnProvider], rules: [JwtAuthnRule],
                requirementMap: [String: JwtRequirement] = [:], bypassCORSPreflight: Bool = false) {
        self.origin = origin
        self.providers = providers
        self.rules = rules
        self.requirementMap = requirementMap
        self.bypassCORSPreflight = bypassCORSPreflight
    }

    public func provider(named name: String) -> JwtAuthnProvider? { providers.first { $0.name == name } }

    /// The `context_extensions` keys a route uses to pick a named requirement or to turn the filter off
    /// (Envoy's `PerRouteConfig.requirement_name` / `disabled`, which a route gives ext_authz this way).
    public static let requirementNameKey = "jwt_authn.requirement_name"
    public static let disabledKey = "jwt_authn.disabled"
}

/// One `providers` entry, as a JWT rule (the parts Istio's `JWTRule` also has) plus jwt_authn's own checks.
public struct JwtAuthnProvider: Sendable, Hashable {
    public var name: String
    /// issuer, audiences, key source, locations, `forward`, `forward_payload_header`, `claim_to_headers`.
    public var rule: JWTRule
    /// `payload_in_metadata`: the claims in the answer's dynamic metadata under this key.
    public var payloadInMetadata: String?
    /// `clock_skew_seconds` (Envoy's default 60).
    public var clockSkewSeconds: Double
    /// `require_expiration` (default false).
    public var requireExpiration: Bool
    /// `max_lifetime`: a token whose `exp − now` is this or more, or without `exp`, is refused.
    public var maxLifetime: Duration?
    /// `subjects`: a StringMatcher on `sub`.
    public var subjects: SubjectMatcher?
    /// `pad_forward_payload_header`: the payload header base64url with `=` padding.
    public var padPayloadHeader = false
    /// `header_in_metadata`: the JOSE header in the answer's dynamic metadata under this key.
    public var headerInMetadata: String?
    /// `normalize_payload_in_metadata.space_delimited_claims`: these top-level string claims are lists of
    /// their space-separated words in the `payload_in_metadata` copy (RFC 8693's `scope`).
    public var spaceDelimitedInMetadata: [String] = []

    public init(name: String, rule: JWTRule, payloadInMetadata: String? = nil, clockSkewSeconds: Double = 60,
                requireExpiration: Bool = false, maxLifetime: Duration? = nil, subjects: SubjectMatcher? = nil) {
        self.name = name
        self.rule = rule
        self.payloadInMetadata = payloadInMetadata
        self.clockSkewSeconds = clockSkewSeconds
        self.requireExpiration = requireExpiration
        self.maxLifetime = maxLifetime
        self.subjects = subjects
    }
}

/// `JwtRequirement`: what a matched route needs.
public indirect enum JwtRequirement: Sendable, Hashable {
    /// `provider_name` (or `provider_and_audiences`, whose audiences replace the provider's).
    case provider(String, audiences: [String]?)
    case any([JwtRequirement])
    case all([JwtRequirement])
    /// No token passes; a present token must be valid.
    case allowMissing
    /// Always passes; valid tokens' payloads are still forwarded.
    case allowMissingOrFailed
    /// An empty requirement: nothing is verified.
    case none
}

/// `rules[]`: a route match and its requirement (inline, or by name from `requirement_map`).
public struct JwtAuthnRule: Sendable, Hashable {
    public var match: JwtRouteMatch
    /// nil: the rule matches and requires nothing (Envoy: no `requires`).
    public var requires: JwtRequirement?
    /// Where the rule is (for explain and the decision log).
    public var line: Int

    public init(match: JwtRouteMatch, requires: JwtRequirement?, line: Int) {
        self.match = match
        self.requires = requires
        self.line = line
    }
}

/// Envoy's `config.route.v3.RouteMatch`, the parts jwt_authn reads (`jwt_authn/matcher.cc`): one path
/// specifier, `case_sensitive`, `headers` and `query_parameters`.
public struct JwtRouteMatch: Sendable, Hashable {
    public enum Path: Sendable, Hashable {
        /// The path without query and fragment starts with it.
        case prefix(String)
        /// The path without query and fragment equals it.
        case exact(String)
        /// The prefix, followed by `/` or the end of the path.
        case separatedPrefix(String)
        /// The whole path without query matches (RE2 in Envoy; `SafeRegex`, RE2's syntax in linear time, here).
        case regex(PathRegex)
    }

    public var path: Path
    public var caseSensitive: Bool
    public var headers: [EnvoyHeaderMatch]
    public var queryParameters: [EnvoyQueryMatch]

    public init(path: Path, caseSensitive: Bool = true, headers: [EnvoyHeaderMatch] = [], queryParameters: [EnvoyQueryMatch] = []) {
        self.path = path
        self.caseSensitive = caseSensitive
        self.headers = headers
        self.queryParameters = queryParameters
    }
}

/// A compiled `safe_regex` (Google RE2 syntax in Envoy): full-match semantics, linear time (`SafeRegex`, a Pike
/// VM over RE2's syntax; what RE2 refuses is refused here at load).
public final class PathRegex: Sendable, Hashable {
    public let pattern: String
    let regex: SafeRegex

    public init(_ pattern: String) throws {
        self.pattern = pattern
        regex = try SafeRegex(pattern)
    }

    public func wholeMatches(_ text: Substring) -> Bool { regex.wholeMatches(text) }
    public static func == (a: PathRegex, b: PathRegex) -> Bool { a.pattern == b.pattern }
    public func hash(into h: inout Hasher) { h.combine(pattern) }
}

/// Envoy's StringMatcher without regex: exact, prefix, suffix, contains, with `ignore_case`.
public struct EnvoyStringMatch: Sendable, Hashable {
    public enum Kind: Sendable, Hashable { case exact, prefix, suffix, contains }
    public var kind: Kind
    public var value: String
    public var ignoreCase: Bool

    public init(_ kind: Kind, _ value: String, ignoreCase: Bool = false) {
        self.kind = kind
        self.value = value
        self.ignoreCase = ignoreCase
    }

    public func matches(_ text: String) -> Bool {
        // ignore_case folds ASCII only, as Envoy's absl::EqualsIgnoreCase / StartsWithIgnoreCase do.
        let t = ignoreCase ? Self.asciiLowercased(text) : text
        let v = ignoreCase ? Self.asciiLowercased(value) : value
        let tb = Array(t.utf8), vb = Array(v.utf8)
        switch kind {
        case .exact: return tb == vb
        case .prefix: return tb.starts(with: vb)
        case .suffix: return tb.count >= vb.count && Array(tb.suffix(vb.count)) == vb
        case .contains:
            if vb.isEmpty { return true }
            guard tb.count >= vb.count else { return false }
            for i in 0...(tb.count - vb.count) where tb[i] == vb[0] && Array(tb[i..<(i + vb.count)]) == vb { return true }
            return false
        }
    }

    static func asciiLowercased(_ s: String) -> String {
        String(decoding: s.utf8.map { (0x41...0x5A).contains($0) ? $0 + 0x20 : $0 }, as: UTF8.self)
    }
}

/// Envoy's `config.route.v3.HeaderMatcher` (the forms Warden evaluates): the header's values joined with
/// `,`, as Envoy's `HeaderUtility::matchHeaders` reads a repeated header.
public struct EnvoyHeaderMatch: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case string(EnvoyStringMatch)
        /// `present_match`: true = the header is there; false = it is absent.
        case present(Bool)
    }
    /// Lowercased.
    public var name: String
    public var kind: Kind
    public var invert: Bool

    public init(name: String, kind: Kind, invert: Bool = false) {
        self.name = name.lowercased()
        self.kind = kind
        self.invert = invert
    }

    /// Envoy's `HeaderUtility::matchHeaders`: a missing header matches no value match, inverted or not
    /// (`invert_match` inverts only the match against a value that is there); only `present_match` looks at
    /// absence, and inverting it means "absent".
    public func matches(_ headers: [String: String]) -> Bool {
        switch (kind, headers[name]) {
        case (.present(let p), let v): return ((v != nil) == p) != invert
        case (.string, nil): return false
        case (.string(let m), let v?): return m.matches(v) != invert
        }
    }
}

/// Envoy's `config.route.v3.QueryParameterMatcher`: `string_match` or `present_match` on the first value.
public struct EnvoyQueryMatch: Sendable, Hashable {
    public var name: String
    /// nil: `present_match`.
    public var match: EnvoyStringMatch?

    public init(name: String, match: EnvoyStringMatch?) {
        self.name = name
        self.match = match
    }
}

extension JwtRouteMatch {
    /// Whether the request's path (and headers, query parameters) match, as jwt_authn's matcher does.
    public func matches(path full: String, headers: [String: String]) -> Bool {
        let bare = Self.pathWithoutQuery(full)
        let pathOK: Bool
        switch path {
        case .prefix(let p): pathOK = Self.hasPrefix(bare, p, caseSensitive: caseSensitive)
        case .exact(let p):
            pathOK = caseSensitive ? bare.utf8.elementsEqual(p.utf8)
                : EnvoyStringMatch.asciiLowercased(String(bare)) == EnvoyStringMatch.asciiLowercased(p)
        case .separatedPrefix(let p):
            guard Self.hasPrefix(bare, p, caseSensitive: caseSensitive) else { pathOK = false; break }
            let rest = bare.utf8.dropFirst(p.utf8.count)
            pathOK = rest.isEmpty || rest.first == UInt8(ascii: "/")
        case .regex(let r):
            // The regex sees the path with its query string removed (fragment kept), as matcher.cc.
            pathOK = r.wholeMatches(Substring(full.unicodeScalars.prefix { $0 != "?" }))
        }
        guard pathOK else { return false }
        for h in self.headers where !h.matches(headers) { return false }
        if !queryParameters.isEmpty {
            let params = Self.queryParameters(of: full)
            for q in queryParameters {
                guard let value = params[q.name] else { return false }
                if let m = q.match, !m.matches(value) { return false }
            }
        }
        return true
    }

    /// The path up to `?` or `#` (Envoy's `PathUtil::removeQueryAndFragment`). Split on scalars, not Characters:
    /// a combining mark after `?` must not hide it (Envoy splits bytes).
    static func pathWithoutQuery(_ path: String) -> Substring {
        Substring(path.unicodeScalars.prefix { $0 != "?" && $0 != "#" })
    }

    static func hasPrefix(_ s: Substring, _ p: String, caseSensitive: Bool) -> Bool {
        if caseSensitive { return s.utf8.starts(with: p.utf8) }
        return EnvoyStringMatch.asciiLowercased(String(s)).utf8.starts(with: EnvoyStringMatch.asciiLowercased(p).utf8)
    }

    /// The first value of each query parameter, as sent: jwt_authn's matcher (matcher.cc) reads them with
    /// `QueryParamsMulti::parseQueryString`, which does not percent-decode (`mode=%73trict` is not `strict`), and
    /// `matchQueryParams` compares the first value.
    static func queryParameters(of path: String) -> [String: String] {
        // On scalars, as pathWithoutQuery: `?`, `#`, `&`, `=` followed by a combining mark still delimit.
        let scalars = path.unicodeScalars
        guard let q = scalars.firstIndex(of: "?") else { return [:] }
        var out: [String: String] = [:]
        for pair in scalars[scalars.index(after: q)...].prefix(while: { $0 != "#" }).split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(Substring(parts[0])), value = parts.count > 1 ? String(Substring(parts[1])) : ""
            if out[name] == nil { out[name] = value }
        }
        return out
    }
}
