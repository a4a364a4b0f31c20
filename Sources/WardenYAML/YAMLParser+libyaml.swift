internal import CYAML

/// Parses YAML streams with libyaml's event API into `YAMLNode` trees.
///
/// Aliases are rejected (anchors alone are accepted and ignored), so the tree is never larger than
/// the input; size, node count, depth and document count are bounded by `YAMLLimits`.
public enum YAMLParser {
    /// Parses every document of `text`.
    /// - Parameter file: name used in error messages.
    public static func parse(_ text: String, file: String = "<input>", limits: YAMLLimits = .default) throws(YAMLError) -> [YAMLDocument] {
        var bytes = Array(text.utf8)
        return try parse(bytes: &bytes, file: file, limits: limits)
    }

    /// Parses every document of UTF-8 `bytes`.
    public static func parse(bytes: [UInt8], file: String = "<input>", limits: YAMLLimits = .default) throws(YAMLError) -> [YAMLDocument] {
        var copy = bytes
        return try parse(bytes: &copy, file: file, limits: limits)
    }

    private static func parse(bytes: inout [UInt8], file: String, limits: YAMLLimits) throws(YAMLError) -> [YAMLDocument] {
        if bytes.count > limits.maxBytes {
            throw YAMLError(file: file, mark: YAMLMark(line: 1, column: 1), reason: .tooLarge(bytes: bytes.count, limit: limits.maxBytes))
        }
        let parser = EventParser()
        let result: Result<[YAMLDocument], YAMLError> = bytes.withUnsafeBufferPointer { buffer in
            parser.setInput(buffer)
            var builder = TreeBuilder(file: file, limits: limits)
            do {
                while true {
                    let event = try parser.next(file: file)
                    if try builder.consume(event) { break }
                }
                return .success(builder.documents)
            } catch let error as YAMLError {
                return .failure(error)
            } catch {
                return .failure(YAMLError(file: file, mark: YAMLMark(line: 1, column: 1), reason: .syntax(problem: "\(error)")))
            }
        }
        return try result.get()
    }
}

/// A libyaml event converted to Swift values (the C event is freed right away).
struct Event {
    enum Kind {
        case streamStart, streamEnd, documentStart, documentEnd
        case alias(String)
        case scalar(YAMLScalar)
        case sequenceStart, sequenceEnd, mappingStart, mappingEnd
    }
    var kind: Kind
    var mark: YAMLMark
}

/// Owns a heap-allocated `yaml_parser_t`; the input buffer must outlive parsing (libyaml keeps a pointer).
final class EventParser {
    private let parser: UnsafeMutablePointer<yaml_parser_t>
    private var finished = false

    init() {
        parser = .allocate(capacity: 1)
        yaml_parser_initialize(parser)
    }

    deinit {
        yaml_parser_delete(parser)
        parser.deallocate()
    }

    func setInput(_ buffer: UnsafeBufferPointer<UInt8>) {
        yaml_parser_set_input_string(parser, buffer.baseAddress ?? UnsafePointer(bitPattern: 1), buffer.count)
    }

    /// The next event, or a `YAMLError` carrying libyaml's problem text and mark.
    func next(file: String) throws(YAMLError) -> Event {
        var event = yaml_event_t()
        guard yaml_parser_parse(parser, &event) == 1 else { throw currentError(file: file) }
        defer { yaml_event_delete(&event) }
        let mark = YAMLMark(line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
        switch event.type {
        case YAML_STREAM_START_EVENT: return Event(kind: .streamStart, mark: mark)
        case YAML_STREAM_END_EVENT: return Event(kind: .streamEnd, mark: mark)
        case YAML_DOCUMENT_START_EVENT: return Event(kind: .documentStart, mark: mark)
        case YAML_DOCUMENT_END_EVENT: return Event(kind: .documentEnd, mark: mark)
        case YAML_ALIAS_EVENT:
            return Event(kind: .alias(string(event.data.alias.anchor) ?? ""), mark: mark)
        case YAML_SCALAR_EVENT:
            let s = event.data.scalar
            let value: String
            if let ptr = s.value, s.length > 0 {
                value = String(decoding: UnsafeBufferPointer(start: ptr, count: Int(s.length)), as: UTF8.self)
            } else {
                value = ""
            }
            let style: YAMLScalarStyle
            switch s.style {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE: style = .singleQuoted
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE: style = .doubleQuoted
            case YAML_LITERAL_SCALAR_STYLE: style = .literal
            case YAML_FOLDED_SCALAR_STYLE: style = .folded
            default: style = .plain
            }
            return Event(kind: .scalar(YAMLScalar(value: value, style: style, tag: string(s.tag))), mark: mark)
        case YAML_SEQUENCE_START_EVENT: return Event(kind: .sequenceStart, mark: mark)
        case YAML_SEQUENCE_END_EVENT: return Event(kind: .sequenceEnd, mark: mark)
        case YAML_MAPPING_START_EVENT: return Event(kind: .mappingStart, mark: mark)
        case YAML_MAPPING_END_EVENT: return Event(kind: .mappingEnd, mark: mark)
        default:
            throw YAMLError(file: file, mark: mark, reason: .syntax(problem: "unexpected YAML event"))
        }
    }

    private func string(_ ptr: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        guard let ptr else { return nil }
        return String(cString: UnsafeRawPointer(ptr).assumingMemoryBound(to: CChar.self))
    }

    /// The single funnel from libyaml's error fields to `YAMLError`.
    private func currentError(file: String) -> YAMLError {
        let p = parser.pointee
        var problem = p.problem.map { String(cString: $0) } ?? "invalid YAML"
        if let context = p.context.map({ String(cString: $0) }) {
            problem += " (\(context) at line \(p.context_mark.line + 1), column \(p.context_mark.column + 1))"
        }
        let mark = YAMLMark(line: Int(p.problem_mark.line) + 1, column: Int(p.problem_mark.column) + 1)
        return YAMLError(file: file, mark: mark, reason: .syntax(problem: problem))
    }
}

/// Builds node trees from events with a stack of open collections, enforcing the limits.
struct TreeBuilder {
    private enum Open {
        case sequence([YAMLNode], YAMLMark)
        case mapping([YAMLPair], pendingKey: YAMLNode?, YAMLMark)
    }

    let file: String
    let limits: YAMLLimits
    private(set) var documents: [YAMLDocument] = []
    private var stack: [Open] = []
    private var root: YAMLNode?
    private var documentMark = YAMLMark(line: 1, column: 1)
    private var nodes = 0

    init(file: String, limits: YAMLLimits) {
        self.file = file
        self.limits = limits
    }

    /// Feeds one event; returns true at the end of the stream.
    mutating func consume(_ event: Event) throws(YAMLError) -> Bool {
        switch event.kind {
        case .streamStart: return false
        case .streamEnd: return true
        case .documentStart:
            if documents.count >= limits.maxDocuments {
                throw YAMLError(file: file, mark: event.mark, reason: .tooManyDocuments(limit: limits.maxDocuments))
            }
            root = nil
            documentMark = event.mark
        case .documentEnd:
            documents.append(YAMLDocument(root: root, mark: documentMark))
            root = nil
        case .alias(let name):
            throw YAMLError(file: file, mark: event.mark, reason: .aliasNotAllowed(name))
        case .scalar(let scalar):
            try count(event.mark)
            try add(YAMLNode(.scalar(scalar), mark: event.mark))
        case .sequenceStart:
            try count(event.mark)
            try push(.sequence([], event.mark), mark: event.mark)
        case .mappingStart:
            try count(event.mark)
            try push(.mapping([], pendingKey: nil, event.mark), mark: event.mark)
        case .sequenceEnd, .mappingEnd:
            guard let top = stack.popLast() else { return false }
            switch top {
            case .sequence(let items, let mark): try add(YAMLNode(.sequence(items), mark: mark))
            case .mapping(let pairs, _, let mark): try add(YAMLNode(.mapping(pairs), mark: mark))
            }
        }
        return false
    }

    private mutating func count(_ mark: YAMLMark) throws(YAMLError) {
        nodes += 1
        if nodes > limits.maxNodes { throw YAMLError(file: file, mark: mark, reason: .tooManyNodes(limit: limits.maxNodes)) }
    }

    private mutating func push(_ open: Open, mark: YAMLMark) throws(YAMLError) {
        if stack.count >= limits.maxDepth { throw YAMLError(file: file, mark: mark, reason: .tooDeep(limit: limits.maxDepth)) }
        stack.append(open)
    }

    private mutating func add(_ node: YAMLNode) throws(YAMLError) {
        guard let top = stack.popLast() else {
            root = node
            return
        }
        switch top {
        case .sequence(var items, let mark):
            items.append(node)
            stack.append(.sequence(items, mark))
        case .mapping(var pairs, let pendingKey, let mark):
            if let key = pendingKey {
                pairs.append(YAMLPair(key: key, value: node))
                stack.append(.mapping(pairs, pendingKey: nil, mark))
            } else {
                stack.append(.mapping(pairs, pendingKey: node, mark))
            }
        }
    }
}
