internal import COpenSSL

/// A symmetric key for HMAC-SHA-2 (JOSE HS256/384/512).
public struct HMACKey: Sendable, CustomStringConvertible {
    /// The raw key bytes.
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Never prints the secret.
    public var description: String { "HMACKey(\(bytes.count) bytes)" }

    /// The HMAC of `message` under this key.
    public func authenticationCode<Message: Collection<UInt8>>(for message: Message, digest: Digest) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 64)
        var size: UInt32 = 0
        let md = FetchedDigests.shared.md(digest)
        let result = withBytes(message) { msg in
            bytes.withUnsafeBufferPointer { key in
                out.withUnsafeMutableBufferPointer { o in
                    HMAC(md, key.baseAddress ?? emptyByte, Int32(key.count),
                         msg.baseAddress ?? emptyByte, msg.count, o.baseAddress, &size)
                }
            }
        }
        precondition(result != nil, "HMAC failed: \(OpenSSLErrorQueue.drain())")
        return Array(out.prefix(Int(size)))
    }

    /// Whether `mac` is the full-length HMAC of `message`; compared in constant time.
    /// Truncated MACs are rejected (JOSE uses the full digest length).
    public func isValidAuthenticationCode<MAC: Collection<UInt8>, Message: Collection<UInt8>>(
        _ mac: MAC, for message: Message, digest: Digest
    ) -> Bool {
        guard mac.count == digest.byteCount else { return false }
        let expected = authenticationCode(for: message, digest: digest)
        return withBytes(mac) { m in
            expected.withUnsafeBufferPointer { e in CRYPTO_memcmp(m.baseAddress!, e.baseAddress!, e.count) == 0 }
        }
    }
}
