/// Why a token or key set was rejected: one case per cause. The same case feeds the 401/403 body
/// (`envoyMessage`, byte-identical to Envoy jwt_authn), the HTTP status, the metric label and the log line.
public enum JWTError: Error, Sendable, Hashable {
    /// The token cannot be parsed.
    case malformed(JWTFormatError)
    /// Header `alg` is not one Warden implements (`none` in any case, `ES256K`, …).
    case unsupportedAlgorithm(String)
    /// No key in the set matches the token's `kid`/`alg` (the caller may refetch the JWKS once).
    case unknownKid(String?)
    /// A key matched but the signature does not verify with it (or the key cannot verify this alg).
    case badSignature
    /// A key matched, but a segment had whitespace or `=` padding: Envoy's decoder skips them (and
    /// answers `Jwt verification fails` if the signature then fails); a JWS has neither, so Warden
    /// never verifies such a token (Wycheproof: spaces in header, payload or MAC are invalid).
    case lenientEncoding
    /// `exp` + skew is in the past.
    case expired(exp: Double, now: Double)
    /// `nbf` − skew is in the future.
    case notYetValid(nbf: Double, now: Double)
    /// No configured rule accepts this issuer (for the caller that selects a rule by `iss`).
    case issuerNotConfigured(String?)
    /// The rule's issuer differs from the token's `iss`.
    case issuerMismatch(expected: String, actual: String?)
    /// None of the token's audiences is allowed.
    case audienceMismatch(got: [String], allowed: [String])
    /// `requireExpiration` is set and the token has no `exp`.
    case missingExpiration
    /// `exp − now` exceeds the configured `maxLifetime` (or `exp` is absent while a maximum is set).
    case lifetimeTooLong(lifetime: Double?, limit: Double)
    /// The token is longer than the configured limit (bytes).
    case tokenTooLarge(size: Int, limit: Int)
    /// One token location carries two or more different tokens (a repeated cookie or query parameter).
    case multipleTokens(String)
    /// Tokens of several issuers, and every rule that finds a token at its locations also finds one of
    /// another issuer there (at `location`, from `issuer`, next to the tokens of `rule`'s issuer): Envoy's
    /// jwt_authn, as istiod configures it, then fails every provider (`Jwt issuer is not configured`).
    case mixedIssuers(location: String, issuer: String?, rule: String)
    /// The issuer's keys could not be obtained (fetch failed and nothing cached).
    case jwksUnavailable(String)
    /// The JWKS document is unusable as a whole (not JSON, no `keys` array).
    case malformedJWKS(String)
    /// The token is sender-constrained (`cnf`) and the request does not prove possession (RFC 8705 §3,
    /// RFC 9449 §7.1): checked on every request, cached token or not.
    case bindingFailed(BindingFailure)
    /// A TokenPolicy's `typ` list does not include the token's `typ` (RFC 9068 §4 for `at+jwt`).
    case typeNotAllowed(got: String?, allowed: [String])
    /// A TokenPolicy's required claim is absent, or has none of the required values.
    case requiredClaim(name: String, present: Bool, values: [String])
    /// `sub` fails the rule's `subjects` matcher (Envoy's `subjects`).
    case subjectNotAllowed(String?)
    /// An opaque token the introspection endpoint answered `active: false` for (RFC 7662 §2.2: expired,
    /// revoked, unknown, or not for this client).
    case tokenInactive
    /// The token's RFC 8693 `act` chain is not one the issuer's TokenPolicy allows (depth, current actor).
    case delegationNotAllowed(chain: [String], reason: String)
    /// The introspection endpoint gave no usable answer (down, slow, an error status, a malformed body):
    /// fail closed.
    case introspectionFailed(String)
    /// The request carries no token and a rule in scope (issuer `rule`, from RequestAuthentication `policy`)
    /// has `presence: REQUIRED`: Envoy's `JwtMissed` when the requirement has no `allow_missing`.
    case missing(rule: String, policy: String)
    /// An Envoy jwt_authn route names a `requirement_name` the document's `requirement_map` lacks (`known`, sorted):
    /// Envoy's per-route lookup fails at request time (`filter_config.cc` findPerRouteVerifier) with a 403.
    case wrongRequirementName(name: String, known: [String])

    /// The response body Envoy jwt_authn sends for the same input (`getStatusString` in
    /// `source/common/jwt/status.cc`).
    public var envoyMessage: String {
        switch self {
        case .malformed(let f):
            switch f {
            case .notCompact, .encrypted: return "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
            case .headerBase64: return "Jwt header is an invalid Base64url encoded"
            case .headerJSON: return "Jwt header is an invalid JSON"
            case .algorithmMissing: return "Jwt header [alg] field is required and must be a string"
            case .kidNotString: return "Jwt header [kid] field is not a string"
            // Envoy ignores `crit`; Warden rejects it (RFC 7515 §4.1.11) with the closest Envoy body.
            case .unsupportedCritical: return "Jwt verification fails"
            case .payloadBase64: return "Jwt payload is an invalid Base64url encoded"
            case .payloadJSON: return "Jwt payload is an invalid JSON"
            case .claimType(let claim):
                switch claim {
                case "iat", "nbf", "exp": return "Jwt payload [\(claim)] field is not an integer"
                case "aud": return "Jwt payload [aud] field is not a string or string list"
                default: return "Jwt payload [\(claim)] field is not a string"
                }
            case .claimOutOfRange(let claim): return "Jwt payload [\(claim)] field is not a positive 64 bit integer"
            case .signatureBase64: return "Jwt signature is an invalid Base64url encoded"
            }
        case .unsupportedAlgorithm: return "Jwt header [alg] is not supported"
        case .unknownKid: return "Jwks doesn't have key to match kid or alg from Jwt"
        case .badSignature, .lenientEncoding: return "Jwt verification fails"
        case .expired, .missingExpiration: return "Jwt is expired"
        // Envoy 1.40's jwt_authn answers a max_lifetime failure (and no exp under max_lifetime) this way.
        case .lifetimeTooLong: return "Jwt verification fails"
        case .notYetValid: return "Jwt not yet valid"
        case .issuerNotConfigured, .issuerMismatch: return "Jwt issuer is not configured"
        case .audienceMismatch: return "Audiences in Jwt are not allowed"
        // Envoy has no token size limit; an oversized token is reported as a malformed one.
        case .tokenTooLarge: return "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
        case .jwksUnavailable: return "Jwks remote fetch is failed"
        case .malformedJWKS: return "Jwks doesn't have any valid public key"
        case .multipleTokens: return "Found multiple Jwt tokens"
        case .bindingFailed(.noCertificate), .bindingFailed(.certificateMismatch): return "Jwt is bound to another client certificate"
        case .bindingFailed(.dpopAsBearer): return "Jwt is DPoP-bound and needs a DPoP proof"
        case .bindingFailed(.unsupported): return "Jwt confirmation method is not supported"
        case .bindingFailed(.required): return "Jwt must be sender-constrained"
        case .bindingFailed(.dpop(.replayStoreUnavailable)): return "DPoP replay cache is unavailable"
        case .bindingFailed(.dpop(let e)) where e.isNonceError: return "DPoP proof needs the server's nonce"
        case .bindingFailed(.dpop(let e)): return e.isProofError ? "DPoP proof is invalid" : "Jwt is not bound to the DPoP proof's key"
        case .typeNotAllowed: return "Jwt type is not allowed"
        case .requiredClaim(_, let present, _): return present ? "Jwt claim value is not allowed" : "Jwt is missing a required claim"
        case .subjectNotAllowed: return "Jwt verification fails"
        case .mixedIssuers: return "Jwt issuer is not configured"
        case .tokenInactive: return "Token is not active"
        case .delegationNotAllowed: return "Jwt delegation chain is not allowed"
        case .introspectionFailed: return "Token introspection failed"
        case .missing: return "Jwt is missing"
        case .wrongRequirementName(let name, let known):
            return "Failed JWT authentication: Wrong requirement_name: \(name). It should be one of [\(known.joined(separator: ","))]"
        }
    }

    /// 403 for a disallowed audience and an unknown `requirement_name` (as Envoy), 401 for everything else.
    public var httpStatus: Int {
        if case .audienceMismatch = self { return 403 }
        if case .delegationNotAllowed = self { return 403 }
        if case .wrongRequirementName = self { return 403 }
        if case .bindingFailed(.dpop(.replayStoreUnavailable)) = self { return 503 }
        return 401
    }

    /// A human explanation with specifics for logs and `warden explain`. Never contains the token;
    /// values taken from the token (iss, aud, kid) are quoted and truncated.
    public var detail: String {
        switch self {
        case .malformed(let f):
            switch f {
            case .notCompact(let n): return "a compact JWS has 3 non-empty segments separated by dots; this token has \(n)"
            case .encrypted: return "the token has 5 segments: it is a JWE (encrypted JWT), which is not accepted"
            case .headerBase64: return "the header segment is not strict base64url (no padding, no other characters, canonical)"
            case .headerJSON(let why): return "the header is not a JSON object: \(why)"
            case .algorithmMissing: return "the header has no string \"alg\""
            case .kidNotString: return "the header \"kid\" is not a string"
            case .unsupportedCritical(let names):
                return "the header marks extensions as critical that Warden does not implement: \(names.map(Self.quote).joined(separator: ", "))"
            case .payloadBase64: return "the payload segment is not strict base64url"
            case .payloadJSON(let why): return "the payload is not a JSON object: \(why)"
            case .claimType(let claim):
                switch claim {
                case "iat", "nbf", "exp": return "claim \"\(claim)\" must be a JSON number (seconds since the epoch)"
                case "aud": return "claim \"aud\" must be a string or an array of strings"
                default: return "claim \"\(claim)\" must be a string"
                }
            case .claimOutOfRange(let claim): return "claim \"\(claim)\" must be a non-negative number within 64-bit range"
            case .signatureBase64: return "the signature segment is not strict base64url"
            }
        case .unsupportedAlgorithm(let alg):
            let lower = alg.lowercased()
            if lower == "none" { return "alg \(Self.quote(alg)): unsigned tokens are never accepted" }
            return "alg \(Self.quote(alg)) is not supported (RS/PS/ES 256/384/512, EdDSA, HS256/384/512)"
        case .unknownKid(let kid):
            if let kid { return "no key with kid \(Self.quote(kid)) and a compatible alg in the issuer's JWKS" }
            return "the token has no kid and no key in the issuer's JWKS has a compatible alg"
        case .badSignature: return "the signature does not verify with the matching key(s)"
        case .lenientEncoding: return "a segment has whitespace or '=' padding, which a JWS never has (RFC 7515 §2): refused at the signature step, where Envoy's lenient decoder would fail or accept it"
        case .expired(let exp, let now): return "expired at \(Self.time(exp)), now \(Self.time(now)) (clock skew included)"
        case .notYetValid(let nbf, let now): return "not valid before \(Self.time(nbf)), now \(Self.time(now)) (clock skew included)"
        case .issuerNotConfigured(let iss): return "no rule is configured for issuer \(iss.map(Self.quote) ?? "(none)")"
        case .issuerMismatch(let expected, let actual):
            guard let actual else { return "the token has no \"iss\"; expected \(Self.quote(expected))" }
            var s = "issuer \(Self.quote(actual)) is not the configured \(Self.quote(expected))"
            if Self.trimSlash(actual) == Self.trimSlash(expected) {
                s += " (they differ only by a trailing slash; issuers are compared exactly)"
            } else if Self.trimScheme(actual) == Self.trimScheme(expected) {
                s += " (they differ only in the URL scheme, http vs https; issuers are compared exactly)"
            } else if Self.trimSlash(Self.trimScheme(actual)) == Self.trimSlash(Self.trimScheme(expected)) {
                s += " (they differ in the URL scheme and a trailing slash; issuers are compared exactly)"
            }
            return s
        case .audienceMismatch(let got, let allowed):
            let g = got.isEmpty ? "no \"aud\"" : "audiences [\(got.prefix(8).map(Self.quote).joined(separator: ", "))]"
            return "token has \(g); allowed: [\(allowed.prefix(8).map(Self.quote).joined(separator: ", "))]"
        case .missingExpiration: return "the token has no \"exp\" and the rule requires one"
        case .lifetimeTooLong(let lifetime, let limit):
            if let lifetime { return "remaining lifetime \(Self.time(lifetime)) s exceeds the maximum \(Self.time(limit)) s" }
            return "the token has no \"exp\" and the rule caps the lifetime at \(Self.time(limit)) s"
        case .multipleTokens(let location): return "\(location) carries more than one different token"
        case .mixedIssuers(let location, let issuer, let rule):
            return "\(location) carries a token of issuer \(issuer.map(Self.quote) ?? "(none)"), which the rule for \(Self.quote(rule)) "
                + "reads too, and every rule that finds a token finds another issuer's beside it: with several tokens, one rule "
                + "must find only its own (Envoy's jwt_authn then rejects the request)"
        case .tokenTooLarge(let size, let limit): return "token is \(size) bytes; the limit is \(limit)"
        case .jwksUnavailable(let why): return "the issuer's keys are unavailable: \(why)"
        case .malformedJWKS(let why): return "the JWKS is unusable: \(why)"
        case .bindingFailed(let failure): return failure.detail
        case .typeNotAllowed(let got, let allowed):
            return "typ \(got.map(Self.quote) ?? "(none)") is not one of [\(allowed.map(Self.quote).joined(separator: ", "))]"
                + (allowed.contains { $0.lowercased().hasSuffix("at+jwt") } ? " (RFC 9068: an access token says typ at+jwt; an ID token is not an access token)" : "")
        case .requiredClaim(let name, let present, let values):
            if !present { return "the token has no \(Self.quote(name)) claim, which the TokenPolicy requires" }
            return "claim \(Self.quote(name)) has none of the values the TokenPolicy requires: [\(values.prefix(8).map(Self.quote).joined(separator: ", "))]"
        case .subjectNotAllowed(let sub):
            return "sub \(sub.map(Self.quote) ?? "(none)") does not match the rule's subjects"
        case .delegationNotAllowed(let chain, let reason):
            return "act chain [\(chain.prefix(8).map(Self.quote).joined(separator: " ← "))]: \(reason) (RFC 8693 §4.1)"
        case .tokenInactive:
            return "the introspection endpoint answered active: false (the token is expired, revoked, unknown or not for this client; RFC 7662 §2.2)"
        case .introspectionFailed(let why): return "no usable introspection answer (failing closed): \(why)"
        case .missing(let rule, let policy):
            let who = rule.isEmpty ? "a jwtRule without issuer" : "the jwtRule for issuer \(Self.quote(rule))"
            return "no token found, and \(who) in RequestAuthentication \(policy) has presence: REQUIRED"
        case .wrongRequirementName(let name, let known):
            return "the route's jwt_authn.requirement_name \(Self.quote(name)) is not in the requirement_map [\(known.prefix(16).map(Self.quote).joined(separator: ", "))]"
        }
    }

    /// The error for a token whose `iss` selects no rule. When a configured issuer differs from it only
    /// by a trailing slash or the URL scheme, the answer is `.issuerMismatch` against that issuer, so the
    /// log says why (the body is the same, `Jwt issuer is not configured`); otherwise `.issuerNotConfigured`.
    public static func unconfiguredIssuer(_ issuer: String?, configured: some Sequence<String>) -> JWTError {
        guard let issuer else { return .issuerNotConfigured(nil) }
        let wanted = trimSlash(trimScheme(issuer))
        let near = configured.filter { $0 != issuer && trimSlash(trimScheme($0)) == wanted }.sorted().first
        return near.map { .issuerMismatch(expected: $0, actual: issuer) } ?? .issuerNotConfigured(issuer)
    }

    static func quote(_ s: String) -> String {
        let cut = s.count > 128 ? String(s.prefix(128)) + "…" : s
        var out = ""
        for u in cut.unicodeScalars {
            if u.value < 0x20 || u == "\"" || u == "\\" { out += "\\u{\(String(u.value, radix: 16))}" } else { out.unicodeScalars.append(u) }
        }
        return "\"" + out + "\""
    }

    static func time(_ t: Double) -> String {
        t == t.rounded() && abs(t) < 1e15 ? String(Int64(t)) : String(t)
    }

    static func trimSlash(_ s: String) -> Substring {
        var v = Substring(s)
        while v.hasSuffix("/") { v = v.dropLast() }
        return v
    }

    static func trimScheme(_ s: String) -> String {
        if s.hasPrefix("https://") { return String(s.dropFirst(8)) }
        if s.hasPrefix("http://") { return String(s.dropFirst(7)) }
        return s
    }
}

extension JWTError: CustomStringConvertible {
    public var description: String { "\(envoyMessage): \(detail)" }
}


/// How a sender-constrained token failed its binding check.
public enum BindingFailure: Sendable, Hashable {
    /// `cnf.x5t#S256`, and the request came without a client certificate (Envoy:
    /// `include_peer_certificate: true` on the ext_authz filter, and an mTLS listener).
    case noCertificate
    /// `cnf.x5t#S256` differs from the SHA-256 thumbprint of the client certificate's DER.
    case certificateMismatch(expected: String, actual: String)
    /// `cnf.jkt`: bound to a DPoP key, presented with the Bearer scheme and no proof (RFC 9449 §7.1).
    case dpopAsBearer
    /// A `cnf` without a confirmation method Warden checks (`x5t#S256`, `jkt`): it cannot be confirmed.
    case unsupported([String])
    /// A TokenPolicy requires sender-constrained tokens from this issuer, and this one has no `cnf`.
    case required
    /// Presented with the DPoP scheme (RFC 9449 §7.1), and the proof or the binding fails.
    case dpop(DPoPError)

    var detail: String {
        switch self {
        case .noCertificate:
            return "the token is bound to a client certificate (cnf x5t#S256, RFC 8705) and the request presented none "
                + "(mTLS listener, and include_peer_certificate: true in Envoy's ext_authz filter)"
        case .certificateMismatch(let expected, let actual):
            return "the token is bound to the client certificate with SHA-256 thumbprint \(expected); the request's has \(actual) (RFC 8705 §3)"
        case .dpopAsBearer:
            return "the token is bound to a DPoP key (cnf jkt) and was presented as a bearer token, without a DPoP proof (RFC 9449 §7.1)"
        case .dpop(let e): return e.detail
        case .required:
            return "the issuer's TokenPolicy requires sender-constrained tokens (cnf: a client certificate, RFC 8705, or a DPoP key, "
                + "RFC 9449), and this is a plain bearer token"
        case .unsupported(let members):
            return "the token's cnf claim (members \(members.sorted().joined(separator: ", "))) names no confirmation method Warden can check "
                + "(x5t#S256, jkt): a sender-constrained token is never accepted as a bearer token"
        }
    }
}
