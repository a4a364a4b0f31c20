import WardenAuthz
import WardenJSON
import WardenJWKS
import WardenPolicy

/// JSON views of loaded policies for `/config_dump`. Never echoes what may be a secret: an inline `jwks`
/// (which may hold HMAC secrets) is shown as `<inline, N keys>`, a header `when` value (an API key) as
/// `<redacted, N bytes>`, credentials and query values in a `jwksUri` as `<redacted>` / `…`.
enum PolicyDump {
    static func requestAuthentication(_ ra: RequestAuthentication) -> JSONValue {
        var o: [String: JSONValue] = [
            "namespace": .string(ra.ref.namespace), "name": .string(ra.ref.name),
            "origin": .string(ra.origin.description),
            "jwt_rules": .array(ra.jwtRules.map(jwtRule)),
        ]
        if let s = ra.selector { o["selector"] = labels(s.matchLabels) }
        if !ra.targetRefs.isEmpty { o["target_refs"] = strings(ra.targetRefs.map(\.description)) }
        if ra.dryRun { o["dry_run"] = .bool(true) }
        return .object(o)
    }

    /// A TokenPolicy; required claim values are counted, not shown (they may name tenants or groups).
    static func tokenPolicy(_ tp: TokenPolicy) -> JSONValue {
        var o: [String: JSONValue] = [
            "namespace": .string(tp.ref.namespace), "name": .string(tp.ref.name), "origin": .string(tp.origin.description),
            "jwt_rules": .array(tp.rules.map { r in
                var rule: [String: JSONValue] = ["issuer": .string(r.issuer), "sender_constrained": .bool(r.senderConstrained)]
                if !r.typ.isEmpty { rule["typ"] = strings(r.typ) }
                if let m = r.maxLifetime { rule["max_lifetime_seconds"] = .number(Double(m.components.seconds)) }
                if !r.requiredClaims.isEmpty {
                    rule["required_claims"] = .array(r.requiredClaims.map {
                        .object(["name": .string($0.name), "values": .string($0.values.isEmpty ? "any" : "<\($0.values.count) value(s)>")])
                    })
                }
                if let s = r.subjects { rule["subjects"] = .string(s.description) }
                if let i = r.introspection {
                    // The secret's file, never the secret; the endpoint with credentials redacted like a jwksUri.
                    rule["introspection"] = .object([
                        "endpoint": .string(JWKSSource.redacted(uri: i.endpoint)), "client_id": .string(i.clientID),
                        "client_secret_file": .string(i.clientSecretFile), "client_auth_method": .string(i.clientAuthMethod.rawValue),
                        "cache_seconds": .number(Double(i.cacheDuration.components.seconds)),
                        "negative_cache_seconds": .number(Double(i.negativeCacheDuration.components.seconds)),
                    ])
                }
                return .object(rule)
            }),
        ]
        if !tp.exchanges.isEmpty {
            o["token_exchange"] = .array(tp.exchanges.map { x in
                var e: [String: JSONValue] = ["issuer": .string(x.issuer), "endpoint": .string(JWKSSource.redacted(uri: x.endpoint)),
                                              "client_id": .string(x.clientID), "client_secret_file": .string(x.clientSecretFile),
                                              "client_auth_method": .string(x.clientAuthMethod.rawValue), "header": .string(x.header),
                                              "operations": .number(Double(x.to.count))]
                if !x.audiences.isEmpty { e["audiences"] = strings(x.audiences) }
                if !x.resources.isEmpty { e["resources"] = strings(x.resources) }
                if let scope = x.scope { e["scope"] = .string(scope) }
                if let actor = x.actorTokenFile { e["actor_token_file"] = .string(actor) }
                return .object(e)
            })
        }
        if let s = tp.selector { o["selector"] = labels(s.matchLabels) }
        if !tp.targetRefs.isEmpty { o["target_refs"] = strings(tp.targetRefs.map(\.description)) }
        if tp.dryRun { o["dry_run"] = .bool(true) }
        return .object(o)
    }

    static func jwtRule(_ r: JWTRule) -> JSONValue {
        var o: [String: JSONValue] = [
            "issuer": .string(r.issuer),
            "audiences": strings(r.audiences),
            "token_locations": strings(r.tokenLocations.map(\.description)),
            "forward_original_token": .bool(r.forwardOriginalToken),
            "key_source": .string(r.keySource.redactedDescription),
            "presence": .string(r.presence.rawValue),
        ]
        if let uri = r.jwksUri, !uri.isEmpty { o["jwks_uri"] = .string(JWKSSource.redacted(uri: uri)) }
        if let jwks = r.jwks, !jwks.isEmpty { o["jwks"] = .string(inlineSummary(jwks)) }
        if !r.outputClaimToHeaders.isEmpty {
            o["output_claim_to_headers"] = .array(r.outputClaimToHeaders.map { .object(["header": .string($0.header), "claim": .string($0.claim)]) })
        }
        if let h = r.outputPayloadToHeader { o["output_payload_to_header"] = .string(h) }
        if let t = r.timeoutSeconds { o["timeout_seconds"] = .number(t) }
        if !r.spaceDelimitedClaims.isEmpty { o["space_delimited_claims"] = strings(r.spaceDelimitedClaims) }
        return .object(o)
    }

    /// An Envoy jwt_authn document: its origin, providers (as JWT rules plus jwt_authn's own checks) and rules.
    static func jwtAuthn(_ f: JwtAuthnFilter) -> JSONValue {
        func requirement(_ r: JwtRequirement) -> JSONValue {
            switch r {
            case .provider(let name, let audiences):
                return audiences.map { .object(["provider_name": .string(name), "audiences": strings($0)]) } ?? .object(["provider_name": .string(name)])
            case .any(let c): return .object(["requires_any": .array(c.map(requirement))])
            case .all(let c): return .object(["requires_all": .array(c.map(requirement))])
            case .allowMissing: return .object(["allow_missing": .object([:])])
            case .allowMissingOrFailed: return .object(["allow_missing_or_failed": .object([:])])
            case .none: return .object([:])
            }
        }
        var o: [String: JSONValue] = [
            "origin": .string(f.origin.description),
            "providers": .array(f.providers.map { p in
                var v: [String: JSONValue] = ["name": .string(p.name), "jwt_rule": jwtRule(p.rule), "clock_skew_seconds": .number(p.clockSkewSeconds),
                                              "require_expiration": .bool(p.requireExpiration)]
                if let m = p.maxLifetime { v["max_lifetime_seconds"] = .number(Double(m.components.seconds)) }
                if let s = p.subjects { v["subjects"] = .string(s.description) }
                if let k = p.payloadInMetadata { v["payload_in_metadata"] = .string(k) }
                return .object(v)
            }),
            "rules": .array(f.rules.map { r in
                var v: [String: JSONValue] = ["match": .string(IstioConversion.describe(r.match)), "line": .number(Double(r.line))]
                if let q = r.requires { v["requires"] = requirement(q) }
                return .object(v)
            }),
            "bypass_cors_preflight": .bool(f.bypassCORSPreflight),
        ]
        if !f.requirementMap.isEmpty { o["requirement_map"] = .object(f.requirementMap.mapValues(requirement)) }
        return .object(o)
    }

    /// `<inline, N keys>`: how many entries the inline document's `keys` array has.
    static func inlineSummary(_ jwks: String) -> String {
        guard let doc = try? JSONParser.parse(jwks), let keys = doc["keys"]?.arrayValue else { return "<inline, unparseable>" }
        return "<inline, \(keys.count) key\(keys.count == 1 ? "" : "s")>"
    }

    static func authorizationPolicy(_ p: AuthorizationPolicy) -> JSONValue {
        var o: [String: JSONValue] = [
            "namespace": .string(p.ref.namespace), "name": .string(p.ref.name),
            "origin": .string(p.origin.description),
            "action": .string(p.action.rawValue),
            "rules": .array(p.rules.map(rule)),
        ]
        if p.dryRun { o["dry_run"] = .bool(true) }
        if let provider = p.provider { o["provider"] = .string(provider) }
        if let s = p.selector { o["selector"] = labels(s.matchLabels) }
        if !p.targetRefs.isEmpty { o["target_refs"] = strings(p.targetRefs.map(\.description)) }
        return .object(o)
    }

    static func rule(_ r: AuthorizationRule) -> JSONValue {
        var o: [String: JSONValue] = [:]
        if !r.from.isEmpty { o["from"] = .array(r.from.map { .object(["source": source($0)]) }) }
        if !r.to.isEmpty { o["to"] = .array(r.to.map { .object(["operation": operation($0)]) }) }
        if !r.when.isEmpty { o["when"] = .array(r.when.map(condition)) }
        return .object(o)
    }

    static func source(_ s: Source) -> JSONValue {
        var o: [String: JSONValue] = [:]
        func put(_ key: String, _ values: [CustomStringConvertible]) { if !values.isEmpty { o[key] = strings(values.map(\.description)) } }
        put("principals", s.principals); put("notPrincipals", s.notPrincipals)
        put("requestPrincipals", s.requestPrincipals); put("notRequestPrincipals", s.notRequestPrincipals)
        put("namespaces", s.namespaces); put("notNamespaces", s.notNamespaces)
        put("ipBlocks", s.ipBlocks); put("notIpBlocks", s.notIpBlocks)
        put("remoteIpBlocks", s.remoteIpBlocks); put("notRemoteIpBlocks", s.notRemoteIpBlocks)
        put("serviceAccounts", s.serviceAccounts); put("notServiceAccounts", s.notServiceAccounts)
        put("trustDomains", s.trustDomains); put("notTrustDomains", s.notTrustDomains)
        return .object(o)
    }

    static func operation(_ op: Operation) -> JSONValue {
        var o: [String: JSONValue] = [:]
        func put(_ key: String, _ values: [CustomStringConvertible]) { if !values.isEmpty { o[key] = strings(values.map(\.description)) } }
        put("hosts", op.hosts); put("notHosts", op.notHosts)
        put("ports", op.ports); put("notPorts", op.notPorts)
        put("methods", op.methods); put("notMethods", op.notMethods)
        put("paths", op.paths); put("notPaths", op.notPaths)
        return .object(o)
    }

    static func condition(_ c: Condition) -> JSONValue {
        var o: [String: JSONValue] = ["key": .string(c.key.description)]
        // Header values are often credentials (`x-api-key`), and so may be metadata another filter copied
        // from a header (header_to_metadata): show that a value is there, not what it is.
        let secret: Bool
        switch c.key {
        case .requestHeader, .requestInlineHeader, .envoyFilterMetadata: secret = true
        default: secret = false
        }
        func shown(_ v: ConditionValue) -> String {
            secret ? "<redacted, \(conditionValue(v).utf8.count) bytes>" : conditionValue(v)
        }
        if !c.values.isEmpty { o["values"] = strings(c.values.map(shown)) }
        if !c.notValues.isEmpty { o["notValues"] = strings(c.notValues.map(shown)) }
        return .object(o)
    }

    static func conditionValue(_ v: ConditionValue) -> String {
        switch v {
        case .string(let p): return p.description
        case .requestPrincipal(let p): return p.description
        case .ip(let b): return b.description
        case .port(let p): return String(p)
        case .metadata(let p): return p.description
        }
    }

    static func strings(_ values: [String]) -> JSONValue { .array(values.map { .string($0) }) }

    static func labels(_ l: [String: String]) -> JSONValue { .object(l.mapValues { .string($0) }) }
}
