import WardenCrypto
import WardenJWT

/// One RFC 7662 introspection endpoint as Warden calls it: URL, client credentials and cache lifetimes.
public struct IntrospectionEndpoint: Sendable, Hashable {
    public enum ClientAuth: Sendable, Hashable {
        /// `Authorization: Basic` with the form-encoded id and secret (RFC 6749 §2.3.1).
        case basic
        /// `client_id` and `client_secret` in the form body.
        case post
        /// A client assertion JWT signed with this key and algorithm (RFC 7523 §2.2).
        case privateKeyJWT(PrivateKey, JWTAlgorithm)

        public static func == (a: ClientAuth, b: ClientAuth) -> Bool {
            switch (a, b) {
            case (.basic, .basic), (.post, .post): return true
            case (.privateKeyJWT(let k1, let a1), .privateKeyJWT(let k2, let a2)): return k1 === k2 && a1 == a2
            default: return false
            }
        }

        public func hash(into hasher: inout Hasher) {
            switch self {
            case .basic: hasher.combine(0)
            case .post: hasher.combine(1)
            case .privateKeyJWT(let k, let a): hasher.combine(ObjectIdentifier(k)); hasher.combine(a)
            }
        }
    }

    public let url: String
    public let clientID: String
    /// nil when the secret file could not be read: every call then fails closed with `secretError`.
    public let clientSecret: String?
    public let secretError: String?
    public let clientAuth: ClientAuth
    /// Seconds an active answer is reused at most (never past the token's `exp`).
    public let cacheDuration: Double
    /// Seconds an inactive answer is reused.
    public let negativeCacheDuration: Double
    /// Seconds one call may take.
    public let timeout: Double

    public init(url: String, clientID: String, clientSecret: String?, secretError: String? = nil, clientAuth: ClientAuth = .basic,
                cacheDuration: Double = 300, negativeCacheDuration: Double = 10, timeout: Double = 2) {
        self.url = url
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.secretError = secretError
        self.clientAuth = clientAuth
        self.cacheDuration = cacheDuration
        self.negativeCacheDuration = negativeCacheDuration
        self.timeout = timeout
    }

    /// The private key in the PEM file `path`, and the assertion algorithm (`requested`, or the key's
    /// natural one), or why not.
    public static func readSigningKey(path: String, algorithm requested: String?) -> (auth: ClientAuth?, error: String?) {
        guard let bytes = FileBytes.read(path, limit: 65_536) else { return (nil, "cannot read the private key file \(path)") }
        let key: PrivateKey
        do throws(CryptoError) { key = try PrivateKey(pem: String(decoding: bytes, as: UTF8.self)) } catch {
            return (nil, "the private key file \(path) holds no usable private key: \(error)")
        }
        let natural: JWTAlgorithm
        switch key.kind {
        case .rsa: natural = .RS256
        case .ec(.p256): natural = .ES256
        case .ec(.p384): natural = .ES384
        case .ec(.p521): natural = .ES512
        case .ed25519: natural = .EdDSA
        }
        let alg = requested.flatMap(JWTAlgorithm.init(rawValue:)) ?? natural
        guard let scheme = alg.signatureScheme, (try? key.publicKey.supports(scheme)) == true else {
            return (nil, "the private key in \(path) cannot sign \(alg.rawValue)")
        }
        return (.privateKeyJWT(key, alg), nil)
    }

    /// The client secret from the first line of `path` (trailing CR/whitespace removed), or why not.
    public static func readSecret(path: String) -> (secret: String?, error: String?) {
        guard let data = FileBytes.read(path, limit: 4096) else { return (nil, "cannot read the client secret file \(path)") }
        let line = data.prefix { $0 != UInt8(ascii: "\n") }
        let trimmed = line.reversed().drop { $0 == 0x0D || $0 == 0x20 || $0 == 0x09 }.reversed()
        guard !trimmed.isEmpty else { return (nil, "the client secret file \(path) is empty") }
        return (String(decoding: Array(trimmed), as: UTF8.self), nil)
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// A small file, read whole (at most `limit` bytes).
enum FileBytes {
    static func read(_ path: String, limit: Int) -> [UInt8]? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var out = [UInt8](repeating: 0, count: limit + 1)
        let n = out.withUnsafeMutableBytes { fread($0.baseAddress, 1, limit + 1, f) }
        guard n <= limit else { return nil }
        return Array(out.prefix(n))
    }
}
