import Testing
import WardenProtobuf

/// Randomly mutated encodings never crash the decoder: each either decodes or throws a
/// `ProtobufDecodeError` whose offset lies inside the input.
@Suite("Randomized decoding")
struct RandomizedDecodingTests {
    static func mutate(_ input: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            let at = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<8, using: &rng) {
            case 0 where !bytes.isEmpty: bytes[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
            case 1 where !bytes.isEmpty: bytes[at] = UInt8.random(in: 0...255, using: &rng)
            case 2: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: at)
            case 3 where !bytes.isEmpty: bytes.remove(at: at)
            case 4: bytes = Array(bytes.prefix(at))
            case 5 where !bytes.isEmpty: bytes[at] = [0x00, 0x7F, 0x80, 0xFF][Int.random(in: 0..<4, using: &rng)]
            case 6:
                let n = Int.random(in: 1...16, using: &rng)
                let end = min(bytes.count, at + n)
                bytes.insert(contentsOf: bytes[at..<end], at: end)
            default:
                bytes.insert(contentsOf: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F], at: at)
            }
        }
        return bytes
    }

    static func check<M: ProtobufMessage>(_ type: M.Type, seed: [UInt8], iterations: Int, rngSeed: UInt64) -> (ok: Int, failed: Int) {
        var rng = SplitMix64(state: rngSeed)
        var ok = 0
        var failed = 0
        for _ in 0..<iterations {
            let input = mutate(seed, &rng)
            do {
                let message = try M(serializedBytes: input)
                // Whatever decodes re-encodes to a stable form.
                let once = message.serializedBytes()
                let twice = try M(serializedBytes: once).serializedBytes()
                #expect(once == twice)
                ok += 1
            } catch {
                #expect(error.offset >= 0 && error.offset <= input.count, "\(error) for \(input.hex)")
                failed += 1
            }
        }
        return (ok, failed)
    }

    /// Every kind of Value, nested Structs and lists, unicode and empty strings.
    static let claims: ProtobufStruct = [
        "aud": ["orders", 3.5, true, nil, ["nested": "x"]],
        "exp": 1_732_460_000,
        "iss": "https://issuer.example",
        "sub": "üñíçødé ✓ 🚀",
        "empty": "",
        "deep": ["a": ["b": ["c": [1, 2, ["d": false]]]]],
    ]

    @Test func mutatedStructs() {
        let r = Self.check(ProtobufStruct.self, seed: Self.claims.serializedBytes(), iterations: 3000, rngSeed: 1)
        #expect(r.ok > 0 && r.failed > 0)
        let r2 = Self.check(ProtobufValue.self, seed: ProtobufValue.structValue(Self.claims).serializedBytes(), iterations: 2000, rngSeed: 2)
        #expect(r2.ok > 0 && r2.failed > 0)
    }

    @Test func randomBytes() {
        var rng = SplitMix64(state: 99)
        for _ in 0..<5000 {
            let input = (0..<Int.random(in: 0..<64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            do {
                _ = try ProtobufStruct(serializedBytes: input)
            } catch {
                #expect(error.offset >= 0 && error.offset <= input.count)
            }
        }
    }
}
