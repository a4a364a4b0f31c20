import Testing
import WardenYAML

@Suite struct YAMLParserTests {
    @Test func multiDocumentStreamWithMarksAndStyles() throws {
        let docs = try YAMLParser.parse("""
            a: true
            b: "true"
            c: [1, 'x']
            ---
            - k: |
                text
            ...
            ---
            """)
        #expect(docs.count == 3)
        let root = try #require(docs[0].root)
        #expect(root["a"]?.scalar?.boolValue == true)
        #expect(root["b"]?.scalar?.boolValue == nil)
        #expect(root["b"]?.scalar?.style == .doubleQuoted)
        #expect(root["b"]?.mark == YAMLMark(line: 2, column: 4))
        #expect(root["c"]?.sequence?.map { $0.scalar?.value } == ["1", "x"])
        #expect(root.mapping?.map { $0.key.scalar?.value } == ["a", "b", "c"])
        #expect(docs[1].root?.sequence?.first?["k"]?.scalar == YAMLScalar(value: "text\n", style: .literal))
        #expect(docs[1].mark.line == 4)
        #expect(docs[2].root?.isNull ?? true)
    }

    @Test func billionLaughsIsRejectedQuickly() {
        var text = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        var previous = "a"
        for name in ["b", "c", "d", "e", "f", "g", "h", "i"] {
            text += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ",") + "]\n"
            previous = name
        }
        let clock = ContinuousClock()
        let start = clock.now
        #expect(throws: YAMLError.self) { try YAMLParser.parse(text, file: "lol.yaml") }
        #expect(clock.now - start < .seconds(1))
        do {
            _ = try YAMLParser.parse(text, file: "lol.yaml")
        } catch {
            #expect(error.description == "lol.yaml:2:8: YAML aliases are not supported (found *a)")
        }
    }

    @Test func limitsBoundDepthNodesAndSize() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: YAMLError(file: "<input>", mark: YAMLMark(line: 1, column: 65), reason: .tooDeep(limit: 64))) {
            try YAMLParser.parse(deep)
        }
        let many = "[" + Array(repeating: "1", count: 200).joined(separator: ",") + "]"
        #expect(throws: YAMLError.self) { try YAMLParser.parse(many, limits: YAMLLimits(maxNodes: 100)) }
        #expect(throws: YAMLError.self) { try YAMLParser.parse(many, limits: YAMLLimits(maxBytes: 100)) }
    }

    @Test func syntaxErrorsCarryLibyamlProblemAndPosition() {
        do {
            _ = try YAMLParser.parse("a: b\n  c: d\n", file: "bad.yaml")
            Issue.record("parsed invalid YAML")
        } catch {
            #expect(error.file == "bad.yaml")
            #expect(error.mark.line == 2)
            #expect(error.message.contains("mapping values are not allowed"))
        }
    }
}
