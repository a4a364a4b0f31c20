import WardenJSON

/// A JWT whose structure and claim types are valid but whose signature and claims are not yet checked.
public struct UnverifiedJWT: Sendable {
    /// The compact JWS; nil for the claims of an opaque token that an introspection endpoint vouched for
    /// (`introspected(claims:answer:endpoint:)`), which have no header or signature.
    public let jws: CompactJWS?
    /// The payload claims.
    public let claims: [String: JSONValue]
    public let issuer: String?
    public let subject: String?
    /// `aud` as a list (a single string becomes one element).
    public let audiences: [String]
    /// `azp` (authorized party), when it is a string.
    public let presenter: String?
    public let expiresAt: Double?
    public let notBefore: Double?
    public let issuedAt: Double?
    /// The RFC 7662 introspection endpoint whose answer these claims are (nil for a JWT).
    public let introspectedBy: String?
    private let answerSegment: String?

    /// The JOSE header (empty for introspected claims).
    public var header: JOSEHeader { jws?.header ?? JOSEHeader(alg: "", kid: nil, typ: nil, cty: nil, members: [:]) }
    /// The signature algorithm (nil for introspected claims).
    public var algorithm: JWTAlgorithm? { jws?.algorithm }
    /// The base64url payload segment exactly as in the token (for `output_payload_to_header`); for
    /// introspected claims, the base64url of the introspection answer.
    public var payloadSegment: Substring { jws?.payloadSegment ?? Substring(answerSegment ?? "") }

    /// The claims of an opaque token from an active introspection answer (RFC 7662 §2.2), checked like a
    /// JWT's (iss, exp, nbf, aud, claim types); `answer` is the response body as received.
    public static func introspected(claims: [String: JSONValue], answer: [UInt8], endpoint: String) throws(JWTError) -> UnverifiedJWT {
        let registered = try RegisteredClaims(claims)
        return UnverifiedJWT(jws: nil, claims: claims, issuer: registered.iss, subject: registered.sub, audiences: registered.audiences,
                             presenter: registered.azp?.stringValue, expiresAt: registered.exp, notBefore: registered.nbf,
                             issuedAt: registered.iat, introspectedBy: endpoint, answerSegment: Base64URL.encode(answer))
    }

    /// Default JSON nesting limit for header and payload.
    public static let defaultJSONDepth = 16

    /// Parses a compact JWT in Envoy's order: segments, header (base64url, JSON, alg, kid), payload
    /// (base64url, JSON object, claim types: iss, sub, iat, nbf, exp, jti, aud), signature base64url.
    ///
    /// - Parameters:
    ///   - maxBytes: token size limit (default 8 KiB).
    ///   - jsonLimits: depth and size bounds for the header and payload JSON (default: depth 16,
    ///     size `maxBytes`, which a decoded segment can never exceed anyway).
    public static func parse(_ token: String, maxBytes: Int = 8192, jsonLimits: JSONLimits? = nil) throws(JWTError) -> UnverifiedJWT {
        let jsonLimits = jsonLimits ?? JSONLimits(maxDepth: defaultJSONDepth, maxBytes: maxBytes)
        return try CompactJWS.withUTF8(of: token) { (bytes) throws(JWTError) -> UnverifiedJWT in
            let (d1, d2) = try CompactJWS.split(bytes, maxBytes: maxBytes, allowEmptyPayload: false)
            var lenient = false
            let (header, alg) = try CompactJWS.parseHeader(bytes.segment(0, d1), limits: jsonLimits, lenient: &lenient)
            guard let payload = Base64URL.decodeSegment(bytes: bytes.segment(d1 + 1, d2), lenient: &lenient) else { throw .malformed(.payloadBase64) }
            let json: JSONValue
            do throws(JSONError) { json = try JSONParser.parse(payload, limits: jsonLimits) } catch { throw .malformed(.payloadJSON(error.description)) }
            guard case .object(let claims) = json else { throw .malformed(.payloadJSON("not an object")) }
            let registered = try RegisteredClaims(claims)
            let signature = try CompactJWS.decodeSignature(bytes.segment(d2 + 1, bytes.count), lenient: &lenient)
            let jws = CompactJWS(header: header, algorithm: alg, payload: payload, signature: signature, lenientEncoding: lenient,
                                 token: token, firstDot: d1, secondDot: d2)
            return UnverifiedJWT(jws: jws, claims: claims, issuer: registered.iss, subject: registered.sub, audiences: registered.audiences,
                                 presenter: registered.azp?.stringValue, expiresAt: registered.exp, notBefore: registered.nbf, issuedAt: registered.iat,
                                 introspectedBy: nil, answerSegment: nil)
        }
    }
}

/// The registered claims whose types Envoy checks, in its order: iss, sub, iat, nbf, exp, jti, aud.
private struct RegisteredClaims {
    var iss: String?
    var sub: String?
    var iat: Double?
    var nbf: Double?
    var exp: Double?
    var audiences: [String] = []
    var azp: JSONValue?

    init(_ claims: [String: JSONValue]) throws(JWTError) {
        // One pass over the members instead of eight hash lookups. Keys are matched with String `==`
        // (canonical equivalence, like the dictionary); the length filter is exact because no string
        // other than these ASCII names themselves is canonically equivalent to them.
        var issValue, subValue, iatValue, nbfValue, expValue, jtiValue, audValue: JSONValue?
        for (key, value) in claims where key.utf8.count == 3 {
            switch key {
            case "iss": issValue = value
            case "sub": subValue = value
            case "iat": iatValue = value
            case "nbf": nbfValue = value
            case "exp": expValue = value
            case "jti": jtiValue = value
            case "aud": audValue = value
            case "azp": azp = value
            default: break
            }
        }
        func string(_ v: JSONValue?, _ name: String) throws(JWTError) -> String? {
            guard let v else { return nil }
            guard let s = v.stringValue else { throw .malformed(.claimType(claim: name)) }
            return s
        }
        /// Whole seconds, as jwt_verify_lib keeps them (a `uint64_t`, the fraction truncated).
        func date(_ v: JSONValue?, _ name: String) throws(JWTError) -> Double? {
            guard let v else { return nil }
            guard let n = v.numberValue else { throw .malformed(.claimType(claim: name)) }
            guard n >= 0, n < 9.2e18 else { throw .malformed(.claimOutOfRange(claim: name)) }
            return n.rounded(.towardZero)
        }
        iss = try string(issValue, "iss")
        sub = try string(subValue, "sub")
        iat = try date(iatValue, "iat")
        nbf = try date(nbfValue, "nbf")
        // jwt_verify_lib's `exp_ == 0` means "no expiration": `"exp": 0` (or 0.5) is as if absent.
        exp = try date(expValue, "exp").flatMap { $0 == 0 ? nil : $0 }
        _ = try string(jtiValue, "jti")
        switch audValue {
        case nil: break
        case .string(let s)?: audiences = [s]
        case .array(let list)?:
            for item in list {
                guard let s = item.stringValue else { throw .malformed(.claimType(claim: "aud")) }
                audiences.append(s)
            }
        default: throw .malformed(.claimType(claim: "aud"))
        }
    }
}
