import WardenCrypto
import WardenJSON
import WardenJWT

/// `private_key_jwt` client authentication (RFC 7523 §2.2, §3; OpenID Connect Core §9): a short-lived JWT
/// with `iss` = `sub` = the client id, `aud` = the endpoint, a fresh `jti`, signed with Warden's key.
enum ClientAssertion {
    static let type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    /// Seconds an assertion is valid (RFC 7523 §3 asks for a limited lifetime).
    static let lifetime = 60.0

    static func make(clientID: String, audience: String, key: PrivateKey, algorithm: JWTAlgorithm, now: Double) throws(CryptoError) -> String {
        let header = JSONValue.object(["alg": .string(algorithm.rawValue), "typ": .string("JWT")])
        let issued = now.rounded(.down)
        let claims = JSONValue.object([
            "iss": .string(clientID), "sub": .string(clientID), "aud": .string(audience),
            "jti": .string(Base64URL.encode(randomBytes(16))),
            "iat": .number(issued), "exp": .number(issued + lifetime),
        ])
        let input = Base64URL.encode(Array(header.serialized.utf8)) + "." + Base64URL.encode(Array(claims.serialized.utf8))
        guard let scheme = algorithm.signatureScheme else { throw .invalidKey("\(algorithm.rawValue) is not a signature algorithm") }
        return input + "." + Base64URL.encode(try key.sign(Array(input.utf8), scheme: scheme))
    }

    private static func randomBytes(_ n: Int) -> [UInt8] {
        var g = SystemRandomNumberGenerator()
        return (0..<n).map { _ in UInt8.random(in: 0...255, using: &g) }
    }
}
