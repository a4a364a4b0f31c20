import Testing
import WardenCrypto

/// HMAC-SHA-256 against RFC 4231 §4 (the DPoP nonce MAC, besides JOSE HS256): test cases 1 (short key),
/// 2 (key shorter than the output), 6 (key longer than the block, hashed first).
struct HMACKeyTests {
    @Test(arguments: [
        (String(repeating: "0b", count: 20), Array("Hi There".utf8),
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        ("4a656665", Array("what do ya want for nothing?".utf8),
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        (String(repeating: "aa", count: 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    ])
    func rfc4231SHA256(_ keyHex: String, _ data: [UInt8], _ macHex: String) {
        let key = HMACKey(Wycheproof.hex(keyHex))
        let mac = Wycheproof.hex(macHex)
        #expect(key.authenticationCode(for: data, digest: .sha256) == mac)
        #expect(key.isValidAuthenticationCode(mac, for: data, digest: .sha256))
        var altered = mac
        altered[31] ^= 1
        #expect(!key.isValidAuthenticationCode(altered, for: data, digest: .sha256))
        #expect(!key.isValidAuthenticationCode(mac.prefix(16), for: data, digest: .sha256))
    }
}
