import Testing
@testable import WardenAuthz
import WardenJSON
import WardenPolicy

/// RFC 9110 §5.5 field values: what Warden may write into a header, whatever a token or request says.
@Suite struct HeaderFieldTests {
    @Test(arguments: [
        ("alice", true), ("Alice Smith", true), ("a\tb", true), ("", true), ("café ü", true), ("!~", true),
        ("alice\r\nx-admin: yes", false), ("a\nb", false), ("a\rb", false), ("a\u{0}b", false), ("a\u{1}b", false),
        ("a\u{7F}", false), (" alice", false), ("alice ", false), ("\talice", false), ("alice\t", false),
    ])
    func validValues(_ value: String, _ valid: Bool) {
        #expect(HeaderField.isValidValue(value) == valid)
        #expect((HeaderField.problem(value) == nil) == valid)
    }

    @Test(arguments: [("a\r\nb", "contains CR"), ("a\nb", "contains LF"), ("a\u{0}", "contains NUL"), ("a\u{1B}", "contains a control character"),
                      ("a ", "leading or trailing whitespace")])
    func problemsAreNamedNotQuoted(_ value: String, _ problem: String) {
        #expect(HeaderField.problem(value) == problem)
    }

    @Test(arguments: [("denied\r\nx-evil: 1", "denied x-evil: 1"), ("  a \t b  ", "a b"), ("ok", "ok"), ("\u{0}", "")])
    func diagnosticsAreSanitized(_ raw: String, _ clean: String) {
        #expect(HeaderField.sanitized(raw) == clean)
        #expect(HeaderField.isValidValue(HeaderField.sanitized(raw)))
    }

    @Test func sanitizedIsBounded() {
        let long = String(repeating: "é", count: 1000)
        let s = HeaderField.sanitized(long, limit: 512)
        #expect(s.utf8.count <= 512 && s.unicodeScalars.allSatisfy { $0 == "é" })
    }

    /// The realm is a quoted-string: a path cannot end it and add parameters.
    @Test(arguments: [("http://h/a?b=1", "http://h/a?b=1"), ("http://h/a\"b", "http://h/a%22b"), ("http://h/a\\b", "http://h/a%5Cb"),
                      ("http://h/\", error=\"x", "http://h/%22, error=%22x")])
    func realmCannotBreakItsQuotes(_ uri: String, _ realm: String) {
        #expect(HeaderField.realm(uri) == realm)
    }

    /// A verified token whose claim holds CR/LF: the header is not set, the client's copy is removed, the
    /// record names it (not its value), and a repeated token (the remembered answer) says the same.
    @Test func invalidClaimValueIsNotSet() throws {
        let p = pipeline(try policies(), tokenCache: (100, 1 << 20))
        let t = token(["sub": .string("alice\r\nx-admin: yes")])
        for _ in 0..<2 {
            let r = p.decide(request("GET", "/", headers: ["authorization": "Bearer \(t)", "x-sub": "spoofed"]))
            let ok = try #require(r.decision.allow)
            #expect(!ok.headersToSet.contains { $0.name == "x-sub" })
            #expect(ok.headersToRemove.contains("x-sub"))
            #expect(ok.headersToSet.allSatisfy { HeaderField.isValidValue($0.value) })
            #expect(r.record.droppedHeaders == [DroppedHeader(header: "x-sub", claim: "sub", problem: "contains CR")])
            let fields = DecisionLog(logger: Logger(level: .debug, format: .json)).fields(r, request: request())
            let dropped = fields.first { $0.0 == "dropped_headers" }?.1.serialized ?? ""
            #expect(dropped.contains("\"reason_code\":\"invalid_header_value\"") && !dropped.contains("x-admin"))
        }
        #expect(p.metrics.droppedHeaders.load == 2)
    }

    @Test func debugReasonIsAValidHeaderValue() throws {
        let p = pipeline(try policies(), debug: true)
        let r = p.decide(request("GET", "/", headers: ["authorization": "Bearer \(token(["iss": .string("https://evil\r\nx: y")]))"]))
        let reason = try #require(r.decision.header("x-warden-reason"))
        #expect(HeaderField.isValidValue(reason))
        #expect(r.decision.deny?.headers.allSatisfy { HeaderField.isValidValue($0.value) } == true)
    }

    /// `--log-format text`: a value cannot end the line or fake a field.
    @Test(arguments: ["alice\nINFO decision=allow", "a b", "x=y", "q\"", "", "tab\there"])
    func textLogValuesAreQuoted(_ value: String) {
        let line = Logger(level: .info, format: .text).render(.info, "decision", [("principal", .string(value)), ("n", .number(3))], time: "T")
        #expect(line.filter { $0 == "\n" }.count == 1 && line.hasSuffix(" n=3\n"))
        #expect(line.contains(" principal=\(JSONValue.string(value).serialized) "))
    }

    @Test func textLogBareValuesStayBare() {
        let line = Logger(level: .info, format: .text).render(.info, "decision", [("reason_code", .string("jwt_expired"))], time: "T")
        #expect(line == "T INFO decision reason_code=jwt_expired\n")
    }
}
