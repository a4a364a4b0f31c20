import Testing
@testable import WardenPolicy

/// The namespace glob (`*` = the regex `.*` istiod writes) against a plain recursive reference, and a
/// many-star pattern on a long principal that must not take exponential time.
struct NamespaceGlobTests {
    static func reference(_ g: [UInt8], _ t: [UInt8]) -> Bool {
        guard let first = g.first else { return t.isEmpty }
        if first == UInt8(ascii: "*") { return (0...t.count).contains { reference(Array(g.dropFirst()), Array(t.dropFirst($0))) } }
        return t.first == first && reference(Array(g.dropFirst()), Array(t.dropFirst()))
    }

    static func glob(_ g: String, _ t: String) -> Bool {
        MatchContext.globMatches(Array(g.utf8)[...], Array(t.utf8)[...])
    }

    @Test("table", arguments: [
        ("team-*-prod", "team-a-prod", true), ("team-*-prod", "team--prod", true), ("team-*-prod", "team-a-dev", false),
        ("*", "", true), ("*", "x/y", true), ("a*", "a", true), ("*a", "ba", true), ("*a", "ab", false),
        ("a*b*c", "aXbYc", true), ("a*b*c", "acb", false), ("", "", true), ("", "a", false), ("**", "abc", true),
    ])
    func table(glob: String, text: String, expected: Bool) {
        #expect(Self.glob(glob, text) == expected)
    }

    @Test("agrees with the recursive reference on every short glob and text over {a, b, *}")
    func agreement() {
        func all(_ alphabet: [UInt8], upTo n: Int) -> [[UInt8]] {
            var out: [[UInt8]] = [[]]
            var level: [[UInt8]] = [[]]
            for _ in 0..<n { level = level.flatMap { w in alphabet.map { w + [$0] } }; out += level }
            return out
        }
        let globs = all(Array("ab*".utf8), upTo: 4), texts = all(Array("ab".utf8), upTo: 5)
        for g in globs { for t in texts {
            #expect(MatchContext.globMatches(g[...], t[...]) == Self.reference(g, t), "\(String(decoding: g, as: UTF8.self)) vs \(String(decoding: t, as: UTF8.self))")
        } }
    }

    @Test("many stars on a long principal answer at once (no exponential backtracking)")
    func pathological() {
        let text = String(repeating: "a", count: 4096)
        #expect(!Self.glob(String(repeating: "*a", count: 20) + "b", text))
        #expect(Self.glob(String(repeating: "*a", count: 20), text))
    }
}
