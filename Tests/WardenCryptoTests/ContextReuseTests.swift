import Testing
@testable import WardenCrypto

/// A `PublicKey` reuses its OpenSSL verification contexts. These tests drive one key object through
/// whole vector files, failures interleaved with successes, from several threads, and check that every
/// answer is what a fresh context gives and that no verification leaves entries on OpenSSL's error queue.
struct ContextReuseTests {
    /// One vector file verified with one key object per test group.
    struct VectorFile: Sendable, CustomStringConvertible {
        let file: String
        let scheme: @Sendable (Wycheproof.Case) -> SignatureScheme
        let key: @Sendable (Wycheproof.Case) throws -> PublicKey
        var description: String { file }
    }

    static func digest(_ c: Wycheproof.Case) -> Digest {
        switch c.group["sha"] as? String {
        case "SHA-384": return .sha384
        case "SHA-512": return .sha512
        default: return .sha256
        }
    }

    static func rsaKey(_ c: Wycheproof.Case) throws -> PublicKey { try c.rsaPublicKey() }

    static func ecKey(_ c: Wycheproof.Case) throws -> PublicKey { try c.ecPublicKey() }

    static let files: [VectorFile] = [
        VectorFile(file: "rsa_signature_2048_sha256_test.json", scheme: { .rsaPKCS1v15(digest($0)) }, key: rsaKey),
        VectorFile(file: "rsa_signature_4096_sha512_test.json", scheme: { .rsaPKCS1v15(digest($0)) }, key: rsaKey),
        VectorFile(file: "rsa_pss_2048_sha256_mgf1_32_test.json", scheme: { .rsaPSS(digest($0)) }, key: rsaKey),
        VectorFile(file: "rsa_pss_4096_sha512_mgf1_64_test.json", scheme: { .rsaPSS(digest($0)) }, key: rsaKey),
        VectorFile(file: "ecdsa_secp256r1_sha256_p1363_test.json", scheme: { .ecdsaRaw(digest($0)) }, key: ecKey),
        VectorFile(file: "ecdsa_secp521r1_sha512_p1363_test.json", scheme: { .ecdsaRaw(digest($0)) }, key: ecKey),
        VectorFile(file: "ed25519_test.json", scheme: { _ in .ed25519 }, key: { c in
            try PublicKey.ed25519(Wycheproof.hex((c.group["publicKey"] as! [String: any Sendable])["pk"] as! String))
        }),
    ]

    struct Item: Sendable {
        let key: PublicKey
        let signature: [UInt8]
        let message: [UInt8]
        let scheme: SignatureScheme
        let expected: Bool
        let label: String
    }

    /// Every case of `file` with the key object shared by its group (`acceptable` cases are left out).
    static func items(_ file: VectorFile) throws -> [Item] {
        var keys: [String: PublicKey] = [:]
        var out: [Item] = []
        for c in Wycheproof.cases(file.file) where c.result != "acceptable" {
            let id = String(describing: c.group["publicKey"] ?? c.group["keyDer"] ?? "")
            let key: PublicKey
            if let k = keys[id] { key = k } else { key = try file.key(c); keys[id] = key }
            out.append(Item(key: key, signature: c.hex("sig"), message: c.hex("msg"), scheme: file.scheme(c),
                            expected: c.result == "valid", label: c.description))
        }
        return out
    }

    @Test("one key object per group verifies a whole vector file, twice, with a clean error queue", arguments: files)
    func sequentialReuse(_ file: VectorFile) throws {
        let items = try Self.items(file)
        try #require(items.contains { $0.expected } && items.contains { !$0.expected })
        for pass in 0..<2 {
            for item in pass == 0 ? items : items.reversed() {
                let ok = item.key.isValidSignature(item.signature, for: item.message, scheme: item.scheme)
                #expect(ok == item.expected, "\(item.label) pass \(pass)")
                let queue = OpenSSLErrorQueue.drain()
                #expect(queue.isEmpty, "\(item.label) left \(queue)")
            }
        }
        // Sequential use needs a single context per scheme: the pool reuses it instead of growing.
        // (Signatures of the wrong length are rejected before a context is needed.)
        for item in items {
            let idle = item.key.idleVerifierCount(item.scheme)
            #expect(item.expected ? idle == 1 : idle <= 1, "\(item.label): \(idle) idle contexts")
        }
    }

    @Test("the same vectors from 6 threads at once, shuffled", arguments: files)
    func concurrentReuse(_ file: VectorFile) async throws {
        let items = try Self.items(file)
        let failures = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<6 {
                group.addTask {
                    var wrong: [String] = []
                    for item in items.shuffled() {
                        let ok = item.key.isValidSignature(item.signature, for: item.message, scheme: item.scheme)
                        if ok != item.expected { wrong.append(item.label) }
                        if !OpenSSLErrorQueue.drain().isEmpty { wrong.append("\(item.label): error queue not empty") }
                    }
                    return wrong
                }
            }
            return await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(failures.isEmpty, "\(failures.prefix(10))")
        for item in items { #expect(item.key.idleVerifierCount(item.scheme) <= VerifierPool.perSchemeLimit) }
    }

    @Test("a bad signature followed by a good one on the same key, from 8 threads", arguments: files)
    func badThenGood(_ file: VectorFile) async throws {
        let items = try Self.items(file)
        let good = try #require(items.first { $0.expected })
        var tampered = good.signature
        tampered[tampered.count / 2] ^= 0x01
        let bad = tampered
        let results = await withTaskGroup(of: (Int, Int).self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var accepted = 0, rejected = 0
                    for _ in 0..<50 {
                        if !good.key.isValidSignature(bad, for: good.message, scheme: good.scheme) { rejected += 1 }
                        if good.key.isValidSignature(good.signature, for: good.message, scheme: good.scheme) { accepted += 1 }
                        if !OpenSSLErrorQueue.drain().isEmpty { return (-1, -1) }
                    }
                    return (accepted, rejected)
                }
            }
            return await group.reduce(into: [(Int, Int)]()) { $0.append($1) }
        }
        #expect(results.count == 8)
        #expect(results.allSatisfy { $0 == (50, 50) }, "\(results)")
    }

    @Test("a context built for one scheme never serves another on the same key")
    func schemesDoNotShareContexts() throws {
        let pss = try Self.items(Self.files[2]).first { $0.expected }!
        // The same RSA key and message: valid as PSS-SHA256, invalid as PKCS#1 v1.5 or PSS-SHA512, in any order.
        for _ in 0..<3 {
            #expect(pss.key.isValidSignature(pss.signature, for: pss.message, scheme: .rsaPSS(.sha256)))
            #expect(!pss.key.isValidSignature(pss.signature, for: pss.message, scheme: .rsaPKCS1v15(.sha256)))
            #expect(!pss.key.isValidSignature(pss.signature, for: pss.message, scheme: .rsaPSS(.sha512)))
            #expect(!pss.key.isValidSignature(pss.signature, for: pss.message, scheme: .rsaPSS(.sha384)))
        }
        #expect(OpenSSLErrorQueue.drain().isEmpty)
    }
}
