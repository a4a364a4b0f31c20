import WardenJSON

/// The protected header of a compact JWS. `jku`, `x5u`, `jwk` and `x5c` are kept as data but never
/// used: keys come only from the configured JWKS, never from the token.
public struct JOSEHeader: Sendable {
    /// `alg` as written in the token.
    public let alg: String
    public let kid: String?
    public let typ: String?
    public let cty: String?
    /// Every header member.
    public let members: [String: JSONValue]
}

/// A compact JWS split and decoded: header parsed, payload and signature as bytes. Use `UnverifiedJWT`
/// for tokens; this level exists for JWS whose payload is not a JWT claims set (test vectors).
public struct CompactJWS: Sendable {
    public let header: JOSEHeader
    public let algorithm: JWTAlgorithm
    public let payload: [UInt8]
    public let signature: [UInt8]
    /// The token as received (kept for the signing input; never logged).
    let token: String
    let firstDot: String.Index
    let secondDot: String.Index

    /// The base64url payload segment exactly as it appears in the token.
    public var payloadSegment: Substring { token[token.index(after: firstDot)..<secondDot] }

    /// `BASE64URL(header) '.' BASE64URL(payload)`, the bytes the signature covers.
    var signingInput: Substring.UTF8View { token[..<secondDot].utf8 }

    /// Parses a compact JWS. Payload may be any bytes (even empty).
    public static func parse(_ token: String, maxBytes: Int = 8192, headerLimits: JSONLimits = JSONLimits(maxDepth: 16, maxBytes: 8192)) throws(JWTError) -> CompactJWS {
        let (d1, d2) = try split(token, maxBytes: maxBytes, allowEmptyPayload: true)
        let (header, alg) = try parseHeader(token[..<d1], limits: headerLimits)
        guard let payload = Base64URL.decode(token[token.index(after: d1)..<d2].utf8) else { throw .malformed(.payloadBase64) }
        let signature = try decodeSignature(token[token.index(after: d2)...])
        return CompactJWS(header: header, algorithm: alg, payload: payload, signature: signature, token: token, firstDot: d1, secondDot: d2)
    }

    /// Verifies the signature with the first key that matches `kid`/`alg` and verifies.
    ///
    /// Candidates (Envoy's rule): keys whose `kid` equals the token's (keys with the exact kid are tried
    /// first, then keys without kid); all keys when the token has no kid; and whose `alg`, if declared,
    /// equals the token's. Among them, a key only verifies what its type allows.
    /// - Returns: the key that verified.
    /// - Throws: `.unknownKid` when no key is a candidate (the caller may refetch the JWKS),
    ///   `.badSignature` when candidates exist but none verifies.
    @discardableResult
    public func verifySignature(with keys: JWKSet) throws(JWTError) -> JWK {
        let kid = header.kid
        var tried = false
        for pass in 0..<2 {
            for key in keys.keys {
                if let alg = key.alg, alg != algorithm.rawValue { continue }
                if let kid {
                    if pass == 0 ? key.kid != kid : key.kid != nil { continue }
                } else if pass == 1 { continue }
                tried = true
                if key.verify(signature, over: signingInput, algorithm: algorithm) { return key }
            }
        }
        if !tried { throw .unknownKid(kid) }
        throw .badSignature
    }

    // MARK: stages shared with UnverifiedJWT, in Envoy's order

    static func split(_ token: String, maxBytes: Int, allowEmptyPayload: Bool) throws(JWTError) -> (String.Index, String.Index) {
        let size = token.utf8.count
        if size > maxBytes { throw .tokenTooLarge(size: size, limit: maxBytes) }
        var dots: [String.Index] = []
        var i = token.utf8.startIndex
        while i < token.utf8.endIndex {
            if token.utf8[i] == UInt8(ascii: ".") {
                dots.append(i)
                if dots.count > 4 { break }
            }
            i = token.utf8.index(after: i)
        }
        if dots.count == 4 { throw .malformed(.encrypted) }
        guard dots.count == 2 else { throw .malformed(.notCompact(segments: dots.count + 1)) }
        let (d1, d2) = (dots[0], dots[1])
        let emptyHeader = d1 == token.startIndex
        let emptyPayload = token.utf8.index(after: d1) == d2
        let emptySignature = token.utf8.index(after: d2) == token.endIndex
        if emptyHeader || emptySignature || (emptyPayload && !allowEmptyPayload) {
            throw .malformed(.notCompact(segments: [emptyHeader, emptyPayload, emptySignature].filter { !$0 }.count))
        }
        return (d1, d2)
    }

    static func parseHeader(_ segment: Substring, limits: JSONLimits) throws(JWTError) -> (JOSEHeader, JWTAlgorithm) {
        guard let bytes = Base64URL.decode(segment.utf8) else { throw .malformed(.headerBase64) }
        let json: JSONValue
        do { json = try JSONParser.parse(bytes, limits: limits) } catch { throw .malformed(.headerJSON(error.description)) }
        guard case .object(let members) = json else { throw .malformed(.headerJSON("not an object")) }
        guard let alg = members["alg"]?.stringValue else { throw .malformed(.algorithmMissing) }
        guard let algorithm = JWTAlgorithm(rawValue: alg) else { throw .unsupportedAlgorithm(alg) }
        var kid: String? = nil
        if let k = members["kid"] {
            guard let s = k.stringValue else { throw .malformed(.kidNotString) }
            kid = s
        }
        if let crit = members["crit"] {
            // RFC 7515 §4.1.11: a non-empty list of extension names the recipient must understand.
            // Warden implements no JWS extension, so any critical entry is a rejection.
            guard let list = crit.arrayValue, !list.isEmpty else { throw .malformed(.unsupportedCritical(["(malformed crit)"])) }
            throw .malformed(.unsupportedCritical(list.map { $0.stringValue ?? $0.serialized }))
        }
        let header = JOSEHeader(alg: alg, kid: kid, typ: members["typ"]?.stringValue, cty: members["cty"]?.stringValue, members: members)
        return (header, algorithm)
    }

    static func decodeSignature(_ segment: Substring) throws(JWTError) -> [UInt8] {
        guard let sig = Base64URL.decode(segment.utf8) else { throw .malformed(.signatureBase64) }
        return sig
    }
}
