import Testing
@testable import WardenAuthz
import WardenJSON
import WardenJWT
import WardenPolicy

/// The decision log line is a rendering of the record; redaction covers every token of the request.
@Suite struct DecisionLogTests {
    static let log = DecisionLog(logger: Logger(level: .debug, format: .json), redactClaims: ["email"])

    static func field(_ fields: [(String, JSONValue)], _ name: String) -> String? {
        fields.first { $0.0 == name }.flatMap { $0.1.stringValue }
    }

    /// Two tokens: the query token (checked first, Envoy's order) is expired, so the header token is never
    /// checked; its claims are still cut out of the log line.
    @Test func uncheckedTokensAreRedactedToo() throws {
        let p = pipeline(try policies())
        let header = token(["email": .string("alice@example.org")])
        let expired = token(["exp": .number(testNow - 3600)])
        let r = request("GET", "/users/alice@example.org/profile?access_token=\(expired)", headers: ["authorization": "Bearer \(header)"])
        let result = p.decide(r)
        #expect(result.reasonCode == .jwtExpired)
        #expect(result.record.tokens.first?.jwt == nil)  // the header token was not checked
        let path = try #require(Self.field(Self.log.fields(result, request: r), "path"))
        #expect(path == "/users/[redacted]/profile?access_token=…")
    }

    @Test func checkedTokenIsRedacted() throws {
        let p = pipeline(try policies())
        let r = request("GET", "/users/alice@example.org", headers: ["authorization": "Bearer \(token(["email": .string("alice@example.org")]))"])
        let fields = Self.log.fields(p.decide(r), request: r)
        #expect(Self.field(fields, "path") == "/users/[redacted]")
        #expect(Self.field(fields, "reason_code") == "allowed")
    }

    /// Values come from unverified tokens: their number and size are bounded.
    @Test func redactorValuesAreBounded() {
        let many = JSONValue.array((0..<5000).map { .string("v\($0)") })
        let claims: [String: JSONValue] = ["email": many]
        let header = #"{"alg":"HS256"}"#
        let jwt = try! UnverifiedJWT.parse(Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(JSONValue.object(claims).serialized.utf8)) + ".c2ln",
                                           maxBytes: 1 << 20)
        let redactor = LogRedactor(claims: ["email"], tokens: [jwt])
        #expect(redactor.values.count <= LogRedactor.maxValues)
        #expect(redactor.values.reduce(0) { $0 + $1.utf8.count } <= LogRedactor.maxValueBytes)
    }

    @Test(arguments: [("a\r\nwarden_ready 1", "a \\nwarden_ready 1"), ("x\ny", "x\\ny"), ("q\"b\\", "q\\\"b\\\\"), ("t\tz\r", "t z ")])
    func metricLabelsCannotAddLines(_ raw: String, _ escaped: String) {
        #expect(PrometheusText.escape(raw) == escaped)
    }
}
