/// Why a key could not be built or a primitive could not run.
///
/// Verification failures are not errors: `verify` returns `false`. Errors are for unusable
/// input (a point off the curve, a malformed PEM) and for OpenSSL faults.
public enum CryptoError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The key material is unusable (wrong length, off-curve point, unsupported size…).
    case invalidKey(String)
    /// An OpenSSL call failed; `operation` names the call, `queue` holds the drained error queue.
    case openssl(operation: String, queue: [String])

    public var description: String {
        switch self {
        case .invalidKey(let why): return "invalid key: \(why)"
        case .openssl(let op, let queue):
            return queue.isEmpty ? "\(op) failed" : "\(op) failed: \(queue.joined(separator: "; "))"
        }
    }
}
