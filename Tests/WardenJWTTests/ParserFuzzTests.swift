import Testing
import WardenJSON
@testable import WardenJWT

/// Randomized inputs with a fixed seed: the parser and verifier must reject or accept, never crash.
struct ParserFuzzTests {
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \u{0}é{}[]\":,".utf8)

    @Test("base64url: round trip and canonical-only decoding")
    func base64() {
        var rng = SplitMix64(state: 42)
        for _ in 0..<20_000 {
            let n = Int.random(in: 0..<40, using: &rng)
            let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let text = Base64URL.encode(bytes)
            #expect(Base64URL.decode(text) == bytes)
            #expect(!text.contains("="))
            // Any random string either fails or re-encodes to itself (canonical).
            let junk = String(decoding: (0..<Int.random(in: 0..<12, using: &rng)).map { _ in Self.alphabet.randomElement(using: &rng)! }, as: UTF8.self)
            if let d = Base64URL.decode(junk) { #expect(Base64URL.encode(d) == junk) }
        }
    }

    @Test("mutated tokens never crash the parser or the verifier")
    func mutatedTokens() {
        var rng = SplitMix64(state: 7)
        let seeds = [
            FailureReasonTests.hs(),
            Fixture.hmacToken(header: #"{"alg":"HS256","kid":"k1","typ":"JWT"}"#, payload: #"{"iss":"https://issuer.example","aud":["api","x"],"exp":1700000600,"n":{"a":[1,2,{"b":null}]}}"#, secret: Fixture.secret),
        ]
        var accepted = 0
        for i in 0..<30_000 {
            var bytes = Array(seeds[i % seeds.count].utf8)
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                switch Int.random(in: 0..<5, using: &rng) {
                case 0 where !bytes.isEmpty: bytes[Int.random(in: 0..<bytes.count, using: &rng)] = Self.alphabet.randomElement(using: &rng)!
                case 1: bytes.insert(Self.alphabet.randomElement(using: &rng)!, at: Int.random(in: 0...bytes.count, using: &rng))
                case 2 where !bytes.isEmpty: bytes.remove(at: Int.random(in: 0..<bytes.count, using: &rng))
                case 3: bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng)))
                default: bytes += bytes.prefix(Int.random(in: 0..<8, using: &rng))
                }
            }
            let token = String(decoding: bytes, as: UTF8.self)
            _ = try? UnverifiedJWT.parse(token)
            if case .success = JWTVerifier.verify(token, requirements: FailureReasonTests.req, keys: Fixture.operatorKeys, now: FailureReasonTests.now) { accepted += 1 }
        }
        // A mutation can only be accepted if it decodes to the same signed bytes (e.g. truncation to the original).
        #expect(accepted < 300)
    }

    @Test("random JSON headers and payloads (structure fuzz) never crash")
    func randomJSON() {
        var rng = SplitMix64(state: 99)
        func value(_ depth: Int) -> String {
            switch Int.random(in: 0..<(depth > 20 ? 4 : 7), using: &rng) {
            case 0: return "\(Int.random(in: -5...2_000_000_000, using: &rng))"
            case 1: return "\"\(String(repeating: "x", count: Int.random(in: 0..<4, using: &rng)))\""
            case 2: return ["true", "false", "null", "1e999", "-0", "1.5"].randomElement(using: &rng)!
            case 3: return "\"\\u00e9\\ud83d\\ude00\""
            case 4: return "[" + (0..<Int.random(in: 0..<3, using: &rng)).map { _ in value(depth + 1) }.joined(separator: ",") + "]"
            default:
                let keys = ["alg", "kid", "iss", "aud", "exp", "nbf", "iat", "sub", "crit", "azp"]
                return "{" + (0..<Int.random(in: 0..<5, using: &rng)).map { _ in "\"\(keys.randomElement(using: &rng)!)\":\(value(depth + 1))" }.joined(separator: ",") + "}"
            }
        }
        for _ in 0..<5_000 {
            let header = Bool.random(using: &rng) ? #"{"alg":"HS256","kid":"k1"}"# : value(0)
            let token = Fixture.hmacToken(header: header, payload: value(0), secret: Fixture.secret)
            _ = JWTVerifier.verify(token, requirements: JWTRequirements(issuer: nil), keys: Fixture.operatorKeys, now: FailureReasonTests.now)
            _ = try? JWKSet.parse(Array(("{\"keys\":[" + value(0) + "]}").utf8), allowSymmetric: true)
        }
    }
}
