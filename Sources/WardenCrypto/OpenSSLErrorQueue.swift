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

    /// Empties the queue before a call whose failure is read from it (or that must leave it empty).
    ///
    /// Other OpenSSL users on the same thread may leave entries they never read: gRPC core runs its TLS
    /// code on the threads that call into it (seen in `make test-sanitize`: "no such file" from a
    /// certificate lookup and "shutdown while in init" from an aborted handshake, on a thread that then
    /// verified a JWT). Without this, those entries would be blamed on the next Warden call. Costs one
    /// `ERR_peek_error`, ~16 ns / ~210 instructions, when the queue is empty, as it nearly always is.
    static func discardStale() {
        if ERR_peek_error() != 0 { ERR_clear_error() }
    }
}
