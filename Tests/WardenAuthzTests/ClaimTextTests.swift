import Testing
@testable import WardenAuthz
import WardenJSON
import WardenPolicy

@Test(arguments: [
    (JSONValue.string("acme"), "acme" as String?),
    (.string(""), nil),
    (.bool(true), "true"),
    (.number(42), "42"),
    (.number(1.5), "1.500000"),
    (.number(-3), "-3.000000"),
    (.number(12_345_678_901_234_567_168), "12345678901234567168"),  // 12345678901234567890 as a Double
    (.number(18_000_000_000_000_000_000), "18000000000000000000"),   // below 2^64: still an integer
    (.number(18_446_744_073_709_551_616), "18446744073709551616.000000"),  // 2^64: Envoy 1.40's %f
    (.number(-1e20), "-100000000000000000000.000000"),
    (.number(0.0000005), "0.000000"),  // %f rounds the binary value (4.99999…e-7)
    (.number(-0.0), "0"),
    (.null, nil),
    (.array([.string("a"), .string("b")]), "WyJhIiwiYiJd"),
    (.array([.number(1e-7), .number(100), .number(1.0 / 3), .string("<é>")]), "WzFlLTA3LDEwMCwwLjMzMzMzMzMzMzMzMzMzMzMxLCJcdTAwM2PDqVx1MDAzZSJd"),
    (.object(["b": .bool(false), "a": .null]), "eyJhIjpudWxsLCJiIjpmYWxzZX0="),
])
func claimHeaderText(_ value: JSONValue, _ expected: String?) {
    #expect(ClaimText.headerValue(value) == expected)
}

@Test func nestedClaimLookup() {
    let claims: [String: JSONValue] = ["org": .object(["team": .object(["name": .string("core")])]), "a.b": .string("literal")]
    #expect(ClaimText.lookup("org.team.name", in: claims) == .string("core"))
    #expect(ClaimText.lookup("org.missing", in: claims) == nil)
    #expect(ClaimText.lookup("a.b", in: claims) == nil)  // Envoy walks objects only: a dotted name is not found
    let both: [String: JSONValue] = ["a.b": .string("literal"), "a": .object(["b": .string("nested")])]
    #expect(ClaimText.lookup("a.b", in: both) == .string("nested"))
}

@Test(arguments: [
    ("Bearer abc.def.ghi", "Bearer ", "abc.def.ghi" as String?),
    ("Bearer abc Bearer def", "Bearer ", "abc Bearer def"),
    ("Bearer ab\u{301}c.d", "Bearer ", "ab\u{301}c.d"),
    ("Bearer \u{e9}abc", "Bearer ", "abc"),
    ("Bearer:abc", "Bearer:", "abc"),
    ("xBearer abc", "Bearer ", "abc"),
    ("Bearer   \"abc", "Bearer ", "abc"),
    ("bearer abc", "Bearer ", nil),
    ("Bearer ", "Bearer ", "Bearer "),
    ("Token abc", "Bearer ", nil),
    // The prefix anywhere in the value (a search, not a starts-with): first occurrence, at the very end, too long.
    ("Bearer abc.def", "DPoP ", nil),
    ("xDPoP abc.def", "DPoP ", "abc.def"),
    ("a DPoP b DPoP c", "DPoP ", "b DPoP c"),
    ("xxDPoP ", "DPoP ", "xxDPoP "),
    ("DPo", "DPoP ", nil),
    ("DPoDPoP a", "DPoP ", "a"),
])
func headerPrefixExtraction(_ value: String, _ prefix: String, _ expected: String?) {
    #expect(TokenExtractor.afterPrefix(value, prefix) == expected)
}

@Test func queryRawKeys() {
    #expect(QueryString.rawKeys(named: "access_token", in: "/a?access%5Ftoken=1&access_token=2&x=3") == ["access%5Ftoken", "access_token"])
    #expect(QueryString.rawKeys(named: "access_token", in: "/a") == [])
}
