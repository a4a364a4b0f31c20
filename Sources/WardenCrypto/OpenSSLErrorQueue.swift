internal import COpenSSL

/// The one funnel from OpenSSL's thread-local error queue to `CryptoError`.
enum OpenSSLErrorQueue {
    /// Drains the queue (so nothing leaks into the next call on this thread) and returns its entries.
    static func drain() -> [String] {
        var out: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buf = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buf, buf.count)
            if out.count < 8 { out.append(String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)) }
        }
        return out
    }

    /// Builds the error for a failed call, draining the queue right after the failure.
    static func error(_ operation: String) -> CryptoError {
        .openssl(operation: operation, queue: drain())
    }

    /// Discards whatever a failed verification left behind (a bad DER signature pushes decoder errors).
    static func clear() { ERR_clear_error() }
}
