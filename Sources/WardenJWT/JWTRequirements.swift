import WardenJSON

/// What one rule (Istio `jwtRules` entry / Envoy `JwtProvider`) demands of a token's claims.
public struct JWTRequirements: Sendable, Hashable {
    /// Required `iss`, compared byte for byte (a trailing-slash difference fails, and so does another
    /// Unicode spelling of the same text, as in Envoy). nil: not checked.
    public var issuer: String?
    /// Allowed audiences; the token needs any one. Empty: `aud` is not checked (Istio/Envoy).
    /// As Envoy, `http(s)://` prefixes and trailing slashes are ignored when comparing.
    public var audiences: [String]
    /// Seconds of tolerance for `exp` and `nbf` (Envoy `clock_skew_seconds`, default 60).
    public var clockSkew: Double
    /// Reject tokens without `exp` (Envoy `require_expiration`; default false, as Istio).
    public var requireExpiration: Bool
    /// Reject tokens whose remaining lifetime `exp − now` is this or more (Envoy `max_lifetime`);
    /// a token without `exp` is then rejected too.
    public var maxLifetime: Double?

    public init(issuer: String?, audiences: [String] = [], clockSkew: Double = 60,
                requireExpiration: Bool = false, maxLifetime: Double? = nil) {
        self.issuer = issuer
        self.audiences = audiences
        self.clockSkew = clockSkew
        self.requireExpiration = requireExpiration
        self.maxLifetime = maxLifetime
    }
}

extension UnverifiedJWT {
    /// Checks the claims in Envoy's order: issuer → nbf → exp (with skew) → lifetime → audience.
    ///
    /// Boundaries as Envoy: valid while `now + skew >= nbf` and `now <= exp + skew`, with `now` in whole
    /// seconds (Envoy compares `uint64_t` seconds, so a token is valid through the whole last second).
    public func checkClaims(_ req: JWTRequirements, now: Double) throws(JWTError) {
        let now = now.rounded(.down)
        // Byte-wise throughout, as Envoy's `std::string` comparisons: Swift's `==` would take "é" for
        // "e\u{301}" (canonical equivalence).
        if let expected = req.issuer, !(issuer?.bytesEqual(expected) ?? false) {
            throw .issuerMismatch(expected: expected, actual: issuer)
        }
        if let nbf = notBefore, now + req.clockSkew < nbf { throw .notYetValid(nbf: nbf, now: now) }
        if let exp = expiresAt, now > exp + req.clockSkew { throw .expired(exp: exp, now: now) }
        if let max = req.maxLifetime {
            guard let exp = expiresAt else { throw .lifetimeTooLong(lifetime: nil, limit: max) }
            if exp - now >= max { throw .lifetimeTooLong(lifetime: exp - now, limit: max) }
        } else if req.requireExpiration && expiresAt == nil {
            throw .missingExpiration
        }
        if !req.audiences.isEmpty {
            // Fast path: an exact match is a match after sanitizing too (no Substring scans).
            for a in audiences where req.audiences.contains(where: { $0.bytesEqual(a) }) { return }
            let allowed = req.audiences.map(Self.sanitizeAudience)
            if !audiences.contains(where: { a in
                let s = Self.sanitizeAudience(a)
                return allowed.contains { $0.bytesEqual(s) }
            }) {
                throw .audienceMismatch(got: audiences, allowed: req.audiences)
            }
        }
    }

    /// Envoy's `CheckAudience`: strips an `http://`/`https://` prefix and one trailing slash, byte-wise
    /// (`absl::StartsWith`; a combining mark after the `/` must not keep the prefix on).
    static func sanitizeAudience(_ aud: String) -> Substring {
        var s = Substring(aud)
        if s.bytesHavePrefix("http://") { s = Substring(s.utf8.dropFirst(7)) } else if s.bytesHavePrefix("https://") { s = Substring(s.utf8.dropFirst(8)) }
        if s.utf8.last == UInt8(ascii: "/") { s = Substring(s.utf8.dropLast()) }
        return s
    }

    /// Verifies the signature against `keys` (see `CompactJWS.verifySignature(with:)`).
    @discardableResult
    public func verifySignature(with keys: JWKSet) throws(JWTError) -> JWK {
        // Introspected claims have no signature: nothing verifies them but the endpoint's answer.
        guard let jws else { throw .malformed(.notCompact(segments: 1)) }
        return try jws.verifySignature(with: keys)
    }
}
