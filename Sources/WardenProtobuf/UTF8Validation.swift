/// Strict UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF), with
/// an 8-bytes-at-a-time ASCII fast path. Used instead of `String(validating:as:)`, whose generic
/// implementation instantiates type metadata on every call, on the per-request decoding path.
@usableFromInline
enum UTF8Validation {
    @inlinable
    static func isValid(_ buffer: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = buffer.baseAddress else { return true }
        let n = buffer.count
        var i = 0
        while i < n {
            if n - i >= 8 {
                let word = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
                if word & 0x8080_8080_8080_8080 == 0 {
                    i += 8
                    continue
                }
            }
            let b = base[i]
            if b < 0x80 {
                i += 1
            } else if b < 0xC2 {
                return false
            } else if b < 0xE0 {
                guard n - i >= 2, base[i + 1] & 0xC0 == 0x80 else { return false }
                i += 2
            } else if b < 0xF0 {
                guard n - i >= 3 else { return false }
                let b1 = base[i + 1]
                guard base[i + 2] & 0xC0 == 0x80 else { return false }
                switch b {
                case 0xE0: guard b1 >= 0xA0 && b1 <= 0xBF else { return false }
                case 0xED: guard b1 >= 0x80 && b1 <= 0x9F else { return false }
                default: guard b1 & 0xC0 == 0x80 else { return false }
                }
                i += 3
            } else if b < 0xF5 {
                guard n - i >= 4 else { return false }
                let b1 = base[i + 1]
                guard base[i + 2] & 0xC0 == 0x80, base[i + 3] & 0xC0 == 0x80 else { return false }
                switch b {
                case 0xF0: guard b1 >= 0x90 && b1 <= 0xBF else { return false }
                case 0xF4: guard b1 >= 0x80 && b1 <= 0x8F else { return false }
                default: guard b1 & 0xC0 == 0x80 else { return false }
                }
                i += 4
            } else {
                return false
            }
        }
        return true
    }
}
