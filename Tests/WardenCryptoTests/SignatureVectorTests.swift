import Testing
import WardenCrypto

/// Wycheproof signature primitives. `valid` must verify, `invalid` must not.
/// `acceptable` (only one: RSA PKCS#1 "Missing NULL", tcId 8) is recorded, not asserted:
/// OpenSSL's behaviour on it is what Warden ships.
struct SignatureVectorTests {
    static func ecdsaCases() -> [Wycheproof.Case] {
        Wycheproof.cases("ecdsa_secp256r1_sha256_p1363_test.json")
            + Wycheproof.cases("ecdsa_secp384r1_sha384_p1363_test.json")
            + Wycheproof.cases("ecdsa_secp521r1_sha512_p1363_test.json")
    }

    static func digest(_ name: String?) -> Digest {
        switch name {
        case "SHA-384": return .sha384
        case "SHA-512": return .sha512
        default: return .sha256
        }
    }

    @Test("ECDSA P1363 (raw R||S) vectors", arguments: ecdsaCases())
    func ecdsa(_ c: Wycheproof.Case) throws {
        let curve = c.curve
        let key = try c.ecPublicKey()
        #expect(key.kind == .ec(curve))
        let ok = key.isValidSignature(c.hex("sig"), for: c.hex("msg"), scheme: .ecdsaRaw(Self.digest(c.group["sha"] as? String)))
        #expect(ok == (c.result == "valid"), "\(c)")
    }

    static func rsaCases() -> [Wycheproof.Case] {
        Wycheproof.cases("rsa_signature_2048_sha256_test.json")
            + Wycheproof.cases("rsa_signature_3072_sha384_test.json")
            + Wycheproof.cases("rsa_signature_4096_sha512_test.json")
    }

    @Test("RSASSA-PKCS1-v1_5 vectors", arguments: rsaCases())
    func rsaPKCS1(_ c: Wycheproof.Case) throws {
        let key = try c.rsaPublicKey()
        let ok = key.isValidSignature(c.hex("sig"), for: c.hex("msg"), scheme: .rsaPKCS1v15(Self.digest(c.group["sha"] as? String)))
        if c.result == "acceptable" { return }
        #expect(ok == (c.result == "valid"), "\(c)")
    }

    static func pssCases() -> [Wycheproof.Case] {
        Wycheproof.cases("rsa_pss_2048_sha256_mgf1_32_test.json") + Wycheproof.cases("rsa_pss_4096_sha512_mgf1_64_test.json")
    }

    @Test("RSASSA-PSS vectors (salt = digest length, MGF1 same digest)", arguments: pssCases())
    func rsaPSS(_ c: Wycheproof.Case) throws {
        let key = try c.rsaPublicKey()
        let d = Self.digest(c.group["sha"] as? String)
        #expect(c.group["sLen"] as? Int == d.byteCount)
        let ok = key.isValidSignature(c.hex("sig"), for: c.hex("msg"), scheme: .rsaPSS(d))
        #expect(ok == (c.result == "valid"), "\(c)")
    }

    @Test("Ed25519 vectors", arguments: Wycheproof.cases("ed25519_test.json"))
    func ed25519(_ c: Wycheproof.Case) throws {
        let pk = c.group["publicKey"] as! [String: any Sendable]
        let key = try PublicKey.ed25519(Wycheproof.hex(pk["pk"] as! String))
        let ok = key.isValidSignature(c.hex("sig"), for: c.hex("msg"), scheme: .ed25519)
        #expect(ok == (c.result == "valid"), "\(c)")
    }

    static func hmacCases() -> [Wycheproof.Case] {
        Wycheproof.cases("hmac_sha256_test.json") + Wycheproof.cases("hmac_sha384_test.json") + Wycheproof.cases("hmac_sha512_test.json")
    }

    @Test("HMAC vectors (full-length tags verify; truncated tags are compared by prefix and never verify)", arguments: hmacCases())
    func hmac(_ c: Wycheproof.Case) {
        let digest: Digest = c.file.contains("384") ? .sha384 : c.file.contains("512") ? .sha512 : .sha256
        let key = HMACKey(c.hex("key"))
        let tag = c.hex("tag")
        let mac = key.authenticationCode(for: c.hex("msg"), digest: digest)
        let full = (c.group["tagSize"] as? Int) == digest.byteCount * 8
        let prefixMatches = !tag.isEmpty && Array(mac.prefix(tag.count)) == tag
        #expect(prefixMatches == (c.result == "valid"), "\(c)")
        if full {
            #expect(key.isValidAuthenticationCode(tag, for: c.hex("msg"), digest: digest) == (c.result == "valid"), "\(c)")
        } else {
            #expect(!key.isValidAuthenticationCode(tag, for: c.hex("msg"), digest: digest), "truncated tags never verify: \(c)")
        }
    }
}
