import Testing
import WardenProtobuf

/// String fields are validated in one pass by `String._tryFromUTF8` (the generic
/// `String(validating:)` instantiates metadata per call on the hot path); `String(validating:)` is
/// the oracle here.
@Suite("UTF-8 validation of string fields")
struct UTF8ValidationTests {
    static func decodesAsString(_ payload: [UInt8]) -> Bool {
        var w = ProtobufWriter()
        w.writeBytes(payload, field: 1)
        do {
            let decoded = try StringMessage(serializedBytes: w.bytes)
            return Array(decoded.name.utf8) == payload
        } catch {
            return false
        }
    }

    @Test(arguments: [
        ("ascii longer than eight bytes", [UInt8]("hello, world and more".utf8), true),
        ("2-byte é", [0xC3, 0xA9], true),
        ("3-byte ✓", [0xE2, 0x9C, 0x93], true),
        ("4-byte 🚀", [0xF0, 0x9F, 0x9A, 0x80], true),
        ("U+10FFFF", [0xF4, 0x8F, 0xBF, 0xBF], true),
        ("NUL", [0x00], true),
        ("lone continuation", [0x80], false),
        ("overlong /", [0xC0, 0xAF], false),
        ("overlong 3-byte", [0xE0, 0x80, 0xAF], false),
        ("surrogate U+D800", [0xED, 0xA0, 0x80], false),
        ("above U+10FFFF", [0xF4, 0x90, 0x80, 0x80], false),
        ("F5 lead byte", [0xF5, 0x80, 0x80, 0x80], false),
        ("truncated 4-byte at the end", [0x61, 0xF0, 0x9F, 0x9A], false),
        ("invalid byte after 8 ASCII bytes", [UInt8]("abcdefgh".utf8) + [0xFF], false),
    ])
    func table(name: String, bytes: [UInt8], valid: Bool) {
        #expect(Self.decodesAsString(bytes) == valid)
        #expect((String(validating: bytes, as: UTF8.self) != nil) == valid)
    }

    @Test("agrees with the standard library on random byte strings")
    func randomAgreement() {
        var rng = SplitMix64(state: 7)
        let alphabet: [UInt8] = [0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xE1, 0xED, 0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xFF]
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 1...12, using: &rng)).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] }
            let oracle = String(validating: bytes, as: UTF8.self) != nil
            #expect(Self.decodesAsString(bytes) == oracle, "\(bytes.hex)")
        }
    }
}
