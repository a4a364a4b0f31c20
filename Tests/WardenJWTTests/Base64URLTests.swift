import Testing
@testable import WardenJWT

/// The buffer decoder against a plain bit-by-bit reference (the original implementation): same
/// accepted strings, same bytes, for every length class, every character and every trailing-bit pattern.
struct Base64URLTests {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Accumulates 6 bits per character; nil for a non-alphabet character, length 1 mod 4, or
    /// non-zero leftover bits.
    static func reference(_ text: [UInt8]) -> [UInt8]? {
        if text.count % 4 == 1 { return nil }
        var out: [UInt8] = []
        var acc: UInt32 = 0
        var bits = 0
        var last: UInt8 = 0
        for c in text {
            guard let i = alphabet.firstIndex(of: c) else { return nil }
            last = UInt8(i)
            acc = acc << 6 | UInt32(i)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
                acc &= (1 << UInt32(bits)) - 1
            }
        }
        if bits > 0 && last & UInt8((1 << bits) - 1) != 0 { return nil }
        return out
    }

    @Test("every byte as every character of 1- to 4-character strings (positions of each length class)")
    func everyCharacterEveryPosition() {
        // Each byte value replaces one character of a valid string of length 1...9.
        for length in 1...9 {
            for position in 0..<length {
                for byte in 0...255 {
                    var text = [UInt8](repeating: UInt8(ascii: "A"), count: length)
                    text[position] = UInt8(byte)
                    #expect(Base64URL.decode(text) == Self.reference(text), "length \(length) position \(position) byte \(byte)")
                }
            }
        }
    }

    @Test("all two-byte strings, and all three-character strings over the alphabet and its neighbours")
    func exhaustiveShort() {
        for a in 0...255 {
            for b in 0...255 {
                let text = [UInt8(a), UInt8(b)]
                if Base64URL.decode(text) != Self.reference(text) { Issue.record("\(text)"); return }
            }
        }
        let chars = Self.alphabet + Array("=+/.@[`{ \0\u{7F}".utf8) + [0x80, 0xC3, 0xFF]
        for a in chars {
            for b in chars {
                for c in chars {
                    let text = [a, b, c]
                    if Base64URL.decode(text) != Self.reference(text) { Issue.record("\(text)"); return }
                }
            }
        }
    }

    @Test(arguments: [
        ("", [UInt8]()), ("AA", [0]), ("AAA", [0, 0]), ("AAAA", [0, 0, 0]), ("AAAAAA", [0, 0, 0, 0]),
        ("AQ", [1]), ("AQE", [1, 1]), ("AQEB", [1, 1, 1]), ("_w", [0xFF]), ("__8", [0xFF, 0xFF]), ("____", [0xFF, 0xFF, 0xFF]),
        ("-_-_", [0xFB, 0xFF, 0xBF]), ("aGVsbG8", Array("hello".utf8)),
    ])
    func decodesValid(text: String, bytes: [UInt8]) {
        #expect(Base64URL.decode(text) == bytes)
        #expect(Base64URL.decode(text.utf8) == bytes)
        #expect(Base64URL.decode(Substring("x" + text).dropFirst().utf8) == bytes)
        #expect(Base64URL.encode(bytes) == text)
    }

    @Test(arguments: [
        "A", "AAAAA", "AAAAAAAAA",      // length 1 mod 4
        "AB", "AP", "A_",               // two characters: low 4 bits of the second must be zero
        "AAB", "AAD", "AA_",            // three characters: low 2 bits of the third must be zero
        "AA==", "AAA=", "AAAA====",     // padding
        "AA+A", "AA/A", "AA A", "AA\nA", "AAA.", "AAAAAAé",
    ])
    func rejects(text: String) {
        #expect(Base64URL.decode(text) == nil)
        #expect(Base64URL.decode(Array(text.utf8)) == nil)
    }

    @Test("round trip at every length 0...64")
    func roundTrip() {
        for n in 0...64 {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ n) }
            let text = Base64URL.encode(bytes)
            #expect(text.utf8.count == (n * 4 + 2) / 3)
            #expect(Base64URL.decode(text) == bytes)
            #expect(Base64URL.reference(Array(text.utf8)) == bytes)
        }
    }

    @Test("a JWT segment skips ASCII whitespace and accepts complete padding like absl; strict input decodes as before",
          arguments: [
              ("QUJD", [0x41, 0x42, 0x43] as [UInt8]?),
              ("QU JD", [0x41, 0x42, 0x43]),
              ("Q\tU\nJ\rD\u{0B}\u{0C} ", [0x41, 0x42, 0x43]),
              ("QUJD QQ", [0x41, 0x42, 0x43, 0x41]),
              ("QUJD Q", nil),        // 5 characters once whitespace is gone: length 1 mod 4
              ("QU+JD", nil),         // not the base64url alphabet
              ("QU\u{A0}JD", nil),   // a non-ASCII space is not skipped
              ("QUJD QR", nil),       // non-canonical trailing bits stay rejected
              (" ", []),
              ("QUI=", [0x41, 0x42]),       // complete padding, as absl accepts
              ("QQ==", [0x41]),
              ("QUJDQQ= =", [0x41, 0x42, 0x43, 0x41]),
              ("QUI", [0x41, 0x42]),
              ("QUI==", nil),               // too much padding
              ("QQ=", nil),                 // incomplete padding
              ("QUJD====", nil),
              ("Q===", nil),
              ("QU=I", nil),                // padding inside
              ("QUJD=", nil),
          ])
    func segmentSkipsWhitespace(text: String, expected: [UInt8]?) {
        let bytes = Array(text.utf8)
        var lenient = false
        #expect(bytes.withUnsafeBufferPointer { Base64URL.decodeSegment(bytes: $0, lenient: &lenient) } == expected)
        // Only a segment that needed whitespace skipped or padding removed is marked (never verifies).
        #expect(lenient == (expected != nil && Base64URL.decode(bytes) == nil))
        #expect(Base64URL.decode(bytes) == Self.reference(bytes), "the strict decoder is unchanged")
    }
}

extension Base64URL {
    static func reference(_ text: [UInt8]) -> [UInt8]? { Base64URLTests.reference(text) }
}
