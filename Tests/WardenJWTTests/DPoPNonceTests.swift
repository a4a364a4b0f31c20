import Testing
import WardenJWT

/// Stateless DPoP server nonces (RFC 9449 §9, minted as §8 asks: unpredictable without the key): any
/// holder of the key accepts them, within their lifetime, for the proof key they were issued to.
struct DPoPNonceTests {
    static let key = Array(0..<32).map(UInt8.init)
    static let jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
    static let nonces = DPoPNonces(key: key, lifetime: 300)!

    @Test func aMintedNonceIsValidForItsLifetimeOnAnyReplicaWithTheKey() {
        let minted = Self.nonces.mint(jkt: Self.jkt, now: 1_000_000.7)
        #expect(minted.utf8.count == 55)
        // RFC 9449 §8.1: nonce = 1*NQCHAR; base64url is within it.
        #expect(minted.utf8.allSatisfy { $0 == 0x21 || (0x23...0x5B).contains($0) || (0x5D...0x7E).contains($0) })
        let otherReplica = DPoPNonces(key: Self.key, lifetime: 300)!
        #expect(otherReplica.check(minted, jkt: Self.jkt, now: 1_000_000) == .valid(issuedAt: 1_000_000))
        #expect(otherReplica.check(minted, jkt: Self.jkt, now: 1_000_300) == .valid(issuedAt: 1_000_000))
        #expect(otherReplica.check(minted, jkt: Self.jkt, now: 1_000_300.5) == .expired(issuedAt: 1_000_000))
    }

    @Test func twoNoncesAtDifferentTimesDiffer() {
        #expect(Self.nonces.mint(jkt: Self.jkt, now: 100) != Self.nonces.mint(jkt: Self.jkt, now: 101))
    }

    @Test(arguments: ["missing", "another key", "another jkt", "from the future", "empty", "too long", "garbage",
                      "other version", "non-canonical base64url"])
    func refused(_ scenario: String) {
        let now = 2_000_000.0
        let minted = Self.nonces.mint(jkt: Self.jkt, now: now)
        let expected: DPoPNonces.Verdict
        var nonce: String? = minted
        var jkt = Self.jkt
        var at = now
        var checker = Self.nonces
        switch scenario {
        case "missing": nonce = nil
        case "another key": checker = DPoPNonces(key: Self.key.map { $0 ^ 0x5A }, lifetime: 300)!
        case "another jkt": jkt = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        case "from the future": at = now - 10  // issued 10 s after "now": beyond the 5 s skew
        case "empty": nonce = ""
        case "too long": nonce = minted + "A"
        case "garbage": nonce = String(repeating: "*", count: 55)
        case "other version": nonce = "B" + minted.dropFirst()  // version 1 starts with "A"
        default:  // the last character carries 2 unused bits: flipping one decodes to the same bytes
            let last = minted.last!
            let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
            let i = alphabet.firstIndex(of: last)!
            nonce = minted.dropLast() + String(alphabet[i ^ 1])
        }
        expected = scenario == "missing" ? .missing : .invalid
        #expect(checker.check(nonce, jkt: jkt, now: at) == expected, "\(scenario)")
    }

    @Test func everyAlteredCharacterIsRefused() {
        let minted = Array(Self.nonces.mint(jkt: Self.jkt, now: 3_000_000))
        for i in minted.indices {
            var altered = minted
            altered[i] = altered[i] == "B" ? "C" : "B"
            #expect(Self.nonces.check(String(altered), jkt: Self.jkt, now: 3_000_000) == .invalid, "position \(i)")
        }
    }

    @Test(arguments: [0, 1, 31, 4097])
    func aKeyOutsideTheBoundsIsRefused(_ count: Int) {
        #expect(DPoPNonces(key: [UInt8](repeating: 7, count: count), lifetime: 300) == nil)
    }
}
