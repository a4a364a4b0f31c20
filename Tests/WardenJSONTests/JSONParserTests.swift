import Testing
import WardenJSON

struct JSONParserTests {
    @Test(arguments: [
        ("{}", JSONValue.object([:])),
        ("[]", .array([])),
        ("  true ", .bool(true)),
        ("null", .null),
        ("-0.5e2", .number(-50)),
        ("1234567890", .number(1234567890)),
        ("\"a\\u00e9\\ud83d\\ude00\\n\"", .string("aé😀\n")),
        ("{\"a\":[1,{\"b\":\"c\"}]}", .object(["a": .array([.number(1), .object(["b": .string("c")])])])),
    ])
    func parsesValid(text: String, expected: JSONValue) throws {
        #expect(try JSONParser.parse(text) == expected)
    }

    @Test(arguments: [
        ("", JSONError.Kind.unexpectedEnd),
        ("{", .unexpectedEnd),
        ("[1,]", .unexpectedByte(UInt8(ascii: "]"))),
        ("01", .invalidNumber),
        ("1.", .invalidNumber),
        ("NaN", .unexpectedByte(UInt8(ascii: "N"))),
        ("\"\\x\"", .invalidEscape),
        ("\"\\udc00\"", .invalidEscape),
        ("\"a\u{1}\"", .invalidString),
        ("{\"a\":1,\"a\":2}", .duplicateKey("a")),
        ("1 2", .trailingData),
        ("1e999", .invalidNumber),
    ])
    func rejectsInvalid(text: String, kind: JSONError.Kind) {
        #expect(throws: JSONError.self) { try JSONParser.parse(text) }
        do { _ = try JSONParser.parse(text) } catch { #expect(error.kind == kind) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONError.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
    }

    @Test func boundsDepthAndSize() {
        let deep = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
        #expect(throws: JSONError.self) { try JSONParser.parse(deep, limits: JSONLimits(maxDepth: 32)) }
        #expect((try? JSONParser.parse(deep, limits: JSONLimits(maxDepth: 40))) != nil)
        #expect(throws: JSONError.self) { try JSONParser.parse("\"0123456789\"", limits: JSONLimits(maxBytes: 5)) }
    }

    @Test func serializesDeterministically() throws {
        let v = try JSONParser.parse("{\"b\":[true,null,1.5],\"a\":\"x\\\"y\",\"n\":42}")
        #expect(v.serialized == "{\"a\":\"x\\\"y\",\"b\":[true,null,1.5],\"n\":42}")
        #expect(try JSONParser.parse(v.serialized) == v)
    }

    @Test func scalarText() {
        #expect(JSONValue.number(42).scalarText == "42")
        #expect(JSONValue.number(1.5).scalarText == "1.5")
        #expect(JSONValue.bool(true).scalarText == "true")
        #expect(JSONValue.array([]).scalarText == nil)
    }

    @Test func randomInputsNeverCrash() {
        var rng = SplitMix(seed: 42)
        let alphabet = Array("{}[]\",:0123456789.-+eE truefalsn\\u".utf8)
        for _ in 0..<20_000 {
            let n = Int(rng.next() % 24)
            let bytes = (0..<n).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            _ = try? JSONParser.parse(bytes)
        }
    }
}

/// Deterministic PRNG for reproducible randomized tests.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
