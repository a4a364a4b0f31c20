import WardenCrypto

/// Stateless server nonces for DPoP proofs (RFC 9449 §9, minted and checked as §8 describes): a nonce is
/// base64url(version ‖ issued-at seconds (8 bytes, big-endian) ‖ HMAC-SHA256(key, label ‖ version ‖
/// issued-at ‖ jkt)). Every replica holding the same key accepts every other replica's nonces, with no
/// shared state; a nonce is valid for `lifetime` after it was issued, and only in proofs signed by the key
/// (`jkt`) it was issued to. Unpredictable (§8) because nobody without the key can compute the MAC.
public struct DPoPNonces: Sendable, CustomStringConvertible {
    /// The shortest key accepted: 256 bits, HMAC-SHA256's own strength.
    public static let minimumKeyBytes = 32
    /// The longest key accepted (a file this large is no key).
    public static let maximumKeyBytes = 4096
    static let version: UInt8 = 1
    /// Domain separation: a key shared with other uses never makes a MAC that is also a valid nonce.
    static let label = Array("warden dpop-nonce v1\0".utf8)
    /// 1 + 8 + 32 bytes → 55 base64url characters.
    static let encodedLength = 55

    private let key: HMACKey
    /// Seconds a nonce stays valid after it was issued.
    public let lifetime: Double
    /// How far in the future a nonce's issued-at may be (another replica's clock running ahead).
    public let skew: Double

    /// nil when `key` is shorter than `minimumKeyBytes` or longer than `maximumKeyBytes`.
    public init?(key: [UInt8], lifetime: Double, skew: Double = 5) {
        guard key.count >= Self.minimumKeyBytes, key.count <= Self.maximumKeyBytes, lifetime > 0 else { return nil }
        self.key = HMACKey(key)
        self.lifetime = lifetime
        self.skew = max(0, skew)
    }

    public var description: String { "DPoPNonces(lifetime: \(lifetime) s)" }

    /// A nonce issued at `now` for proofs signed by the key whose RFC 7638 thumbprint is `jkt`.
    public func mint(jkt: String, now: Double) -> String {
        let issued = UInt64(max(0, now.rounded(.down)))
        var bytes: [UInt8] = [Self.version]
        bytes += Self.bigEndian(issued)
        bytes += key.authenticationCode(for: Self.label + bytes + Array(jkt.utf8), digest: .sha256)
        return Base64URL.encode(bytes)
    }

    /// Whether `nonce` (a proof's `nonce` claim, nil when absent) is one this key issued to `jkt`, and is
    /// still valid at `now`.
    public func check(_ nonce: String?, jkt: String, now: Double) -> Verdict {
        guard let nonce else { return .missing }
        // Fixed length before decoding: a long claim costs nothing.
        guard nonce.utf8.count == Self.encodedLength, let bytes = Base64URL.decode(nonce), bytes.count == 41,
              bytes[0] == Self.version, Base64URL.encode(bytes) == nonce  // one spelling per nonce
        else { return .invalid }
        let signed = Array(bytes[0..<9])
        guard key.isValidAuthenticationCode(bytes[9...], for: Self.label + signed + Array(jkt.utf8), digest: .sha256) else {
            return .invalid
        }
        let issued = Double(bytes[1..<9].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        if issued > now + skew { return .invalid }
        if now - issued > lifetime { return .expired(issuedAt: issued) }
        return .valid(issuedAt: issued)
    }

    /// What `check` found.
    public enum Verdict: Sendable, Equatable {
        case valid(issuedAt: Double)
        /// The proof carries no `nonce` claim.
        case missing
        /// Issued by this key, but more than `lifetime` ago.
        case expired(issuedAt: Double)
        /// Not a nonce this key issued to this proof key (forged, altered, another key or jkt, or from the future).
        case invalid
    }

    private static func bigEndian(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (56 - 8 * $0)) } }
}
