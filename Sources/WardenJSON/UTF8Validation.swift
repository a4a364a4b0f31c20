/// Strict UTF-8 (Unicode §3.9, Table 3-7): no overlong forms, no surrogates, nothing above U+10FFFF,
/// no truncated sequences — the same bytes `String(validating:as:)` accepts, without its generic
/// (metadata-instantiating) path.
enum UTF8Validation {
    static func isValid(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = bytes.count
        var i = 0
        while i < n {
            let b0 = bytes[i]
            if b0 < 0x80 { i &+= 1; continue }
            func continuation(_ j: Int, _ low: UInt8 = 0x80, _ high: UInt8 = 0xBF) -> Bool {
                j < n && bytes[j] >= low && bytes[j] <= high
            }
            switch b0 {
            case 0xC2...0xDF:
                guard continuation(i &+ 1) else { return false }
                i &+= 2
            case 0xE0...0xEF:
                let (low, high): (UInt8, UInt8) = b0 == 0xE0 ? (0xA0, 0xBF) : b0 == 0xED ? (0x80, 0x9F) : (0x80, 0xBF)
                guard continuation(i &+ 1, low, high), continuation(i &+ 2) else { return false }
                i &+= 3
            case 0xF0...0xF4:
                let (low, high): (UInt8, UInt8) = b0 == 0xF0 ? (0x90, 0xBF) : b0 == 0xF4 ? (0x80, 0x8F) : (0x80, 0xBF)
                guard continuation(i &+ 1, low, high), continuation(i &+ 2), continuation(i &+ 3) else { return false }
                i &+= 4
            default:
                return false
            }
        }
        return true
    }

    /// Appends the UTF-8 of a Unicode scalar value (not a surrogate, at most U+10FFFF).
    static func append(_ scalar: UInt32, to out: inout [UInt8]) {
        switch scalar {
        case ..<0x80:
            out.append(UInt8(scalar))
        case ..<0x800:
            out.append(0xC0 | UInt8(scalar >> 6))
            out.append(0x80 | UInt8(scalar & 0x3F))
        case ..<0x1_0000:
            out.append(0xE0 | UInt8(scalar >> 12))
            out.append(0x80 | UInt8(scalar >> 6 & 0x3F))
            out.append(0x80 | UInt8(scalar & 0x3F))
        default:
            out.append(0xF0 | UInt8(scalar >> 18))
            out.append(0x80 | UInt8(scalar >> 12 & 0x3F))
            out.append(0x80 | UInt8(scalar >> 6 & 0x3F))
            out.append(0x80 | UInt8(scalar & 0x3F))
        }
    }
}
