import Foundation
import WardenYAML

/// Envoy's `jwt_authn` filter configuration (`envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication`,
/// envoyproxy/envoy `api/envoy/extensions/filters/http/jwt_authn/v3/config.proto`) as a policy document.
/// Accepted as written in an Envoy config: the bare message (`providers`, `rules`, …), the message with its
/// `@type`, or the whole `http_filters` entry (`name` + `typed_config`).
///
/// Every field is honoured with Envoy's meaning, ignored with a note when it has no meaning outside Envoy
/// (a cluster name, Envoy's own caches and fetch tuning — Warden's JWKS store has its own), or refused with
/// file, line and the reason; never dropped silently.
enum JwtAuthnDecoder {
    static let typeURL = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"
    static let filterName = "envoy.filters.http.jwt_authn"
    static let messageKeys: Set<String> = ["providers", "rules", "requirement_map", "bypass_cors_preflight", "filter_state_rules",
                                           "stat_prefix", "strip_failure_response", "@type"]

    /// Whether a document without `kind` is a jwt_authn configuration (then `decode` reads it).
    static func recognizes(_ top: [String: YAMLCursor]) -> Bool {
        if top["providers"] != nil { return true }
        if let name = try? top["name"]?.string(), name == filterName, top["typed_config"] != nil { return true }
        if let type = try? top["@type"]?.string(), type == typeURL { return true }
        return false
    }

    static func decode(_ doc: YAMLCursor, top: [String: YAMLCursor], file: String, line: Int) throws(PolicyLoadError) -> [DecodedResource] {
        var message = doc
        var optional: YAMLCursor?
        if top["typed_config"] != nil {
            let f = try doc.fields(allowed: ["name", "typed_config", "disabled", "is_optional"])
            if try f["disabled"]?.bool() == true { throw f["disabled"]!.error("a disabled jwt_authn filter checks nothing; remove the document instead") }
            message = f["typed_config"]!
            optional = f["is_optional"]
        }
        var notes: [PolicyNote] = []
        let origin = ResourceOrigin(file: file, line: line, dialect: "Envoy jwt_authn \(file):\(line)")
        func note(_ c: YAMLCursor, _ text: String) {
            notes.append(PolicyNote(level: .info, location: "\(c.file):\(c.node.mark.line) \(c.path)", message: text))
        }
        let f = try message.fields(allowed: messageKeys)
        if let t = f["@type"], try t.string() != typeURL { throw t.error("@type must be \(typeURL)") }
        if let r = f["filter_state_rules"], !r.isNull {
            throw r.error("filter_state_rules selects requirements by filter state another Envoy filter writes; Warden cannot see it "
                          + "(use rules, or requirement_map with context_extensions \(JwtAuthnFilter.requirementNameKey))")
        }
        if let s = f["strip_failure_response"], try s.bool() {
            throw s.error("strip_failure_response is not supported: Warden answers a failed check with Envoy's body and WWW-Authenticate")
        }
        if let s = f["stat_prefix"] { note(s, "stat_prefix ignored: Warden's metrics are warden_*") }
        // HttpFilter.is_optional (envoyproxy/envoy#16119): a proxy that lacks the filter may skip it instead of
        // rejecting the config. Warden has the filter, so it checks requests exactly as without the flag.
        if let o = optional, try o.bool() { note(o, "is_optional ignored: it lets a proxy without the jwt_authn filter skip it; Warden has the filter and applies it") }
        guard let providersField = f["providers"], !providersField.isNull, let pairs = providersField.node.mapping, !pairs.isEmpty else {
            throw (f["providers"] ?? message).error("providers must name at least one JwtProvider")
        }
        var providers: [JwtAuthnProvider] = []
        let providerFields = try providersField.fields()
        for pair in pairs {
            let name = pair.key.scalar?.value ?? ""
            if name.isEmpty { throw providersField.error("a provider name must be a non-empty string") }
            providers.append(try decodeProvider(providerFields[name]!, name: name, file: file, note: note))
        }
        let names = Set(providers.map(\.name))
        var requirementMap: [String: JwtRequirement] = [:]
        if let m = f["requirement_map"], !m.isNull {
            for (name, r) in try m.fields() {
                if name.isEmpty { throw m.error("requirement_map names must be non-empty") }
                requirementMap[name] = try decodeRequirement(r, providers: names)
            }
        }
        var rules: [JwtAuthnRule] = []
        for item in try f["rules"]?.list() ?? [] {
            let rf = try item.fields(allowed: ["match", "requires", "requirement_name"])
            guard let m = rf["match"], !m.isNull else { throw item.error("a rule needs match (Envoy: required)") }
            let match = try decodeRouteMatch(m)
            var requires: JwtRequirement?
            if let r = rf["requires"], !r.isNull {
                if rf["requirement_name"] != nil { throw r.error("a rule takes requires or requirement_name, not both") }
                requires = try decodeRequirement(r, providers: names)
            } else if let n = rf["requirement_name"] {
                let name = try n.string()
                guard let named = requirementMap[name] else { throw n.error("requirement_name \(name) is not in requirement_map") }
                requires = named
            }
            rules.append(JwtAuthnRule(match: match, requires: requires, line: item.node.mark.line))
        }
        let bypass = try f["bypass_cors_preflight"]?.bool() ?? false
        let filter = JwtAuthnFilter(origin: origin, providers: providers, rules: rules, requirementMap: requirementMap,
                                    bypassCORSPreflight: bypass)
        return [.jwtAuthn(filter)] + notes.map { .skipped($0) }
    }

    // MARK: - providers

    static func decodeProvider(_ c: YAMLCursor, name: String, file: String, note: (YAMLCursor, String) -> Void) throws(PolicyLoadError) -> JwtAuthnProvider {
        let f = try c.fields(allowed: ["issuer", "audiences", "subjects", "require_expiration", "max_lifetime", "remote_jwks", "local_jwks",
                                       "forward", "from_headers", "from_params", "from_cookies", "forward_payload_header",
                                       "pad_forward_payload_header", "payload_in_metadata", "header_in_metadata", "failed_status_in_metadata",
                                       "normalize_payload_in_metadata", "clock_skew_seconds", "jwt_cache_config", "claim_to_headers",
                                       "clear_route_cache"])
        let issuer = try f["issuer"]?.string() ?? ""
        var rule = JWTRule(issuer: issuer, source: PolicyRef(namespace: "jwt_authn", name: name))
        rule.jwtAuthnProvider = name
        rule.audiences = try f["audiences"]?.stringList() ?? []
        switch (f["remote_jwks"].flatMap { $0.isNull ? nil : $0 }, f["local_jwks"].flatMap { $0.isNull ? nil : $0 }) {
        case (nil, nil): throw c.error("provider \(name) needs remote_jwks or local_jwks")
        case (_?, _?): throw c.error("provider \(name) takes one of remote_jwks and local_jwks")
        case (let r?, nil):
            let rf = try r.fields(allowed: ["http_uri", "cache_duration", "async_fetch", "retry_policy"])
            guard let u = rf["http_uri"] else { throw r.error("remote_jwks needs http_uri") }
            let uf = try u.fields(allowed: ["uri", "cluster", "timeout"])
            guard let uri = try uf["uri"]?.string(), !uri.isEmpty else { throw u.error("http_uri.uri is required") }
            if let problem = IstioValidation.jwksURIProblem(uri) { throw uf["uri"]!.error(problem) }
            rule.jwksUri = uri
            if let cl = uf["cluster"] { note(cl, "cluster ignored: Warden fetches the uri itself (no Envoy cluster)") }
            if let t = uf["timeout"] {
                let d = try protoDuration(t)
                if d <= .zero { throw t.error("timeout must be positive") }
                rule.timeout = d
            }
            if let d = rf["cache_duration"] {
                let duration = try protoDuration(d)
                if duration <= .zero { throw d.error("cache_duration must be positive") }
                rule.cacheDurationSeconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
            }
            for key in ["async_fetch", "retry_policy"] {
                if let x = rf[key] {
                    note(x, "\(key) ignored: Warden's JWKS store fetches every source in the background from the start, "
                         + "refetches on an unknown kid and backs off on failure, for every dialect alike")
                }
            }
        case (nil, let l?):
            let lf = try l.fields(allowed: ["inline_string", "filename", "inline_bytes", "environment_variable"])
            // DataSource.specifier is a oneof: two of them is a config Envoy rejects, not one Warden may pick from.
            let given = ["inline_string", "filename", "inline_bytes", "environment_variable"].filter { lf[$0] != nil }
            if given.count > 1 { throw l.error("local_jwks takes one of inline_string, inline_bytes, filename, environment_variable (found \(given.joined(separator: " and ")))") }
            let text: String
            if let s = lf["inline_string"] {
                text = try s.string()
            } else if let p = lf["filename"] {
                let path = try p.string()
                guard let data = FileManager.default.contents(atPath: path) else { throw p.error("cannot read \(path)") }
                text = String(decoding: data, as: UTF8.self)
            } else if let b = lf["inline_bytes"] {
                guard let data = Data(base64Encoded: try b.string()) else { throw b.error("inline_bytes must be base64") }
                text = String(decoding: data, as: UTF8.self)
            } else {
                throw l.error("local_jwks takes inline_string, inline_bytes or filename (environment_variable is not read)")
            }
            if let problem = IstioValidation.jwksProblem(text) { throw l.error(problem) }
            rule.jwks = text
        }
        rule.forwardOriginalToken = try f["forward"]?.bool() ?? false
        for h in try f["from_headers"]?.list() ?? [] {
            let hf = try h.fields(allowed: ["name", "value_prefix"])
            guard let n = try hf["name"]?.string(), !n.isEmpty else { throw h.error("from_headers name is required") }
            try PolicyDecoder.validateHeaderName(n, hf["name"]!)
            rule.fromHeaders.append(JWTHeader(name: n, prefix: try hf["value_prefix"]?.string() ?? ""))
        }
        rule.fromParams = try f["from_params"]?.stringList() ?? []
        rule.fromCookies = try f["from_cookies"]?.stringList() ?? []
        if let p = f["forward_payload_header"] {
            let h = try p.string()
            if !h.isEmpty {
                try PolicyDecoder.validateHeaderName(h, p)
                rule.outputPayloadToHeader = h
            }
        }
        for item in try f["claim_to_headers"]?.list() ?? [] {
            let cf = try item.fields(allowed: ["header_name", "claim_name"])
            let header = try cf["header_name"]?.string() ?? "", claim = try cf["claim_name"]?.string() ?? ""
            if header.isEmpty || claim.isEmpty { throw item.error("claim_to_headers needs header_name and claim_name") }
            try PolicyDecoder.validateHeaderName(header, cf["header_name"]!)
            rule.outputClaimToHeaders.append(ClaimToHeader(header: header, claim: claim))
        }
        if let x = f["failed_status_in_metadata"], !(try x.string()).isEmpty {
            throw x.error("failed_status_in_metadata is not supported: a failure answers with Envoy's status and body instead")
        }
        if let x = f["jwt_cache_config"] { note(x, "jwt_cache_config ignored: Warden's token cache is --token-cache-entries/--token-cache-bytes") }
        if let x = f["clear_route_cache"] { note(x, "clear_route_cache ignored: it re-selects Envoy's route, which has no meaning in Warden") }
        var provider = JwtAuthnProvider(name: name, rule: rule)
        if let p = f["payload_in_metadata"] {
            let key = try p.string()
            if !key.isEmpty { provider.payloadInMetadata = key }
        }
        if let s = f["clock_skew_seconds"] {
            guard let n = UInt32(try s.string()) else { throw s.error("clock_skew_seconds must be a non-negative integer") }
            // A proto3 uint32: 0 is the unset value, so Envoy's default of 60 s applies (checked against Envoy 1.40).
            provider.clockSkewSeconds = n == 0 ? 60 : Double(n)
        }
        provider.requireExpiration = try f["require_expiration"]?.bool() ?? false
        provider.rule.clockSkewSeconds = provider.clockSkewSeconds
        provider.rule.requireExpiration = provider.requireExpiration
        if let m = f["max_lifetime"], !m.isNull {
            let d = try protoDuration(m)
            if d <= .zero { throw m.error("max_lifetime must be positive") }
            provider.maxLifetime = d
        }
        if let s = f["subjects"], !s.isNull { provider.subjects = try decodeSubjects(s) }
        provider.padPayloadHeader = try f["pad_forward_payload_header"]?.bool() ?? false
        if let h = f["header_in_metadata"] {
            let key = try h.string()
            if !key.isEmpty { provider.headerInMetadata = key }
        }
        if let n = f["normalize_payload_in_metadata"], !n.isNull {
            let nf = try n.fields(allowed: ["space_delimited_claims"])
            provider.spaceDelimitedInMetadata = try nf["space_delimited_claims"]?.stringList() ?? []
        }
        return provider
    }

    /// `subjects`: a StringMatcher on `sub` (no regex).
    static func decodeSubjects(_ s: YAMLCursor) throws(PolicyLoadError) -> SubjectMatcher {
        let m = try decodeStringMatch(s)
        if m.ignoreCase { throw s.error("subjects with ignore_case is not supported") }
        switch m.kind {
        case .exact: return .exact(m.value)
        case .prefix: return .prefix(m.value)
        case .suffix: return .suffix(m.value)
        case .contains: return .contains(m.value)
        }
    }

    /// `type.matcher.v3.StringMatcher` without `safe_regex`.
    static func decodeStringMatch(_ c: YAMLCursor) throws(PolicyLoadError) -> EnvoyStringMatch {
        let f = try c.fields(allowed: ["exact", "prefix", "suffix", "contains", "ignore_case", "safe_regex", "custom"])
        if let r = f["safe_regex"] ?? f["custom"] { throw r.error("a regex or custom StringMatcher is not supported here (exact, prefix, suffix, contains)") }
        var given: [(EnvoyStringMatch.Kind, String)] = []
        for (key, kind) in [("exact", EnvoyStringMatch.Kind.exact), ("prefix", .prefix), ("suffix", .suffix), ("contains", .contains)] {
            if let v = f[key] { given.append((kind, try v.string())) }
        }
        guard given.count == 1 else { throw c.error("a StringMatcher takes exactly one of exact, prefix, suffix, contains") }
        if given[0].0 != .exact && given[0].1.isEmpty { throw c.error("prefix, suffix and contains must not be empty (Envoy: min_len 1)") }
        return EnvoyStringMatch(given[0].0, given[0].1, ignoreCase: try f["ignore_case"]?.bool() ?? false)
    }

    // MARK: - requirements

    static func decodeRequirement(_ c: YAMLCursor, providers: Set<String>) throws(PolicyLoadError) -> JwtRequirement {
        let f = try c.fields(allowed: ["provider_name", "provider_and_audiences", "requires_any", "requires_all", "allow_missing_or_failed",
                                       "allow_missing"])
        if f.count > 1 { throw c.error("a JwtRequirement takes one of provider_name, provider_and_audiences, requires_any, requires_all, allow_missing, allow_missing_or_failed") }
        guard let (key, value) = f.first else { return .none }
        switch key {
        case "provider_name":
            let name = try value.string()
            guard providers.contains(name) else { throw value.error("Required provider ['\(name)'] is not configured.") }
            return .provider(name, audiences: nil)
        case "provider_and_audiences":
            let pf = try value.fields(allowed: ["provider_name", "audiences"])
            let name = try pf["provider_name"]?.string() ?? ""
            guard providers.contains(name) else { throw value.error("Required provider ['\(name)'] is not configured.") }
            // Envoy (`verifier.cc` innerCreate): no audiences listed = the provider's own audiences, not "any".
            let audiences = try pf["audiences"]?.stringList() ?? []
            return .provider(name, audiences: audiences.isEmpty ? nil : audiences)
        case "requires_any", "requires_all":
            let lf = try value.fields(allowed: ["requirements"])
            let items = try lf["requirements"]?.list() ?? []
            if items.count < 2 { throw value.error("\(key).requirements needs at least 2 entries (Envoy: min_items 2)") }
            var children: [JwtRequirement] = []
            for item in items { children.append(try decodeRequirement(item, providers: providers)) }
            return key == "requires_any" ? .any(children) : .all(children)
        case "allow_missing":
            return .allowMissing
        default:
            return .allowMissingOrFailed
        }
    }

    // MARK: - route match

    static func decodeRouteMatch(_ c: YAMLCursor) throws(PolicyLoadError) -> JwtRouteMatch {
        let f = try c.fields(allowed: ["prefix", "path", "safe_regex", "path_separated_prefix", "connect_matcher", "path_match_policy",
                                       "case_sensitive", "headers", "query_parameters", "runtime_fraction", "grpc", "tls_context",
                                       "dynamic_metadata", "filter_state", "cel_expression"])
        for key in ["connect_matcher", "path_match_policy", "runtime_fraction", "grpc", "tls_context", "dynamic_metadata", "filter_state",
                    "cel_expression"] {
            if let x = f[key] { throw x.error("match.\(key) is not supported (use prefix, path, safe_regex or path_separated_prefix, headers, query_parameters)") }
        }
        let specifiers = ["prefix", "path", "safe_regex", "path_separated_prefix"].filter { f[$0] != nil }
        guard specifiers.count == 1, let key = specifiers.first, let v = f[key] else {
            throw c.error("match needs exactly one of prefix, path, safe_regex, path_separated_prefix")
        }
        let path: JwtRouteMatch.Path
        switch key {
        case "prefix": path = .prefix(try v.string())
        case "path": path = .exact(try v.string())
        case "path_separated_prefix":
            let p = try v.string()
            // route.proto: pattern `^[^?#]+[^?#/]$`.
            if p.isEmpty || p.hasSuffix("/") || p.contains("?") || p.contains("#") {
                throw v.error("path_separated_prefix must not be empty, end with / or contain ? or #")
            }
            path = .separatedPrefix(p)
        default:
            let rf = try v.fields(allowed: ["regex", "google_re2"])
            guard let r = rf["regex"] else { throw v.error("safe_regex needs regex") }
            let pattern = try r.string()
            do { path = .regex(try PathRegex(pattern)) } catch { throw r.error("invalid regex: \(error)") }
        }
        var match = JwtRouteMatch(path: path, caseSensitive: try f["case_sensitive"]?.bool() ?? true)
        for h in try f["headers"]?.list() ?? [] { match.headers.append(try decodeHeaderMatch(h)) }
        for q in try f["query_parameters"]?.list() ?? [] {
            let qf = try q.fields(allowed: ["name", "string_match", "present_match"])
            guard let name = try qf["name"]?.string(), !name.isEmpty else { throw q.error("query_parameters name is required") }
            // QueryParameterMatcher.query_parameter_match_specifier is a oneof.
            if qf["string_match"] != nil && qf["present_match"] != nil { throw q.error("a query parameter match takes one of string_match and present_match") }
            if let s = qf["string_match"] {
                match.queryParameters.append(EnvoyQueryMatch(name: name, match: try decodeStringMatch(s)))
            } else if let p = qf["present_match"], try p.bool() {
                match.queryParameters.append(EnvoyQueryMatch(name: name, match: nil))
            } else {
                throw q.error("a query parameter match needs string_match or present_match: true")
            }
        }
        return match
    }

    static func decodeHeaderMatch(_ c: YAMLCursor) throws(PolicyLoadError) -> EnvoyHeaderMatch {
        let f = try c.fields(allowed: ["name", "exact_match", "prefix_match", "suffix_match", "contains_match", "present_match", "string_match",
                                       "invert_match", "safe_regex_match", "range_match", "treat_missing_header_as_empty"])
        guard let name = try f["name"]?.string(), !name.isEmpty else { throw c.error("headers name is required") }
        for key in ["safe_regex_match", "range_match", "treat_missing_header_as_empty"] {
            if let x = f[key] { throw x.error("\(key) is not supported (exact/prefix/suffix/contains/present/string_match)") }
        }
        let invert = try f["invert_match"]?.bool() ?? false
        var kinds: [EnvoyHeaderMatch.Kind] = []
        for (key, kind) in [("exact_match", EnvoyStringMatch.Kind.exact), ("prefix_match", .prefix), ("suffix_match", .suffix),
                            ("contains_match", .contains)] {
            guard let v = f[key] else { continue }
            let value = try v.string()
            // The legacy `exact_match: ""` matches any value of a present header (Envoy's HeaderDataExactMatch);
            // the other legacy fields need a value (min_len 1).
            if value.isEmpty && kind != .exact { throw v.error("\(key) must not be empty") }
            kinds.append(.string(value.isEmpty ? EnvoyStringMatch(.prefix, "") : EnvoyStringMatch(kind, value)))
        }
        if let s = f["string_match"] { kinds.append(.string(try decodeStringMatch(s))) }
        if let p = f["present_match"] { kinds.append(.present(try p.bool())) }
        if kinds.count > 1 { throw c.error("a header match takes one match type") }
        // No match type: Envoy matches when the header is present.
        return EnvoyHeaderMatch(name: name, kind: kinds.first ?? .present(true), invert: invert)
    }

    /// A protobuf Duration in its JSON/YAML form: `"300s"`, `"1.5s"`, or `{seconds, nanos}`.
    static func protoDuration(_ c: YAMLCursor) throws(PolicyLoadError) -> Duration {
        if c.node.mapping != nil {
            let f = try c.fields(allowed: ["seconds", "nanos"])
            guard let s = Int64(try f["seconds"]?.string() ?? "0"), let n = Int64(try f["nanos"]?.string() ?? "0") else {
                throw c.error("seconds and nanos must be integers")
            }
            return .seconds(s) + .nanoseconds(n)
        }
        let text = try c.string()
        guard text.hasSuffix("s"), let value = Double(text.dropLast()), value.isFinite, value >= 0, value < 315_576_000_000 else {
            throw c.error("invalid duration \"\(text)\" (expected e.g. \"300s\" or \"1.5s\")")
        }
        return .nanoseconds(Int64((value * 1e9).rounded()))
    }
}
