/// Strict base64url (RFC 4648 §5) as JOSE requires: no padding, no characters outside the
/// alphabet, no whitespace, and canonical trailing bits (the unused low bits of the last
/// character must be zero), so every byte string has exactly one accepted encoding.
public enum Base64URL {
    /// Decodes `text`; nil if it is not strict, canonical, unpadded base64url.
    public static func decode<Text: Collection<UInt8>>(_ text: Text) -> [UInt8]? {
        if let result = text.withContiguousStorageIfAvailable({ decode(bytes: $0) }) { return result }
        return Array(text).withUnsafeBufferPointer { decode(bytes: $0) }
    }

    /// Decodes the UTF-8 of a substring (a token segment); nil if it is not strict base64url.
    public static func decode(_ text: Substring.UTF8View) -> [UInt8]? {
        if let result = text.withContiguousStorageIfAvailable({ decode(bytes: $0) }) { return result }
        return Array(text).withUnsafeBufferPointer { decode(bytes: $0) }
    }

    /// Decodes a string; nil if it is not strict base64url.
    public static func decode(_ text: String) -> [UInt8]? {
        if let result = text.utf8.withContiguousStorageIfAvailable({ decode(bytes: $0) }) { return result }
        return Array(text.utf8).withUnsafeBufferPointer { decode(bytes: $0) }
    }

    /// The 6-bit value of an alphabet character; 0x40 or more for any other byte. The table (sextet +
    /// 0x30 for each byte value, `~` outside the alphabet) is a StaticString, i.e. read-only data: a
    /// lookup is one load, where a global `let` table would pay a lazy-initialisation check per character.
    @inline(__always)
    static func sextet(_ c: UInt8) -> UInt8 {
        let table: StaticString = #"~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~n~~defghijklm~~~~~~~0123456789:;<=>?@ABCDEFGHI~~~~o~JKLMNOPQRSTUVWXYZ[\]^_`abc~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~"#
        return table.utf8Start[Int(c)] &- 0x30
    }

    /// The decoder every entry point funnels into: 4 characters → 3 bytes per step, written
    /// straight into the result's storage.
    static func decode(bytes src: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        let n = src.count
        let rem = n & 3
        if rem == 1 { return nil }
        let full = n &- rem
        let outCount = full / 4 * 3 + (rem == 0 ? 0 : rem &- 1)
        if n == 0 { return [] }
        var valid = true
        let out = [UInt8](unsafeUninitializedCapacity: outCount) { dst, initialized in
            var i = 0
            var o = 0
            while i < full {
                let a = sextet(src[i]), b = sextet(src[i &+ 1]), c = sextet(src[i &+ 2]), d = sextet(src[i &+ 3])
                if (a | b | c | d) & 0xC0 != 0 { valid = false; initialized = o; return }
                dst[o] = a << 2 | b >> 4
                dst[o &+ 1] = b << 4 | c >> 2
                dst[o &+ 2] = c << 6 | d
                i &+= 4
                o &+= 3
            }
            if rem != 0 {
                let a = sextet(src[i]), b = sextet(src[i &+ 1])
                let c = rem == 3 ? sextet(src[i &+ 2]) : 0
                // Leftover bits (4 after two characters, 2 after three) must be zero: otherwise two
                // encodings would map to the same bytes.
                if (a | b | c) & 0xC0 != 0 || (rem == 2 ? b & 0x0F : c & 0x03) != 0 {
                    valid = false; initialized = o; return
                }
                dst[o] = a << 2 | b >> 4
                if rem == 3 { dst[o &+ 1] = b << 4 | c >> 2 }
            }
            initialized = outCount
        }
        return valid ? out : nil
    }

    /// Decodes one segment of a compact JWT as Envoy's jwt_verify_lib does (absl's
    /// `WebSafeBase64Unescape`): strict base64url, except that ASCII whitespace (space, `\t`, `\n`,
    /// `\v`, `\f`, `\r`) is skipped and complete `=` padding is accepted. Such a segment sets
    /// `lenient`: a JWS has neither (RFC 7515 §2), so the caller never lets that token verify, but it
    /// fails where Envoy fails it (`Bearer <jwt> junk` at the signature, not as a format error).
    /// Strict input takes the strict decoder unchanged.
    static func decodeSegment(bytes src: UnsafeBufferPointer<UInt8>, lenient: inout Bool) -> [UInt8]? {
        if let strict = decode(bytes: src) { return strict }
        let pad = UInt8(ascii: "=")
        guard src.contains(where: { isASCIIWhitespace($0) || $0 == pad }) else { return nil }
        var text = src.filter { !isASCIIWhitespace($0) }
        // Padding: one `=` after 3 characters of a quantum, two after 2; nothing else.
        if text.count % 4 == 0, text.last == pad {
            let padding = text.count >= 2 && text[text.count - 2] == pad ? 2 : 1
            text.removeLast(padding)
            if text.last == pad || text.count % 4 != 4 - padding { return nil }
        }
        guard let bytes = text.withUnsafeBufferPointer({ decode(bytes: $0) }) else { return nil }
        lenient = true
        return bytes
    }

    @inline(__always)
    static func isASCIIWhitespace(_ c: UInt8) -> Bool { c == 0x20 || (c >= 0x09 && c <= 0x0D) }

    /// Encodes without padding.
    public static func encode<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var acc: UInt32 = 0
        var bits = 0
        for b in bytes {
            acc = acc << 8 | UInt32(b)
            bits += 8
            while bits >= 6 {
                bits -= 6
                out.append(character(UInt8(truncatingIfNeeded: acc >> UInt32(bits)) & 0x3F))
            }
            acc &= (1 << UInt32(bits)) - 1
        }
        if bits > 0 { out.append(character(UInt8(truncatingIfNeeded: acc << UInt32(6 - bits)) & 0x3F)) }
        return String(decoding: out, as: UTF8.self)
    }

    /// The alphabet character for a 6-bit value.
    @inline(__always)
    static func character(_ v: UInt8) -> UInt8 {
        if v < 26 { return v &+ 0x41 }
        if v < 52 { return v &- 26 &+ 0x61 }
        if v < 62 { return v &- 52 &+ 0x30 }
        return v == 62 ? 0x2D : 0x5F
    }
}
