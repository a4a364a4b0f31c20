import Testing
import WardenCrypto

struct PublicKeyTests {
    // Wycheproof P-256 key of ecdsa_secp256r1_sha256_p1363_test.json group 1.
    static let x = Wycheproof.hex("2927b10512bae3eddcfe467828128bad2903269919f7086069c8c4df6c732838")
    static let y = Wycheproof.hex("c7787964eaac00e5921fb1498a60f4606766b3d9685001558d1a974e7341513e")

    @Test func ecPointOnCurveIsAccepted() throws {
        let key = try PublicKey.ec(curve: .p256, x: Self.x, y: Self.y)
        #expect(key.kind == .ec(.p256))
    }

    @Test func ecPointOffCurveIsRejected() {
        var y = Self.y
        y[31] ^= 1
        #expect(throws: CryptoError.self) { try PublicKey.ec(curve: .p256, x: Self.x, y: y) }
    }

    @Test func ecCoordinatesOfWrongLengthAreRejected() {
        #expect(throws: CryptoError.self) { try PublicKey.ec(curve: .p256, x: Array(Self.x.dropFirst()), y: Self.y) }
        #expect(throws: CryptoError.self) { try PublicKey.ec(curve: .p384, x: Self.x, y: Self.y) }
    }

    @Test func rsaRejectsBadExponents() {
        let n = [UInt8](repeating: 0xC5, count: 256)
        #expect(throws: CryptoError.self) { try PublicKey.rsa(modulus: n, exponent: [1]) }
        #expect(throws: CryptoError.self) { try PublicKey.rsa(modulus: n, exponent: [0x01, 0x00, 0x00]) }
        #expect(throws: CryptoError.self) { try PublicKey.rsa(modulus: [], exponent: [1, 0, 1]) }
    }

    @Test func rsaKeyReportsBits() throws {
        let key = try PublicKey.rsa(modulus: [0xC5] + [UInt8](repeating: 0x11, count: 255), exponent: [1, 0, 1])
        #expect(key.kind == .rsa(bits: 2048))
    }

    @Test func keyTypeDecidesSchemes() throws {
        let ec = try PublicKey.ec(curve: .p256, x: Self.x, y: Self.y)
        #expect(ec.supports(.ecdsaRaw(.sha256)))
        #expect(!ec.supports(.rsaPKCS1v15(.sha256)))
        #expect(!ec.supports(.ed25519))
        #expect(!ec.isValidSignature([UInt8](repeating: 1, count: 256), for: [1, 2, 3], scheme: .rsaPKCS1v15(.sha256)))
    }

    @Test func pemSubjectPublicKeyInfo() throws {
        let pem = """
        -----BEGIN PUBLIC KEY-----
        MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEKSexBRK64+3c/kZ4KBKLrSkDJpkZ
        9whgacjE32xzKDjHeHlk6qwA5ZIfsUmKYPRgZ2az2WhQAVWNGpdOc0FRPg==
        -----END PUBLIC KEY-----
        """
        let key = try PublicKey(pem: pem)
        #expect(key.kind == .ec(.p256))
        #expect(throws: CryptoError.self) { try PublicKey(pem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n") }
    }

    @Test("raw R||S to DER handles high bits, leading zeros and P-521 long-form lengths")
    func ecdsaLengths() throws {
        let key = try PublicKey.ec(curve: .p256, x: Self.x, y: Self.y)
        for n in [0, 63, 65, 128] {
            #expect(!key.isValidSignature([UInt8](repeating: 0x80, count: n), for: [1], scheme: .ecdsaRaw(.sha256)))
        }
    }

    @Test func sha256KnownAnswer() {
        let d = Digest.sha256.hash(Array("abc".utf8))
        #expect(d == Wycheproof.hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
        #expect(Digest.sha256.hash([UInt8]()) == Wycheproof.hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"))
    }

    @Test func verificationIsThreadSafe() async throws {
        let cases = Wycheproof.cases("ed25519_test.json").filter { $0.result == "valid" }.prefix(8)
        let key = try PublicKey.ed25519(Wycheproof.hex((cases.first!.group["publicKey"] as! [String: any Sendable])["pk"] as! String))
        let sameKey = cases.filter { ($0.group["publicKey"] as! [String: any Sendable])["pk"] as! String == (cases.first!.group["publicKey"] as! [String: any Sendable])["pk"] as! String }
        let inputs = sameKey.map { ($0.hex("sig"), $0.hex("msg")) }
        try #require(!inputs.isEmpty)
        let results = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var ok = true
                    for _ in 0..<200 { for (s, m) in inputs { ok = ok && key.isValidSignature(s, for: m, scheme: .ed25519) } }
                    return ok
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.allSatisfy { $0 })
    }
}

/// An RSA key that arrives as SubjectPublicKeyInfo (a PEM block, a certificate) gets the same exponent and
/// modulus checks as a JWK's `n`/`e`: the container is no reason to accept e = 1 (the "signature" is the
/// message itself) or an even exponent.
struct SPKIRSAKeyTests {
    /// DER SubjectPublicKeyInfo for rsaEncryption with this modulus and exponent (RFC 8017 A.1.1, RFC 5280 §4.1).
    static func spki(n: [UInt8], e: [UInt8]) -> [UInt8] {
        func length(_ count: Int) -> [UInt8] {
            if count < 0x80 { return [UInt8(count)] }
            let bytes = withUnsafeBytes(of: UInt32(count).bigEndian, Array.init).drop { $0 == 0 }
            return [0x80 | UInt8(bytes.count)] + bytes
        }
        func tlv(_ tag: UInt8, _ body: [UInt8]) -> [UInt8] { [tag] + length(body.count) + body }
        func integer(_ v: [UInt8]) -> [UInt8] { tlv(0x02, v.first.map { $0 & 0x80 != 0 } == true ? [0] + v : v) }
        let rsaKey = tlv(0x30, integer(n) + integer(e))
        let algorithm = tlv(0x30, [0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01, 0x05, 0x00])
        return tlv(0x30, algorithm + tlv(0x03, [0] + rsaKey))
    }

    static let modulus: [UInt8] = [0xC5] + [UInt8](repeating: 0x11, count: 254) + [0x13]

    @Test(arguments: [([UInt8](arrayLiteral: 1), false), ([1, 0, 0], false), ([3], true), ([1, 0, 1], true)])
    func exponentIsChecked(_ e: [UInt8], _ accepted: Bool) {
        let der = Self.spki(n: Self.modulus, e: e)
        if accepted {
            let key = try? PublicKey(spkiDER: der)
            #expect(key?.kind == .rsa(bits: 2048))
            #expect(key?.rsaComponents?.exponent == e)
            #expect(key?.rsaComponents?.modulus == Self.modulus)
        } else {
            #expect(throws: CryptoError.self) { try PublicKey(spkiDER: der) }
        }
    }

    @Test func evenModulusIsRejected() {
        #expect(throws: CryptoError.self) { try PublicKey(spkiDER: Self.spki(n: Array(Self.modulus.dropLast()) + [0x12], e: [1, 0, 1])) }
    }
}
