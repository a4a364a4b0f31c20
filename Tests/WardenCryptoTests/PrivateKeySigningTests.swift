import Testing
@testable import WardenCrypto

/// Signing with a private key (Warden's `private_key_jwt` client assertions, RFC 7523): every signature
/// verifies with the key's public half under the same JOSE scheme (ECDSA as raw R || S, RFC 7518 §3.4), and
/// a key refuses a scheme of another type. The keys are throwaway test keys made with `openssl genpkey`.
struct PrivateKeySigningTests {
    static let rsa = """
-----BEGIN PRIVATE KEY-----
MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQCR+Cb1kDXFsA8q
1sUq6iZCb19oJN4vyZ3OzYqRzCkv5gTxUSY4i843T7ET6cES9IGYKWsQX1CTgz2p
cuh+zgsUSsWlOCPGcdZqSvkcY0H4hfWthDMtfDDzeuUlKl9xcCvnyEvwGVL1mEZi
0KPJ3MsS/Dk3XybtC/JMmcXzWtRFtwuSE65fsDL56l8iqwS9kpmhcLC1ZK4XTkT2
janJVu2+jtlVUiGBRy1twIuqGZDtphtpCh+Aqvgl9WgNghovNVVeZd3AstySCSmb
EGXrstp1QnoccJGu89Af/dfK3pgcL33dwAxo57aB359/aEmqfWkJEyC/alYxrFwj
Sbg7Mw0XAgMBAAECggEAI6XLterLBwVRHvAmZK2cPFtAnIlsbZU6YdfWgHawlE8D
Y/+iaurRqLZgk3FhwoRN5eAvkmcEoZHKjEhQuS8Oi50bGZdVPVBtwbWfkqw23z+v
2PlRGkmbFssrjOEFQAnZ3xgOW4uDtBDFF7rGVTUDrxZDzt8A/aEOQmDHc//5mTCV
Sbj6LDnIVIEsh9uu/xTzdrJRojK0tskWgJ9Wuz+AWxQVzcfoXdEsFhh1cG+0c+NL
0xG6Ji0VIg1lIY07rt+4xfzx3rj/8ENP0ih/wVkNgs0yCQSku5PtuF1lKauqIs04
pHDt94G7m8zpYkRfLzyODvYQ7MyMczD0MJ7zv8f4OQKBgQDDDhJPgp0GfvVlMpV4
IjLB376zknN33MPzwrip6LbysJsJAD4EDVegi1hBRRwiJv6+AtF1bXSmKEFA8jlu
rxBLOSE9FFhcVjfR6G9Lcke/uxosWg1g82iaCr7+ue/MUvOxoXJ2f+ia6BU8twe+
5jsBuxRjivDV6uESDRF9ZLk/zQKBgQC/k9onCatv8U/X5mNFcuyClsCOEy6Fpujb
6m76TUJeRzkzth/3CYtb84+xmI44o7FVloBdz/tDBH4/Jd3iL44uL9x8h6WmnhIv
WdHn0hDUtBFq4f+sZwQAMO5WLZENbA6WvNiC+yfYYZeAuPY7Z9xFTpnUFHoe83xU
/Hcl89z0cwKBgQC5CvdqALIxAG6TE5ri/iaC8F19A/mRA5nN/bOsVP6CW/KoZldv
Bq1Tu/385bBb4fyXjBrjuPQJ0XSeRW0gyOm/QzJ6PHvbFVwdQdGblI3moXyiCMha
anCYeotZIlIQ170ijdQGATBNDNFg6Q5rFwVxjeY4zQ3PEuV0d3tZJx3rHQKBgQCR
SqmNJ7k8ObALFnA9UG5sj7ZTSdrjg/VgK8ikzglChROt0zck3LkzMGHPF9rsu8CX
H4AVJdHyPqscazR/AP/8qVG3pAyOc51pCd62yMr49eOrwuBruOkA2Bs5gm9a1ZOu
4GP32lCau1DyT9R2s0sLyRPDExCW/qRRs/MM9oihXwKBgQCa9YK1XNsgu2JgQl18
URfFP40nwzhrMwmJZXo1a0fx21/ajuxW03fC0wQavR9skQw0IyszmyvI+AfM8ljD
SUKHjkqmkZUdv8ghFtBENiXPFIaFC94KhlfLNlUuPuMrrutKL6YOutSn6+UX8of+
HOwUviRlceIlX0rx6q3N9lK8jg==
-----END PRIVATE KEY-----
"""
    static let p256 = """
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgdyCASjukJJvpeL8H
2OJdG6m5L9korF690TWzWmLGrDihRANCAAQug9ZOz28RMPkfTL7KxeuzBj0gasFU
bONq1x06zpEVX9aIdrH8NFt5Nraobd8pszsjWHozJbtgqbFOEDzGYWzs
-----END PRIVATE KEY-----
"""
    static let p384 = """
-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDDNJO5VchqFAmQwT64b
MXgpWPysXEM3kvaCBsrBX5qMEsGmYVYPCaQfJ8YppYJcQSShZANiAAQkHfhdWDcz
breimm517rxc/51JZM3n84vG/TjSCRwVWW7+gzmrHd04uWSZkOZZahqxIs8GJMpA
MazB4e8ppookEaRR6o5BcMyLEHB/9WUyMLq2vFLlrs4m8unEc2jQuhA=
-----END PRIVATE KEY-----
"""
    static let ed25519 = """
-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIBtqJogumiT1aDHFB4bcKlxEvZ9cOSh1EzrT8az/LCAh
-----END PRIVATE KEY-----
"""
    /// The P-256 key in the traditional `EC PRIVATE KEY` form (`openssl ec`).
    static let p256Traditional = """
-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIHcggEo7pCSb6Xi/B9jiXRupuS/ZKKxevdE1s1pixqw4oAoGCCqGSM49
AwEHoUQDQgAELoPWTs9vETD5H0y+ysXrswY9IGrBVGzjatcdOs6RFV/WiHax/DRb
eTa2qG3fKbM7I1h6MyW7YKmxThA8xmFs7A==
-----END EC PRIVATE KEY-----
"""

    @Test(arguments: [
        (rsa, SignatureScheme.rsaPKCS1v15(.sha256)), (rsa, .rsaPSS(.sha256)), (rsa, .rsaPKCS1v15(.sha512)),
        (p256, .ecdsaRaw(.sha256)), (p384, .ecdsaRaw(.sha384)), (ed25519, .ed25519), (p256Traditional, .ecdsaRaw(.sha256)),
    ])
    func signaturesVerifyWithThePublicKey(_ pem: String, _ scheme: SignatureScheme) throws {
        let key = try PrivateKey(pem: pem)
        let message = Array("eyJhbGciOi.eyJpc3Mi".utf8)
        let signature = try key.sign(message, scheme: scheme)
        let pub = try key.publicKey
        #expect(pub.isValidSignature(signature, for: message, scheme: scheme))
        #expect(!pub.isValidSignature(signature, for: message + [0x2E], scheme: scheme))
        if case .ecdsaRaw = scheme, case .ec(let curve) = key.kind { #expect(signature.count == 2 * curve.coordinateByteCount) }
    }

    @Test func aKeyRefusesAnotherTypesScheme() throws {
        #expect(throws: CryptoError.self) { try PrivateKey(pem: Self.p256).sign([1], scheme: .rsaPKCS1v15(.sha256)) }
        #expect(throws: CryptoError.self) { try PrivateKey(pem: Self.rsa).sign([1], scheme: .ed25519) }
    }

    @Test func aPublicKeyOrJunkIsNoPrivateKey() {
        #expect(throws: CryptoError.self) { try PrivateKey(pem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n") }
        #expect(throws: CryptoError.self) { try PrivateKey(pem: "not pem") }
    }

    @Test(arguments: [
        // r and s of 32 bytes with the high bit set (DER pads them with 0x00), and short ones (DER drops zeros).
        ([UInt8](repeating: 0x80, count: 32), [UInt8](repeating: 0xFF, count: 32)),
        ([0, 0] + [UInt8](repeating: 0x01, count: 30), [0] + [UInt8](repeating: 0x7F, count: 31)),
    ])
    func derAndRawSignaturesRoundTrip(_ r: [UInt8], _ s: [UInt8]) {
        let raw = r + s
        let der = raw.withUnsafeBufferPointer { raw in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: PublicKey.maxDERSignatureLength) { out in
                PublicKey.derSignature(fromRaw: raw, coordinateSize: 32, into: out).map { Array(out[..<$0]) }
            }
        }
        #expect(der.flatMap { PrivateKey.rawSignature(fromDER: $0, coordinateSize: 32) } == raw)
        #expect(PrivateKey.rawSignature(fromDER: [0x30, 0x02, 0x02, 0x00], coordinateSize: 32) == nil)
    }
}
