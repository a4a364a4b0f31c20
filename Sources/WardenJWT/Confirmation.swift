import WardenCrypto
import WardenJSON

/// A token's `cnf` (confirmation) claim, RFC 7800: how its presenter must prove it holds a key.
public struct Confirmation: Sendable, Hashable {
    /// `x5t#S256`: base64url SHA-256 of the DER of the client certificate the token is bound to (RFC 8705 §3.1).
    public var certificateThumbprint: String?
    /// `jkt`: the RFC 7638 thumbprint of the DPoP public key the token is bound to (RFC 9449 §6.1).
    public var dpopKeyThumbprint: String?
    /// Members Warden does not check (e.g. `jwk`, `kid`, `x5t`).
    public var otherMembers: [String]

    /// The confirmation of a verified token, or nil when it has no `cnf` object. A `cnf` that is not an
    /// object, or whose known members are not strings, is a confirmation nobody can satisfy.
    public init?(claims: [String: JSONValue]) {
        guard let cnf = claims["cnf"] else { return nil }
        guard case .object(let members) = cnf else {
            (certificateThumbprint, dpopKeyThumbprint, otherMembers) = (nil, nil, ["(not an object)"])
            return
        }
        var other: [String] = []
        var x5t: String?, jkt: String?
        for (name, value) in members {
            switch (name, value) {
            case ("x5t#S256", .string(let s)): x5t = s
            case ("jkt", .string(let s)): jkt = s
            default: other.append(name)
            }
        }
        (certificateThumbprint, dpopKeyThumbprint, otherMembers) = (x5t, jkt, other)
    }

    /// The `x5t#S256` of a certificate given as PEM, or URL-encoded PEM as Envoy sends
    /// `source.certificate`: base64url (no padding) of SHA-256 over the first certificate's DER.
    /// nil when the text holds no PEM certificate.
    public static func certificateThumbprint(pem text: String) -> String? {
        let pem = percentDecoded(text)
        let begin = Array("-----BEGIN CERTIFICATE-----".utf8), end = Array("-----END CERTIFICATE-----".utf8)
        guard let start = pem.firstRange(of: begin), let stop = pem[start.upperBound...].firstRange(of: end) else { return nil }
        // Standard base64 with line breaks → base64url, which Base64URL decodes strictly.
        var body: [UInt8] = []
        body.reserveCapacity(stop.lowerBound - start.upperBound)
        for c in pem[start.upperBound..<stop.lowerBound] {
            switch c {
            case UInt8(ascii: "+"): body.append(UInt8(ascii: "-"))
            case UInt8(ascii: "/"): body.append(UInt8(ascii: "_"))
            case UInt8(ascii: "="), 0x20, 0x09, 0x0A, 0x0D: continue
            default: body.append(c)
            }
        }
        guard let der = Base64URL.decode(body), !der.isEmpty else { return nil }
        return Base64URL.encode(Digest.sha256.hash(der))
    }

    /// `%XX` escapes decoded (invalid ones kept as they are).
    static func percentDecoded(_ text: String) -> [UInt8] {
        let bytes = Array(text.utf8)
        guard bytes.contains(UInt8(ascii: "%")) else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count, let h = hex(bytes[i + 1]), let l = hex(bytes[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
