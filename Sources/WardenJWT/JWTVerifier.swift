import WardenCrypto
import WardenJSON

/// The pure verification pipeline for one token against one rule: no I/O, time injected.
public enum JWTVerifier {
    /// Verifies `token` in Envoy's order: parse → issuer → nbf/exp with skew → lifetime → audience →
    /// key lookup → signature.
    ///
    /// - Parameters:
    ///   - keys: the issuer's current key set.
    ///   - now: seconds since the Unix epoch.
    ///   - maxTokenBytes: token size limit (default 8 KiB).
    public static func verify(_ token: String, requirements: JWTRequirements, keys: JWKSet, now: Double,
                              maxTokenBytes: Int = 8192) -> Result<VerifiedJWT, JWTError> {
        do {
            let jwt = try UnverifiedJWT.parse(token, maxBytes: maxTokenBytes)
            try jwt.checkClaims(requirements, now: now)
            let key = try jwt.verifySignature(with: keys)
            return .success(VerifiedJWT(jwt, verifiedBy: key.fingerprint, fromCache: false))
        } catch {
            return .failure(error)
        }
    }
}
