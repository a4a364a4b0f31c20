import WardenJSON

// API CONTRACT (owned by the JWT work; WardenJWKS codes against these signatures):
//   JWKSet.parse(_ bytes: [UInt8]) throws(JWTError) -> JWKSet
//   JWKSet.keys: [JWK], JWKSet.skipped: [String], JWKSet.kids: Set<String>
//   JWK.kid: String?, JWK.kty: String, JWK.alg: String?

/// One JSON Web Key the verifier can use.
public struct JWK: Sendable {
    public let kid: String?
    public let kty: String
    public let alg: String?
}

/// A parsed JWKS document: the usable keys and why the others were skipped.
public struct JWKSet: Sendable {
    public let keys: [JWK]
    public let skipped: [String]

    public var kids: Set<String> { Set(keys.compactMap(\.kid)) }

    /// Parses a JWKS document (`{"keys":[…]}`); keys Warden cannot use are skipped with a reason.
    public static func parse(_ bytes: [UInt8]) throws(JWTError) -> JWKSet {
        let doc: JSONValue
        do { doc = try JSONParser.parse(bytes) } catch { throw JWTError.malformedJWKS(error.description) }
        guard let list = doc["keys"]?.arrayValue else { throw JWTError.malformedJWKS("no \"keys\" array") }
        var keys: [JWK] = []
        var skipped: [String] = []
        for (i, k) in list.enumerated() {
            guard let kty = k["kty"]?.stringValue else { skipped.append("key \(i): no kty"); continue }
            keys.append(JWK(kid: k["kid"]?.stringValue, kty: kty, alg: k["alg"]?.stringValue))
        }
        return JWKSet(keys: keys, skipped: skipped)
    }
}
