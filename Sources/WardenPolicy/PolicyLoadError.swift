import WardenYAML

/// One problem found while loading policy files: `file:line: field.path: message`.
public struct PolicyLoadError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    /// e.g. `spec.rules[0].to[0].operation.methods`; empty for file-level problems.
    public var fieldPath: String
    public var message: String

    public init(file: String, line: Int, column: Int = 0, fieldPath: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.fieldPath = fieldPath
        self.message = message
    }

    init(_ yaml: YAMLError) {
        self.init(file: yaml.file, line: yaml.mark.line, column: yaml.mark.column, fieldPath: "", message: yaml.message)
    }

    public var description: String {
        fieldPath.isEmpty ? "\(file):\(line): \(message)" : "\(file):\(line): \(fieldPath): \(message)"
    }
}

/// Loading failed; every problem found is listed (the previous policy set should keep serving).
public struct PolicyLoadFailure: Error, Sendable, CustomStringConvertible {
    public var errors: [PolicyLoadError]

    public init(errors: [PolicyLoadError]) { self.errors = errors }

    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

/// A non-fatal observation made while loading or scoping (skipped kinds, ignored CUSTOM policies, …).
public struct PolicyNote: Sendable, Hashable, CustomStringConvertible {
    public enum Level: String, Sendable, Hashable { case info, warning }

    public var level: Level
    /// `file:line` or `namespace/name`.
    public var location: String
    public var message: String

    public init(level: Level, location: String, message: String) {
        self.level = level
        self.location = location
        self.message = message
    }

    public var description: String { "\(level.rawValue): \(location): \(message)" }
}
