import Testing
@testable import WardenPolicy

/// Envoy `jwt_authn` documents as policy input (issue 20): the three forms Envoy configs hold, every field
/// honoured, noted or refused with file and line, and jwt_authn's route matching (`jwt_authn/matcher.cc`).
/// Decisions themselves are checked against Envoy 1.40 in Tests/IntegrationTests/test_jwt_authn_oracle.py.
@Suite struct JwtAuthnDecodingTests {
    static let jwks = #"{"keys":[{"kty":"EC","crv":"P-256","kid":"k","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#

    static func provider(_ extra: String = "") -> String {
        "  a:\n    issuer: https://idp.example\n    local_jwks: {inline_string: '\(jwks)'}\n" + extra
    }

    @Test(arguments: [
        // the bare JwtAuthentication
        "providers:\n\(provider())rules:\n- match: {prefix: /}\n  requires: {provider_name: a}\n",
        // with its @type (typed_config as written)
        "'@type': type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication\nproviders:\n\(provider())rules:\n- match: {prefix: /}\n  requires: {provider_name: a}\n",
        // the http_filters entry
        "name: envoy.filters.http.jwt_authn\ntyped_config:\n  providers:\n  \(provider().replacingOccurrences(of: "\n    ", with: "\n      ").replacingOccurrences(of: "\n  a:", with: "\n    a:"))  rules:\n  - match: {prefix: /}\n    requires: {provider_name: a}\n",
    ])
    func theThreeFormsLoad(_ yaml: String) throws {
        let set = try PolicySet.parse(yaml: yaml, file: "j.yaml")
        #expect(set.jwtAuthnFilters.count == 1)
        let f = try #require(set.jwtAuthnFilters.first)
        #expect(f.providers.map(\.name) == ["a"])
        #expect(f.rules.first?.requires == .provider("a", audiences: nil))
        #expect(f.origin.dialect == "Envoy jwt_authn j.yaml:1")
        #expect(set.requestAuthentications.isEmpty && set.authorizationPolicies.isEmpty)
    }

    @Test func providerFieldsKeepEnvoysMeaningAndDefaults() throws {
        let set = try PolicySet.parse(yaml: """
            providers:
              a:
                issuer: https://idp.example
                audiences: [api]
                remote_jwks:
                  http_uri: {uri: "https://idp.example/jwks", cluster: idp, timeout: 2s}
                  cache_duration: 300s
                forward: true
                from_headers: [{name: x-token, value_prefix: "Bearer "}]
                from_params: [tok]
                from_cookies: [session]
                forward_payload_header: x-jwt-payload
                claim_to_headers: [{header_name: x-sub, claim_name: sub}]
                payload_in_metadata: a_payload
                clock_skew_seconds: 0
                max_lifetime: 600s
                require_expiration: true
                subjects: {prefix: "spiffe://"}
                pad_forward_payload_header: true
                header_in_metadata: a_header
                normalize_payload_in_metadata: {space_delimited_claims: [scope]}
            rules:
            - match: {prefix: /}
              requires: {provider_name: a}
            """, file: "j.yaml")
        let p = try #require(set.jwtAuthnFilters.first?.providers.first)
        #expect(p.rule.jwksUri == "https://idp.example/jwks")
        #expect(p.rule.timeoutSeconds == 2)
        #expect(p.rule.forwardOriginalToken)
        #expect(p.rule.fromHeaders == [JWTHeader(name: "x-token", prefix: "Bearer ")])
        #expect(p.rule.fromParams == ["tok"] && p.rule.fromCookies == ["session"])
        #expect(p.rule.outputPayloadToHeader == "x-jwt-payload")
        #expect(p.rule.outputClaimToHeaders == [ClaimToHeader(header: "x-sub", claim: "sub")])
        #expect(p.payloadInMetadata == "a_payload")
        #expect(p.clockSkewSeconds == 60)  // proto3: 0 is unset, Envoy's default applies
        #expect(p.maxLifetime == .seconds(600) && p.requireExpiration)
        #expect(p.subjects == .prefix("spiffe://"))
        #expect(p.padPayloadHeader && p.headerInMetadata == "a_header" && p.spaceDelimitedInMetadata == ["scope"])
        #expect(p.rule.cacheDurationSeconds == 300)  // the source's refresh schedule
        // cluster: ignored with a note (no meaning outside Envoy)
        #expect(set.notes.contains { $0.message.hasPrefix("cluster ignored") })
        #expect(!set.notes.contains { $0.message.contains("cache_duration") })
    }

    /// HttpFilter.is_optional (envoyproxy/envoy#16119, http_connection_manager.proto): "clients that do not support
    /// this filter may ignore the filter" — Warden supports it, so the document applies as without the flag (noted).
    @Test func isOptionalIsNotedAndChangesNothing() throws {
        let yaml = "name: envoy.filters.http.jwt_authn\nis_optional: true\ntyped_config:\n  providers:\n    a: {issuer: https://i, local_jwks: {inline_string: '\(Self.jwks)'}}\n  rules:\n  - match: {prefix: /}\n    requires: {provider_name: a}\n"
        let set = try PolicySet.parse(yaml: yaml, file: "j.yaml")
        #expect(set.jwtAuthnFilters.first?.rules.first?.requires == .provider("a", audiences: nil))
        #expect(set.notes.contains { $0.message.contains("is_optional ignored") })
        #expect(throws: PolicyLoadFailure.self) { try PolicySet.parse(yaml: yaml.replacingOccurrences(of: "is_optional: true", with: "is_optional: maybe")) }
    }

    @Test func requirementsCompileAsEnvoyReadsThem() throws {
        let set = try PolicySet.parse(yaml: """
            providers:
            \(Self.provider())  b:
                issuer: https://b.example
                local_jwks: {inline_string: '\(Self.jwks)'}
            requirement_map:
              strict: {requires_all: {requirements: [{provider_name: a}, {provider_name: b}]}}
            rules:
            - match: {path: /healthz}
            - match: {prefix: /docs}
              requires: {requires_any: {requirements: [{provider_name: a}, {allow_missing: {}}]}}
            - match: {prefix: /aud}
              requires: {provider_and_audiences: {provider_name: a, audiences: [x]}}
            - match: {prefix: /strict}
              requirement_name: strict
            - match: {prefix: /}
              requires: {allow_missing_or_failed: {}}
            """, file: "j.yaml")
        let f = try #require(set.jwtAuthnFilters.first)
        #expect(f.rules.map(\.requires) == [
            nil,
            .any([.provider("a", audiences: nil), .allowMissing]),
            .provider("a", audiences: ["x"]),
            .all([.provider("a", audiences: nil), .provider("b", audiences: nil)]),
            .allowMissingOrFailed,
        ])
        #expect(f.requirementMap.keys.sorted() == ["strict"])
    }

    /// What Warden cannot honour is a load error naming file, line and the reason.
    @Test(arguments: [
        ("rules:\n- match: {prefix: /}\n  requires: {provider_name: nope}\n", 1, "has no providers"),
        ("providers:\n  a: {issuer: https://i}\n", 2, "needs remote_jwks or local_jwks"),
        ("providers:\n\(provider())rules:\n- match: {prefix: /}\n  requires: {provider_name: nope}\n", 7, "Required provider ['nope'] is not configured."),
        ("providers:\n\(provider())rules:\n- requires: {provider_name: a}\n", 6, "a rule needs match"),
        ("providers:\n\(provider())rules:\n- match: {connect_matcher: {}}\n", 6, "match.connect_matcher is not supported"),
        ("providers:\n\(provider())rules:\n- match: {prefix: /, grpc: {}}\n", 6, "match.grpc is not supported"),
        ("providers:\n\(provider())rules:\n- match: {safe_regex: {regex: '(['}}\n", 6, "invalid regex"),
        ("providers:\n\(provider())rules:\n- match: {path_separated_prefix: /a/}\n", 6, "path_separated_prefix must not"),
        ("providers:\n\(provider())rules:\n- match: {prefix: /}\n  requirement_name: x\n", 7, "requirement_name x is not in requirement_map"),
        ("providers:\n\(provider())rules:\n- match: {prefix: /}\n  requires: {requires_any: {requirements: [{provider_name: a}]}}\n", 7, "at least 2"),
        ("providers:\n\(provider("    failed_status_in_metadata: h\n"))", 5, "failed_status_in_metadata is not supported"),
        ("providers:\n\(provider("    subjects: {safe_regex: {regex: x}}\n"))", 5, "regex or custom StringMatcher is not supported"),
        ("providers:\n\(provider("    unknown_field: 1\n"))", 5, "unknown field"),
        ("providers:\n\(provider())filter_state_rules: {name: x}\n", 5, "filter_state_rules"),
        ("providers:\n\(provider())strip_failure_response: true\n", 5, "strip_failure_response is not supported"),
        ("'@type': type.googleapis.com/envoy.config.rbac.v3.RBAC\nproviders:\n\(provider())", 1, "@type must be"),
        // oneof fields given twice: Envoy refuses such a config; Warden must not pick one.
        ("providers:\n  a:\n    issuer: https://i\n    local_jwks: {inline_string: '\(jwks)', filename: /etc/jwks.json}\n", 4, "local_jwks takes one of"),
        ("providers:\n\(provider())rules:\n- match: {prefix: /, query_parameters: [{name: q, string_match: {exact: x}, present_match: true}]}\n", 6, "takes one of string_match and present_match"),
        ("providers:\n\(provider())rules:\n- match: {prefix: /, headers: [{name: h, exact_match: x, present_match: true}]}\n", 6, "a header match takes one match type"),
    ])
    func whatCannotBeHonouredIsRefused(_ yaml: String, _ line: Int, _ message: String) {
        do {
            _ = try PolicySet.parse(yaml: yaml, file: "p.yaml")
            Issue.record("loaded: \(message)")
        } catch {
            #expect(error.description.contains("p.yaml:\(line)"), "\(error)")
            #expect(error.description.contains(message), "\(error)")
        }
    }

    /// jwt_authn/matcher.cc: prefix and path compare the path without query and fragment; safe_regex the path
    /// without query, whole; `case_sensitive: false` folds ASCII; headers and query parameters must all match.
    @Test(arguments: [
        (JwtRouteMatch(path: .prefix("/api")), "/api/x?y=1", [String: String](), true),
        (JwtRouteMatch(path: .prefix("/api")), "/apix", [:], true),
        (JwtRouteMatch(path: .prefix("/api")), "/API", [:], false),
        (JwtRouteMatch(path: .prefix("/api"), caseSensitive: false), "/API/x", [:], true),
        (JwtRouteMatch(path: .exact("/healthz")), "/healthz?probe=1", [:], true),
        (JwtRouteMatch(path: .exact("/healthz")), "/healthz/", [:], false),
        (JwtRouteMatch(path: .separatedPrefix("/api")), "/api", [:], true),
        (JwtRouteMatch(path: .separatedPrefix("/api")), "/api/v1", [:], true),
        (JwtRouteMatch(path: .separatedPrefix("/api")), "/apiv1", [:], false),
        (JwtRouteMatch(path: .separatedPrefix("/api")), "/api?x", [:], true),
        (JwtRouteMatch(path: .regex(try! PathRegex("/items/[0-9]+"))), "/items/42?x=1", [:], true),
        (JwtRouteMatch(path: .regex(try! PathRegex("/items/[0-9]+"))), "/items/42/x", [:], false),
        // `?` then a combining mark is still the query's start (Envoy splits bytes, not graphemes).
        (JwtRouteMatch(path: .regex(try! PathRegex("/items/[0-9]+"))), "/items/42?\u{301}x=1", [:], true),
        (JwtRouteMatch(path: .exact("/admin")), "/admin?\u{301}", [:], true),
        (JwtRouteMatch(path: .exact("/admin")), "/admin#\u{301}", [:], true),
        (JwtRouteMatch(path: .prefix("/"), queryParameters: [EnvoyQueryMatch(name: "mode", match: EnvoyStringMatch(.exact, "strict"))]),
         "/q?\u{301}=1&mode=strict", [:], true),
        (JwtRouteMatch(path: .prefix("/"), queryParameters: [EnvoyQueryMatch(name: "mode", match: EnvoyStringMatch(.exact, "strict"))]),
         "/q?mode=strict&\u{301}x=1", [:], true),
        (JwtRouteMatch(path: .prefix("/"), headers: [EnvoyHeaderMatch(name: "X-Tenant", kind: .string(EnvoyStringMatch(.exact, "acme")))]),
         "/", ["x-tenant": "acme"], true),
        (JwtRouteMatch(path: .prefix("/"), headers: [EnvoyHeaderMatch(name: "x-tenant", kind: .string(EnvoyStringMatch(.exact, "acme")))]),
         "/", [:], false),
        // Envoy's route_components.proto, treat_missing_header_as_empty: an absent header "is treated as missing,
        // so it will not match when inverted" — an inverted value match needs the header there.
        (JwtRouteMatch(path: .prefix("/"), headers: [EnvoyHeaderMatch(name: "x-tenant", kind: .string(EnvoyStringMatch(.exact, "acme")), invert: true)]),
         "/", [:], false),
        (JwtRouteMatch(path: .prefix("/"), headers: [EnvoyHeaderMatch(name: "x-tenant", kind: .string(EnvoyStringMatch(.exact, "acme")), invert: true)]),
         "/", ["x-tenant": "other"], true),
        (JwtRouteMatch(path: .prefix("/"), headers: [EnvoyHeaderMatch(name: "x-tenant", kind: .string(EnvoyStringMatch(.exact, "acme")), invert: true)]),
         "/", ["x-tenant": "acme"], false),
        // Inverted present_match: matches when the header is absent.
        (JwtRouteMatch(path: .prefix("/"), headers: [EnvoyHeaderMatch(name: "x-debug", kind: .present(true), invert: true)]), "/", [:], true),
        (JwtRouteMatch(path: .prefix("/"), headers: [EnvoyHeaderMatch(name: "x-debug", kind: .present(false))]), "/", ["x-debug": ""], false),
        (JwtRouteMatch(path: .prefix("/"), headers: [EnvoyHeaderMatch(name: "x-t", kind: .string(EnvoyStringMatch(.prefix, "AC", ignoreCase: true)))]),
         "/", ["x-t": "acme"], true),
        (JwtRouteMatch(path: .prefix("/"), queryParameters: [EnvoyQueryMatch(name: "mode", match: EnvoyStringMatch(.exact, "strict"))]),
         "/q?a=1&mode=strict", [:], true),
        (JwtRouteMatch(path: .prefix("/"), queryParameters: [EnvoyQueryMatch(name: "mode", match: EnvoyStringMatch(.exact, "strict"))]),
         "/q?mode=lax&mode=strict", [:], false),
        (JwtRouteMatch(path: .prefix("/"), queryParameters: [EnvoyQueryMatch(name: "mode", match: nil)]), "/q", [:], false),
        // Values and names as sent: matcher.cc reads them with QueryParamsMulti::parseQueryString (no decoding).
        (JwtRouteMatch(path: .prefix("/"), queryParameters: [EnvoyQueryMatch(name: "mode", match: EnvoyStringMatch(.exact, "strict"))]),
         "/q?mode=%73trict", [:], false),
        (JwtRouteMatch(path: .prefix("/"), queryParameters: [EnvoyQueryMatch(name: "mode", match: EnvoyStringMatch(.exact, "%73trict"))]),
         "/q?mode=%73trict", [:], true),
        (JwtRouteMatch(path: .prefix("/"), queryParameters: [EnvoyQueryMatch(name: "mode", match: nil)]), "/q?m%6Fde=1", [:], false),
    ])
    func routeMatching(_ m: JwtRouteMatch, _ path: String, _ headers: [String: String], _ expected: Bool) {
        #expect(m.matches(path: path, headers: headers) == expected, "\(m) \(path)")
    }
}
