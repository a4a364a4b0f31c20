import Testing
import WardenJSON

/// Edges of the in-place fast paths (ASCII strings, integers, small objects) that must agree with the
/// general ones: strict UTF-8 exactly as `String(validating:)`, numbers exactly as `Double(String)`,
/// duplicate keys by String equality whatever the object size.
struct JSONParserEdgeTests {
    /// Parses `"<bytes>"` (and the same after an escape, which takes the slow path) and checks it against
    /// `String(validating:)`: same acceptance, same string; an invalid string is `.invalidUTF8` at byte 1.
    static func agreesWithStringValidating(_ content: [UInt8]) -> Bool {
        let expected = String(validating: content, as: UTF8.self)
        for (prefix, prefixText) in [([UInt8](), ""), (Array(#"\n"#.utf8), "\n")] {
            let doc = [UInt8(ascii: "\"")] + prefix + content + [UInt8(ascii: "\"")]
            do {
                let value = try JSONParser.parse(doc)
                guard let expected, value == .string(prefixText + expected) else { return false }
            } catch {
                guard expected == nil, error.kind == .invalidUTF8, error.offset == 1 else { return false }
            }
        }
        return true
    }

    /// Bytes that are string content in JSON (no quote, backslash or control character).
    static func isContent(_ b: UInt8) -> Bool { b >= 0x20 && b != 0x22 && b != 0x5C }

    @Test("UTF-8: every one- and two-byte sequence")
    func utf8Short() {
        for a in UInt8.min...UInt8.max where Self.isContent(a) {
            #expect(Self.agreesWithStringValidating([a]), "\(a)")
            for b in UInt8.min...UInt8.max where Self.isContent(b) {
                if !Self.agreesWithStringValidating([a, b]) { Issue.record("\([a, b])"); return }
            }
        }
    }

    @Test("UTF-8: three- and four-byte sequences over every boundary byte")
    func utf8Long() {
        let boundaries: [UInt8] = [0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
        for a in boundaries {
            for b in boundaries {
                for c in boundaries {
                    if !Self.agreesWithStringValidating([a, b, c]) { Issue.record("\([a, b, c])"); return }
                    for d in boundaries where !Self.agreesWithStringValidating([a, b, c, d]) { Issue.record("\([a, b, c, d])"); return }
                }
            }
        }
    }

    @Test(arguments: [
        (#""\u0000""#, "\u{0}"), (#""\u007f""#, "\u{7F}"), (#""\u0080""#, "\u{80}"), (#""\u07FF""#, "\u{7FF}"),
        (#""\u0800""#, "\u{800}"), (#""\uFFFF""#, "\u{FFFF}"), (#""\ud800\udc00""#, "\u{10000}"), (#""\uDBFF\uDFFF""#, "\u{10FFFF}"),
        (#""é\u00e9é""#, "ééé"), (#""a\"b\\c\/d\b\f\n\r\t""#, "a\"b\\c/d\u{8}\u{C}\n\r\t"), (#""""#, ""),
        (#""0123456789abcdef""#, "0123456789abcdef"), (#""😀\ud83d\ude00""#, "😀😀"),
    ])
    func escapes(text: String, expected: String) throws {
        #expect(try JSONParser.parse(text) == .string(expected))
    }

    @Test(arguments: [
        (#""\ud800""#, JSONError.Kind.invalidEscape, 7),        // lone high surrogate
        (#""\ud800\n""#, .invalidEscape, 7),
        (#""\ud800\u0041""#, .invalidEscape, 13),               // high surrogate + non-low
        (#""\udfff""#, .invalidEscape, 7),                      // lone low surrogate
        (#""\u12G4""#, .invalidEscape, 5),
        (#""\u12""#, .unexpectedEnd, 3),
        (#""abc"#, .unexpectedEnd, 4),
        (#""a\"#, .unexpectedEnd, 3),
        ("\"a\u{7}b\"", .invalidString, 2),
        ("\"a\\n\u{7}b\"", .invalidString, 4),
    ])
    func stringErrors(text: String, kind: JSONError.Kind, offset: Int) {
        do { _ = try JSONParser.parse(text); Issue.record("accepted \(text)") } catch {
            #expect(error.kind == kind)
            #expect(error.offset == offset)
        }
    }

    @Test("invalid UTF-8 is reported only for a terminated string, at its first byte")
    func utf8ErrorPrecedence() {
        let cases: [([UInt8], JSONError.Kind, Int)] = [
            ([0x22, 0x61, 0xC3, 0x22], .invalidUTF8, 1),
            ([0x22, 0x61, 0xC3], .unexpectedEnd, 3),                 // unterminated wins
            ([0x22, 0xC3, 0x01, 0x22], .invalidString, 2),           // control character wins
            ([0x5B, 0x22, 0xFF, 0x22, 0x5D], .invalidUTF8, 2),
            ([0x7B, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x3A, 0x31, 0x7D], .invalidUTF8, 2),  // surrogate in a key
        ]
        for (bytes, kind, offset) in cases {
            do { _ = try JSONParser.parse(bytes); Issue.record("accepted \(bytes)") } catch {
                #expect(error.kind == kind, "\(bytes)")
                #expect(error.offset == offset, "\(bytes)")
            }
        }
    }

    @Test(arguments: [
        "0", "-0", "7", "-7", "10", "123456789012345", "-999999999999999", "1234567890123456", "9007199254740993",
        "12345678901234567890123", "1700000600", "0.5", "-0.0", "1e3", "1E+3", "25e-1", "4.9e-324", "1.7976931348623157e308",
    ])
    func numbersMatchDouble(text: String) throws {
        let value = try JSONParser.parse(text)
        #expect(value.numberValue?.bitPattern == Double(text)!.bitPattern, "\(text)")
    }

    static func object(_ count: Int, duplicateOf: Int? = nil) -> String {
        var members = (0..<count).map { "\"k\($0)\":\($0)" }
        if let d = duplicateOf { members.append("\"k\(d)\":true") }
        return "{" + members.joined(separator: ",") + "}"
    }

    @Test("duplicate keys are rejected at the repeated key, in small and large objects")
    func duplicates() throws {
        for count in [1, 2, 15, 16, 17, 40] {
            let valid = try JSONParser.parse(Self.object(count))
            #expect(valid.objectValue?.count == count)
            #expect(valid["k\(count - 1)"] == .number(Double(count - 1)))
            for d in Set([0, count / 2, count - 1]) {
                let text = Self.object(count, duplicateOf: d)
                let offset = text.utf8.count - "\"k\(d)\":true}".utf8.count
                do { _ = try JSONParser.parse(text); Issue.record("accepted \(text)") } catch {
                    #expect(error.kind == .duplicateKey("k\(d)"))
                    #expect(error.offset == offset)
                }
            }
        }
    }

    @Test(arguments: [
        ("{\"é\":1,\"e\u{301}\":2}", true),             // canonically equivalent keys are the same key
        ("{\"a\":{\"a\":{\"a\":1}},\"b\":{\"a\":2}}", false), // same key in different objects
        ("{\"a\":[{\"a\":1},{\"a\":2}],\"c\":3}", false),
        ("{\"a\":1,\"A\":2}", false),
        ("{\"\":1,\"\":2}", true),
    ])
    func duplicateRelation(text: String, duplicate: Bool) {
        do {
            _ = try JSONParser.parse(text)
            #expect(!duplicate)
        } catch {
            #expect(duplicate, "\(error)")
            if case .duplicateKey = error.kind {} else { Issue.record("\(error)") }
        }
    }

    @Test("nested objects come back whole after sharing the member buffer")
    func nested() throws {
        let v = try JSONParser.parse(#"{"a":1,"n":{"x":{"y":[{"z":null},{}]},"w":"v"},"b":[{"c":2}],"d":{}}"#)
        #expect(v == .object([
            "a": .number(1),
            "n": .object(["x": .object(["y": .array([.object(["z": .null]), .object([:])])]), "w": .string("v")]),
            "b": .array([.object(["c": .number(2)])]),
            "d": .object([:]),
        ]))
    }

    @Test("a value error inside an object wins over a later duplicate")
    func errorOrder() {
        do { _ = try JSONParser.parse(#"{"a":1,"a":x}"#); Issue.record("accepted") } catch {
            #expect(error.kind == .unexpectedByte(UInt8(ascii: "x")))
        }
    }
}
