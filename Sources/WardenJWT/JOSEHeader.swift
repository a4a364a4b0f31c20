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
    /// A segment needed whitespace skipped or `=` padding removed to decode (as Envoy's decoder
    /// does): such a token is not a JWS and never verifies (`.lenientEncoding`).
    public let lenientEncoding: Bool
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
        try withUTF8(of: token) { (bytes) throws(JWTError) -> CompactJWS in
            let (d1, d2) = try split(bytes, maxBytes: maxBytes, allowEmptyPayload: true)
            var lenient = false
            let (header, alg) = try parseHeader(bytes.segment(0, d1), limits: headerLimits, lenient: &lenient)
            guard let payload = Base64URL.decodeSegment(bytes: bytes.segment(d1 + 1, d2), lenient: &lenient) else { throw .malformed(.payloadBase64) }
            let signature = try decodeSignature(bytes.segment(d2 + 1, bytes.count), lenient: &lenient)
            return CompactJWS(header: header, algorithm: alg, payload: payload, signature: signature, lenientEncoding: lenient,
                              token: token, firstDot: d1, secondDot: d2)
        }
    }

    /// `firstDot`/`secondDot` are UTF-8 offsets into `token`.
    init(header: JOSEHeader, algorithm: JWTAlgorithm, payload: [UInt8], signature: [UInt8], lenientEncoding: Bool,
         token: String, firstDot: Int, secondDot: Int) {
        self.header = header
        self.algorithm = algorithm
        self.payload = payload
        self.signature = signature
        self.lenientEncoding = lenientEncoding
        self.token = token
        let utf8 = token.utf8
        self.firstDot = utf8.index(utf8.startIndex, offsetBy: firstDot)
        self.secondDot = utf8.index(utf8.startIndex, offsetBy: secondDot)
    }

    /// Verifies the signature with the first key that matches `kid`/`alg` and verifies.
    ///
    /// Candidates (Envoy's rule): keys whose `kid` equals the token's (keys with the exact kid are tried
    /// first, then keys without kid); all keys when the token has no kid; and whose `alg`, if declared,
    /// equals the token's. Among them, a key only verifies what its type allows.
    /// - Returns: the key that verified.
    /// - Throws: `.unknownKid` when no key is a candidate (the caller may refetch the JWKS),
    ///   `.lenientEncoding` when candidates exist but a segment was not strict base64url,
    ///   `.badSignature` when candidates exist but none verifies.
    @discardableResult
    public func verifySignature(with keys: JWKSet) throws(JWTError) -> JWK {
        let kid = header.kid
        var tried = false
        for pass in 0..<2 {
            for key in keys.keys {
                if let alg = key.alg, alg != algorithm.rawValue { continue }
                if let kid {
                    // Byte-wise, as jwt_verify_lib's `std::string` compare: `"K"` must not select a key
                    // whose kid is `"\u{212A}"` (KELVIN SIGN, canonically equivalent).
                    if pass == 0 ? !(key.kid?.bytesEqual(kid) ?? false) : key.kid != nil { continue }
                } else if pass == 1 { continue }
                tried = true
                if lenientEncoding { throw .lenientEncoding }
                if key.verify(signature, over: signingInput, algorithm: algorithm) { return key }
            }
        }
        if !tried { throw .unknownKid(kid) }
        throw .badSignature
    }

    // MARK: stages shared with UnverifiedJWT, in Envoy's order

    /// Runs `body` over the token's UTF-8 in place (a copy only for a non-contiguous string), so
    /// splitting and decoding read the bytes once, without String indices.
    static func withUTF8<R>(of token: String, _ body: (UnsafeBufferPointer<UInt8>) throws(JWTError) -> R) throws(JWTError) -> R {
        func run(_ bytes: UnsafeBufferPointer<UInt8>) -> Result<R, JWTError> {
            do throws(JWTError) { return .success(try body(bytes)) } catch { return .failure(error) }
        }
        let result = token.utf8.withContiguousStorageIfAvailable(run) ?? Array(token.utf8).withUnsafeBufferPointer(run)
        return try result.get()
    }

    /// The UTF-8 offsets of the two dots, after the size and segment-count checks.
    static func split(_ bytes: UnsafeBufferPointer<UInt8>, maxBytes: Int, allowEmptyPayload: Bool) throws(JWTError) -> (Int, Int) {
        let size = bytes.count
        if size > maxBytes { throw .tokenTooLarge(size: size, limit: maxBytes) }
        // Count dots up to five (five or more is "not compact", exactly four a JWE), keeping the first two.
        var dots = 0
        var d1 = 0
        var d2 = 0
        var i = 0
        let dot = UInt8(ascii: ".")
        if let base = bytes.baseAddress {
            // Eight bytes at a time: a word without a dot (the common case) costs a few instructions.
            let raw = UnsafeRawPointer(base)
            let ones: UInt64 = 0x0101_0101_0101_0101
            let dotWord = ones &* UInt64(dot)
            while i &+ 8 <= size && dots <= 4 {
                let x = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ dotWord
                if (x &- ones) & ~x & (ones &* 0x80) != 0 {
                    for j in i..<(i &+ 8) where bytes[j] == dot {
                        if dots == 0 { d1 = j } else if dots == 1 { d2 = j }
                        dots &+= 1
                    }
                }
                i &+= 8
            }
        }
        while i < size && dots <= 4 {
            if bytes[i] == dot {
                if dots == 0 { d1 = i } else if dots == 1 { d2 = i }
                dots &+= 1
            }
            i &+= 1
        }
        if dots > 5 { dots = 5 }
        if dots == 4 { throw .malformed(.encrypted) }
        guard dots == 2 else { throw .malformed(.notCompact(segments: dots + 1)) }
        let emptyHeader = d1 == 0
        let emptyPayload = d1 + 1 == d2
        let emptySignature = d2 + 1 == size
        if emptyHeader || emptySignature || (emptyPayload && !allowEmptyPayload) {
            throw .malformed(.notCompact(segments: [emptyHeader, emptyPayload, emptySignature].filter { !$0 }.count))
        }
        return (d1, d2)
    }

    static func parseHeader(_ segment: UnsafeBufferPointer<UInt8>, limits: JSONLimits, lenient: inout Bool) throws(JWTError) -> (JOSEHeader, JWTAlgorithm) {
        guard let bytes = Base64URL.decodeSegment(bytes: segment, lenient: &lenient) else { throw .malformed(.headerBase64) }
        let json: JSONValue
        do { json = try JSONParser.parse(bytes, limits: limits) } catch { throw .malformed(.headerJSON(error.description)) }
        guard case .object(let members) = json else { throw .malformed(.headerJSON("not an object")) }
        // One pass instead of five hash lookups (exact: see RegisteredClaims).
        var algValue, kidValue, critValue, typValue, ctyValue: JSONValue?
        for (key, value) in members where key.utf8.count == 3 || key.utf8.count == 4 {
            switch key {
            case "alg": algValue = value
            case "kid": kidValue = value
            case "typ": typValue = value
            case "cty": ctyValue = value
            case "crit": critValue = value
            default: break
            }
        }
        guard let alg = algValue?.stringValue else { throw .malformed(.algorithmMissing) }
        guard let algorithm = JWTAlgorithm(rawValue: alg) else { throw .unsupportedAlgorithm(alg) }
        var kid: String? = nil
        if let k = kidValue {
            guard let s = k.stringValue else { throw .malformed(.kidNotString) }
            kid = s
        }
        if let crit = critValue {
            // RFC 7515 §4.1.11: a non-empty list of extension names the recipient must understand.
            // Warden implements no JWS extension, so any critical entry is a rejection.
            guard let list = crit.arrayValue, !list.isEmpty else { throw .malformed(.unsupportedCritical(["(malformed crit)"])) }
            throw .malformed(.unsupportedCritical(list.map { $0.stringValue ?? $0.serialized }))
        }
        let header = JOSEHeader(alg: alg, kid: kid, typ: typValue?.stringValue, cty: ctyValue?.stringValue, members: members)
        return (header, algorithm)
    }

    static func decodeSignature(_ segment: UnsafeBufferPointer<UInt8>, lenient: inout Bool) throws(JWTError) -> [UInt8] {
        guard let sig = Base64URL.decodeSegment(bytes: segment, lenient: &lenient) else { throw .malformed(.signatureBase64) }
        return sig
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// Bytes `start..<end` as a buffer of their own.
    @inline(__always)
    func segment(_ start: Int, _ end: Int) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: self[start..<end])
    }
}
