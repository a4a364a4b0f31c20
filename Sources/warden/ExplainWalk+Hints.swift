import WardenJWKS
import WardenJWT

/// Rendering helpers of the walk: how a key source is named, what to do about an unknown kid, why two
/// issuers look alike. Text only; nothing here decides anything.
extension ExplainWalk {
    /// The short name of a failed check, as the walk's closing line gives it.
    static func name(_ error: JWTError) -> String {
        switch error.check {
        case .decode: return "decode"
        case .issuer: return "issuer"
        case .time:
            if case .notYetValid = error { return "nbf" }
            return "exp"
        case .audience: return "aud"
        case .profile: return "TokenPolicy"
        case .keys: return "keys"
        case .kid: return "kid"
        case .signature: return "signature"
        case .binding: return "binding"
        }
    }

    func describe(_ source: JWKSSource) -> String {
        switch source {
        case .inline: return "the rule's inline jwks"
        case .file(let path): return "file \(path)"
        case .remote(let uri):
            if let f = options.jwksFile { return "--jwks \(f) (standing in for \(uri))" }
            return uri
        case .discovery(let issuer):
            if let f = options.jwksFile { return "--jwks \(f) (standing in for discovery from \(issuer))" }
            return "discovery from \(issuer)"
        }
    }

    func refetchAdvice(_ source: JWKSSource) -> String {
        switch source {
        case .inline: return "inline keys change only with the policy: a refetch cannot help; add the key to the rule's jwks"
        case .file: return "file keys are re-read on the refresh schedule: add the key to the file"
        case .remote, .discovery:
            if options.fetch {
                return "these keys were just fetched from the IdP: a refetch would not help; the IdP does not publish this kid (token from another IdP or environment, or a retired key)"
            }
            if options.jwksFile != nil {
                return "serve refetches once on an unknown kid (at most every 30 s per source): if the IdP publishes this kid now, serve recovers by itself; check with --fetch"
            }
            return "no keys were given: pass --jwks FILE or --fetch"
        }
    }

    /// Why two issuers that differ look alike: trailing slash, scheme, realm path, letter case.
    static func nearMiss(_ actual: String, _ expected: String) -> String? {
        func trimSlash(_ s: String) -> String { var v = s; while v.hasSuffix("/") { v.removeLast() }; return v }
        func split(_ s: String) -> (scheme: String, host: String, path: String)? {
            guard let r = s.range(of: "://") else { return nil }
            let rest = s[r.upperBound...]
            let slash = rest.firstIndex(of: "/") ?? rest.endIndex
            return (String(s[..<r.lowerBound]).lowercased(), String(rest[..<slash]).lowercased(), trimSlash(String(rest[slash...])))
        }
        if actual == expected { return nil }
        if trimSlash(actual) == trimSlash(expected) { return "they differ only by a trailing slash" }
        if actual.lowercased() == expected.lowercased() { return "they differ only in letter case" }
        guard let a = split(actual), let e = split(expected) else { return nil }
        if a.host == e.host && a.path == e.path && a.scheme != e.scheme { return "they differ in the scheme (\(a.scheme) vs \(e.scheme))" }
        guard a.host == e.host else {
            if a.path == e.path && !a.path.isEmpty { return "same path on a different host (\(a.host) vs \(e.host))" }
            return nil
        }
        let schemeNote = a.scheme != e.scheme ? " and the scheme (\(a.scheme) vs \(e.scheme))" : ""
        if a.path.replacingAll("/auth/realms/", with: "/realms/") == e.path.replacingAll("/auth/realms/", with: "/realms/") {
            return "the realm path differs (\(a.path) vs \(e.path): Keycloak before 17 served /auth/realms/…, later versions /realms/…)" + schemeNote
        }
        let aLast = a.path.split(separator: "/").last, eLast = e.path.split(separator: "/").last
        if aLast != nil, aLast == eLast { return "same host and realm name, different path (\(a.path) vs \(e.path))" + schemeNote }
        return "same host, different path (\(a.path.isEmpty ? "/" : a.path) vs \(e.path.isEmpty ? "/" : e.path)): another realm or tenant?" + schemeNote
    }

    func quote(_ s: String) -> String {
        var out = "\""
        for u in (s.count > 200 ? String(s.prefix(200)) + "…" : s).unicodeScalars {
            if u.value < 0x20 || u == "\"" || u == "\\" { out += "\\u{\(String(u.value, radix: 16))}" } else { out.unicodeScalars.append(u) }
        }
        return out + "\""
    }

    static func shorten(_ s: String) -> String { s.count > 100 ? String(s.prefix(97)) + "… (\(s.utf8.count) bytes)" : s }
}
