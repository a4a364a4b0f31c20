import WardenYAML

/// A node plus its field path, with typed accessors that throw `PolicyLoadError` naming file, line and path.
struct YAMLCursor {
    let node: YAMLNode
    let path: String
    let file: String

    func error(_ message: String) -> PolicyLoadError {
        PolicyLoadError(file: file, line: node.mark.line, column: node.mark.column, fieldPath: path, message: message)
    }

    func child(_ key: String, _ node: YAMLNode) -> YAMLCursor {
        YAMLCursor(node: node, path: path.isEmpty ? key : "\(path).\(key)", file: file)
    }

    /// Mapping entries, rejecting non-string keys, duplicates and keys outside `allowed` (when given).
    func fields(allowed: Set<String>? = nil) throws(PolicyLoadError) -> [String: YAMLCursor] {
        if node.isNull { return [:] }
        guard let pairs = node.mapping else { throw error("expected a mapping, found \(node.kindName)") }
        var out: [String: YAMLCursor] = [:]
        for pair in pairs {
            guard let key = pair.key.scalar?.value else {
                throw YAMLCursor(node: pair.key, path: path, file: file).error("mapping keys must be strings")
            }
            let c = child(key, pair.value)
            if out[key] != nil { throw YAMLCursor(node: pair.key, path: c.path, file: file).error("duplicate field") }
            if let allowed, !allowed.contains(key) {
                throw YAMLCursor(node: pair.key, path: c.path, file: file).error("unknown field (expected one of: \(allowed.sorted().joined(separator: ", ")))")
            }
            out[key] = c
        }
        return out
    }

    var isNull: Bool { node.isNull }

    func string() throws(PolicyLoadError) -> String {
        guard let s = node.scalar, !s.isNull else { throw error("expected a string, found \(node.kindName)") }
        return s.value
    }

    func bool() throws(PolicyLoadError) -> Bool {
        guard let s = node.scalar, let b = s.boolValue else {
            throw error("expected a boolean (true or false), found \(node.scalar.map { "\($0.style == .plain ? "" : "quoted ")\"\($0.value)\"" } ?? node.kindName)")
        }
        return b
    }

    /// Elements of a sequence; null means empty.
    func list() throws(PolicyLoadError) -> [YAMLCursor] {
        if node.isNull { return [] }
        guard let items = node.sequence else { throw error("expected a list, found \(node.kindName)") }
        return items.enumerated().map { YAMLCursor(node: $0.element, path: "\(path)[\($0.offset)]", file: file) }
    }

    /// A list of non-empty strings (plain numbers are taken as text, e.g. ports `[80]`).
    func stringList(allowEmpty: Bool = false) throws(PolicyLoadError) -> [String] {
        if node.isNull { return [] }
        guard let items = node.sequence else { throw error("expected a list of strings, found \(node.kindName)") }
        var out: [String] = []
        for (i, item) in items.enumerated() {
            guard let s = item.scalar, !s.isNull else {
                throw YAMLCursor(node: item, path: "\(path)[\(i)]", file: file).error("expected a list of strings, found \(item.kindName)")
            }
            if s.value.isEmpty && !allowEmpty {
                throw YAMLCursor(node: item, path: "\(path)[\(i)]", file: file).error("empty value not allowed")
            }
            out.append(s.value)
        }
        return out
    }

    /// A mapping of string to string (labels, matchLabels, annotations).
    func stringMap() throws(PolicyLoadError) -> [String: String] {
        var out: [String: String] = [:]
        for (key, value) in try fields() {
            guard let s = value.node.scalar, !s.isNull else { throw value.error("expected a string, found \(value.node.kindName)") }
            out[key] = s.value
        }
        return out
    }
}
