import Testing
@testable import WardenPolicy

/// `SafeRegex`, the matcher behind jwt_authn's `safe_regex`: Google RE2's syntax
/// (https://github.com/google/re2/wiki/Syntax), whole-string match, linear time. What RE2 refuses is refused at
/// load with a message naming the construct.
struct SafeRegexTests {
    /// (pattern, text, whole match?)
    @Test(arguments: [
        // Literals and whole-match semantics.
        ("/items/[0-9]+", "/items/42", true),
        ("/items/[0-9]+", "/items/42/x", false),
        ("/items/[0-9]+", "x/items/42", false),
        ("/items/[0-9]+", "/items/", false),
        ("abc", "abc", true),
        ("abc", "ab", false),
        ("", "", true),
        ("", "a", false),
        ("café", "café", true),
        // `.`: any scalar but \n, unless (?s).
        ("a.c", "abc", true),
        ("a.c", "a/c", true),
        ("a.c", "a\nc", false),
        ("(?s)a.c", "a\nc", true),
        ("a.c", "aéc", true),
        (".*", "", true),
        ("/api/.*", "/api/v1/users", true),
        // Classes.
        ("[abc]+", "abccba", true),
        ("[abc]+", "abd", false),
        ("[a-z0-9_-]+", "ab-c_9", true),
        ("[^/]+", "seg", true),
        ("[^/]+", "a/b", false),
        ("[^a]", "\n", true),
        ("[]a]+", "]a]", true),
        ("[^]a]", "b", true),
        ("[a-]+", "a-a", true),
        ("[\\d.]+", "1.2.3", true),
        ("[\\]\\\\]+", "]\\", true),
        ("[\\-]", "-", true),
        ("[\\x41-\\x43]+", "ABC", true),
        ("[\\D]", "5", false),
        ("[^\\d]", "x", true),
        ("[[:alpha:]]+", "abcXYZ", true),
        ("[[:alpha:]]+", "ab1", false),
        ("[[:^digit:]]+", "abc", true),
        ("[[:xdigit:]]{4}", "beeF", true),
        ("[[:word:][:punct:]]+", "a_b.c!", true),
        ("[[]", "[", true),
        // Perl classes, ASCII as in RE2.
        ("\\d+", "0123456789", true),
        ("\\d", "٣", false),  // ARABIC-INDIC DIGIT THREE
        ("\\D+", "abc", true),
        ("\\w+", "a_Z9", true),
        ("\\w", "é", false),
        ("\\W", "é", true),
        ("\\s+", " \t\n\r\u{0C}", true),
        ("\\s", "\u{0B}", false),  // RE2's \s has no \v
        ("\\S+", "ab", true),
        // Escaped metacharacters and character escapes.
        ("\\.", ".", true),
        ("\\.", "x", false),
        ("\\/api\\/v1", "/api/v1", true),
        ("a\\-b", "a-b", true),
        ("\\\\", "\\", true),
        ("\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\^\\$", "*+?()[]{}|^$", true),
        ("\\x41\\x{42}\\x{1F600}", "AB😀", true),
        ("\\101\\0", "A\u{0}", true),
        ("\\t\\n\\r\\f\\v\\a", "\t\n\r\u{0C}\u{0B}\u{07}", true),
        ("\\Q.*+\\E", ".*+", true),
        ("\\Q.*+\\E", "ab", false),
        ("\\Qab\\E+", "abbb", true),
        ("\\Qa\\\\E", "a\\", true),
        ("\\Qa.b", "a.b", true),
        ("a{", "a{", true),
        ("a{,3}", "a{,3}", true),
        ("a{x}", "a{x}", true),
        // Anchors: begin and end of the text (of lines with (?m)).
        ("^/api$", "/api", true),
        ("^/api", "/api", true),
        ("/api$", "/api", true),
        ("a^b", "ab", false),
        ("a$b", "ab", false),
        ("a$", "a\n", false),  // $ is \z in RE2 without (?m)
        ("(?m)a$\\nb", "a\nb", true),
        ("(?m)a\\n^b", "a\nb", true),
        ("a\\n^b", "a\nb", false),
        ("\\Aab\\z", "ab", true),
        ("\\bfoo\\b", "foo", true),
        ("a\\bb", "ab", false),
        ("a\\Bb", "ab", true),
        ("a\\b/", "a/", true),
        // Alternation binds loosest.
        ("ab|cd", "ab", true),
        ("ab|cd", "cd", true),
        ("ab|cd", "abd", false),
        ("a(b|c)d", "acd", true),
        ("a(b|c)d", "ad", false),
        ("/api/v1|/api/v2", "/api/v2", true),
        ("^/a|/b$", "/b", true),
        ("a|", "", true),
        ("|a", "a", true),
        ("x(a|ab)(c|bcd)", "xabcd", true),
        // Groups, nested.
        ("(a(b(c)))", "abc", true),
        ("((ab)+c)+", "ababcabc", true),
        ("((ab)+c)+", "ababcab", false),
        ("(?:ab)+", "abab", true),
        ("(?P<id>[0-9]+)/x", "42/x", true),
        ("(?<id>[0-9]+)/x", "42/x", true),
        ("(?P<a>x)(?P<b>y)", "xy", true),
        // Quantifiers and their lazy forms (same answer for a whole match).
        ("a*", "", true),
        ("a*", "aaa", true),
        ("a+", "", false),
        ("a+", "aaa", true),
        ("a?", "", true),
        ("a?", "aa", false),
        ("a*?b", "aab", true),
        ("a+?", "aaa", true),
        ("a??", "a", true),
        ("^*a", "a", true),
        // Counted repetition.
        ("a{3}", "aaa", true),
        ("a{3}", "aa", false),
        ("a{3}", "aaaa", false),
        ("a{2,}", "aa", true),
        ("a{2,}", "aaaaaaa", true),
        ("a{2,}", "a", false),
        ("a{2,4}", "aaaa", true),
        ("a{2,4}", "aaaaa", false),
        ("a{0}", "", true),
        ("a{0}b", "b", true),
        ("a{0,1}", "a", true),
        ("(ab){2}", "abab", true),
        ("[0-9]{1,3}(\\.[0-9]{1,3}){3}", "10.0.0.255", true),
        ("[0-9]{1,3}(\\.[0-9]{1,3}){3}", "10.0.0", false),
        ("a{2,3}?", "aaa", true),
        ("x{1000}", String(repeating: "x", count: 1000), true),
        ("x{1000}", String(repeating: "x", count: 999), false),
        // Case folding.
        ("(?i)/api/users", "/API/Users", true),
        ("/api/users", "/API/Users", false),
        ("(?i:ab)c", "ABc", true),
        ("(?i:ab)c", "ABC", false),
        ("(?i)a(?-i)b", "Ab", true),
        ("(?i)a(?-i)b", "AB", false),
        ("(?i)[a-c]+", "AbC", true),
        ("(?i)[^a]", "A", false),
        ("(?i)k", "\u{212A}", true),  // KELVIN SIGN folds with k
        ("(?i)[k]", "\u{212A}", true),
        ("(?i)é", "É", true),
        ("(?i)ß", "SS", false),  // simple folding only, as RE2
        ("a(?i)b|c", "C", true),  // a flag lasts to the end of its group, across |
        ("a(?i)b|c", "aB", true),
        ("a(?i)b|c", "AB", false),
        ("(a(?i)b)c", "aBc", true),
        ("(a(?i)b)c", "aBC", false),
        ("(?im)^A$", "a", true),
        // Unicode scalars are the unit.
        ("/.{2}", "/é😀", true),
        ("/[^/]", "/\u{1F600}", true),
        ("e\u{301}", "e\u{301}", true),
        ("e.", "e\u{301}", true),
    ])
    func matches(_ pattern: String, _ text: String, _ expected: Bool) throws {
        let r = try PathRegex(pattern)
        #expect(r.wholeMatches(Substring(text)) == expected, "\(pattern) vs \(text.debugDescription)")
    }

    /// What RE2 refuses (and what this matcher lacks) is a load error naming the construct.
    @Test(arguments: [
        ("(a)\\1", "back-reference \\1"),
        ("(a)\\9", "back-reference \\9"),
        ("(?P<n>a)(?P=n)", "named back-reference"),
        ("(?<n>a)\\k<n>", "back-reference \\k"),
        ("a(?=b)", "lookahead (?="),
        ("a(?!b)", "negative lookahead (?!"),
        ("(?<=a)b", "lookbehind (?<="),
        ("(?<!a)b", "negative lookbehind (?<!"),
        ("(?>a+)b", "atomic group (?>"),
        ("a*+", "possessive quantifier *+"),
        ("a++", "possessive quantifier ++"),
        ("a{2}+", "possessive quantifier {2}+"),
        ("a**", "bad repetition operator **"),
        ("a*??", "bad repetition operator"),
        ("a\\Z", "\\Z is not supported"),
        ("\\Ga", "\\G is not supported"),
        ("a\\K", "invalid escape sequence \\K"),
        ("\\pL", "Unicode class \\p"),
        ("\\P{Greek}", "Unicode class \\P"),
        ("\\C", "\\C (any byte)"),
        ("\\y", "invalid escape sequence \\y"),
        ("\\_", "invalid escape sequence \\_"),
        ("a{1001}", "exceeds 1000"),
        ("a{2,1001}", "exceeds 1000"),
        ("a{1001,}", "exceeds 1000"),
        ("a{3,2}", "maximum below minimum"),
        ("(a{1000}){11}", "exceeds 10000 instructions"),
        ("(?#comment)a", "comment group"),
        ("(?|a|b)", "branch reset"),
        ("(?R)", "recursion"),
        ("(?'n'a)", "(?'name'"),
        ("(?x)a", "unknown flag x"),
        ("(?)a", "invalid flag group"),
        ("(?i-)a", "invalid flag group"),
        ("(?P<>a)", "invalid named capture group name"),
        ("(?P<n>a)(?P<n>b)", "duplicate capture group name n"),
        ("(ab", "missing closing )"),
        ("ab)", "unmatched ')'"),
        ("[ab", "missing closing ]"),
        ("[]", "missing closing ]"),
        ("[z-a]", "bad character class range"),
        ("[a-\\d]", "bad character class range"),
        ("[[:foo:]]", "invalid character class [:foo:]"),
        ("[\\b]", "\\b is not valid in a character class"),
        ("*a", "missing argument to repetition operator *"),
        ("a|+", "missing argument to repetition operator +"),
        ("(?)", "invalid flag group"),
        ("(?i)*", "missing argument to repetition operator *"),
        ("{2}", "missing argument to repetition operator {"),
        ("a\\", "trailing backslash"),
        ("\\x{110000}", "beyond U+10FFFF"),
        ("\\xZ", "\\x needs two hex digits"),
        ("\\E", "\\E without \\Q"),
    ])
    func refused(_ pattern: String, _ message: String) {
        do {
            _ = try PathRegex(pattern)
            Issue.record("accepted \(pattern)")
        } catch {
            #expect("\(error)".contains(message), "\(pattern): \(error)")
        }
    }

    /// Nesting is bounded (100; RE2: 1000) before the parser could exhaust a thread's stack.
    @Test func deepNestingIsRefused() {
        #expect(throws: SafeRegexError.self) { try PathRegex(String(repeating: "(", count: 101) + "a" + String(repeating: ")", count: 101)) }
        #expect(throws: SafeRegexError.self) { try PathRegex(String(repeating: "(", count: 5000) + "a" + String(repeating: ")", count: 5000)) }
        #expect((try? PathRegex(String(repeating: "(", count: 100) + "a" + String(repeating: ")", count: 100)))?.wholeMatches("a") == true)
    }

    /// Patterns that send a backtracking engine into exponential time answer in one pass: the VM visits at
    /// most 2 × program size instructions per text position (plus one closure at the start).
    @Test(arguments: ["(a+)+b", "(a|a)*b", "(a*)*b", "(a|aa)+b", "(.*a){20}b", "/api/(a+)+b"])
    func pathologicalPatternsAreLinear(_ pattern: String) throws {
        let prefix = pattern.hasPrefix("/api/") ? "/api/" : ""
        let text = prefix + String(repeating: "a", count: 5000) + "c"
        let r = try PathRegex(pattern)
        var steps = 0
        #expect(r.regex.wholeMatches(Substring(text), steps: &steps) == false)
        let size = r.regex.program.insts.count
        let length = text.unicodeScalars.count
        #expect(steps <= 2 * size * (length + 1), "\(steps) steps for \(size) instructions × \(length) scalars")
        // And a matching text of the same shape.
        #expect(r.wholeMatches(Substring(prefix + String(repeating: "a", count: 5000) + "b")))
    }

    /// The decoder reports an invalid `safe_regex` with file, line and the construct.
    @Test func decoderNamesTheConstruct() {
        let yaml = "providers:\n\(JwtAuthnDecodingTests.provider())rules:\n- match: {safe_regex: {regex: '/api/(?=x)'}}\n  requires: {provider_name: a}\n"
        do {
            _ = try PolicySet.parse(yaml: yaml, file: "p.yaml")
            Issue.record("loaded")
        } catch {
            #expect(error.description.contains("p.yaml:6"), "\(error)")
            #expect(error.description.contains("invalid regex: lookahead (?=…) is not supported"), "\(error)")
        }
    }
}
