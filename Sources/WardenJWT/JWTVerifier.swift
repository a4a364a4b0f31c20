import WardenCrypto
import WardenJSON

/// The pure verification pipeline for one token against one rule: no I/O, time injected.
public enum JWTVerifier {
    /// Verifies `token` in Envoy's order: parse → issuer → nbf/exp with skew → lifetime → audience →
    /// (verified-token cache) → key lookup → signature.
    ///
    /// - Parameters:
    ///   - keys: the issuer's current key set.
    ///   - now: seconds since the Unix epoch.
    ///   - cache: when given, a token verified before with a key still in `keys` skips the signature check;
    ///     newly verified tokens are added.
    ///   - maxTokenBytes: token size limit (default 8 KiB).
    public static func verify(_ token: String, requirements: JWTRequirements, keys: JWKSet, now: Double,
                              cache: VerifiedTokenCache? = nil, maxTokenBytes: Int = 8192) -> Result<VerifiedJWT, JWTError> {
        let jwt: UnverifiedJWT
        do {
            jwt = try UnverifiedJWT.parse(token, maxBytes: maxTokenBytes)
            try jwt.checkClaims(requirements, now: now)
        } catch {
            return .failure(error)
        }
        return verifySignature(of: jwt, token: token, keys: keys, now: now, cache: cache)
    }

    /// The signature half of `verify`, for a token already parsed and claim-checked (the check pipeline
    /// parses once to pick the issuer's rule): a cache hit skips the signature check.
    public static func verifySignature(of jwt: UnverifiedJWT, token: String, keys: JWKSet, now: Double,
                                       cache: VerifiedTokenCache?) -> Result<VerifiedJWT, JWTError> {
        var cacheKey: VerifiedTokenCache.TokenKey? = nil
        if let cache {
            let key = VerifiedTokenCache.TokenKey(token)
            if let fp = cache.lookup(key, keys: keys, now: now) {
                return .success(VerifiedJWT(jwt, verifiedBy: fp, fromCache: true))
            }
            cacheKey = key
        }
        let verifiedBy: JWK
        do { verifiedBy = try jwt.verifySignature(with: keys) } catch { return .failure(error) }
        if let cache, let cacheKey {
            cache.insert(cacheKey, fingerprint: verifiedBy.fingerprint, tokenExpiresAt: jwt.expiresAt, now: now)
        }
        return .success(VerifiedJWT(jwt, verifiedBy: verifiedBy.fingerprint, fromCache: false))
    }
}
