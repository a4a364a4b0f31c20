internal import COpenSSL

/// A SHA-2 digest used by the signature schemes and HMAC.
public enum Digest: String, Sendable, Hashable, CaseIterable {
    case sha256 = "SHA256"
    case sha384 = "SHA384"
    case sha512 = "SHA512"

    /// Output size in bytes.
    public var byteCount: Int {
        switch self {
        case .sha256: return 32
        case .sha384: return 48
        case .sha512: return 64
        }
    }

    /// The digest of `bytes`.
    public func hash<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: byteCount)
        var size: UInt32 = 0
        let md = FetchedDigests.shared.md(self)
        let ok = withBytes(bytes) { buf in
            out.withUnsafeMutableBufferPointer { o in
                EVP_Digest(UnsafeRawPointer(buf.baseAddress ?? emptyByte), buf.count, o.baseAddress, &size, md, nil)
            }
        }
        precondition(ok == 1 && Int(size) == byteCount, "EVP_Digest failed: \(OpenSSLErrorQueue.drain())")
        return out
    }
}

/// The EVP_MD objects, fetched once: an explicit fetch per verify would cost a provider lookup each time.
/// EVP_MD objects are immutable after fetch and safe to share between threads.
final class FetchedDigests: @unchecked Sendable {
    static let shared = FetchedDigests()
    let sha256: OpaquePointer
    let sha384: OpaquePointer
    let sha512: OpaquePointer

    private init() {
        func fetch(_ name: String) -> OpaquePointer {
            guard let md = EVP_MD_fetch(nil, name, nil) else {
                fatalError("EVP_MD_fetch(\(name)) failed: \(OpenSSLErrorQueue.drain())")
            }
            return md
        }
        sha256 = fetch("SHA256")
        sha384 = fetch("SHA384")
        sha512 = fetch("SHA512")
    }

    func md(_ d: Digest) -> OpaquePointer {
        switch d {
        case .sha256: return sha256
        case .sha384: return sha384
        case .sha512: return sha512
        }
    }
}

/// A valid pointer for zero-length inputs (OpenSSL rejects NULL data in some calls even with length 0).
nonisolated(unsafe) let emptyByte: UnsafePointer<UInt8> = {
    let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
    p.initialize(to: 0)
    return UnsafePointer(p)
}()

/// Runs `body` over contiguous bytes, copying only when the collection has no contiguous storage.
@inline(__always)
func withBytes<Bytes: Collection<UInt8>, R>(_ bytes: Bytes, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
    if let r = bytes.withContiguousStorageIfAvailable(body) { return r }
    return Array(bytes).withUnsafeBufferPointer(body)
}
