/// A YAML input that could not be turned into documents.
public struct YAMLError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// libyaml rejected the input; `problem` is libyaml's text (plus its context, if any).
        case syntax(problem: String)
        /// Aliases (`*name`) are refused: they allow exponential expansion ("billion laughs").
        case aliasNotAllowed(String)
        case tooLarge(bytes: Int, limit: Int)
        case tooManyNodes(limit: Int)
        case tooDeep(limit: Int)
        case tooManyDocuments(limit: Int)
    }

    public var file: String
    public var mark: YAMLMark
    public var reason: Reason

    public init(file: String, mark: YAMLMark, reason: Reason) {
        self.file = file
        self.mark = mark
        self.reason = reason
    }

    public var message: String {
        switch reason {
        case .syntax(let problem): return problem
        case .aliasNotAllowed(let name): return "YAML aliases are not supported (found *\(name))"
        case .tooLarge(let bytes, let limit): return "YAML input of \(bytes) bytes exceeds the limit of \(limit) bytes"
        case .tooManyNodes(let limit): return "YAML input has more than \(limit) nodes"
        case .tooDeep(let limit): return "YAML input nests deeper than \(limit) levels"
        case .tooManyDocuments(let limit): return "YAML input has more than \(limit) documents"
        }
    }

    /// `file:line:column: message`.
    public var description: String { "\(file):\(mark.line):\(mark.column): \(message)" }
}

/// Bounds that keep hostile input cheap to reject.
public struct YAMLLimits: Sendable, Equatable {
    public var maxBytes: Int
    public var maxNodes: Int
    public var maxDepth: Int
    public var maxDocuments: Int

    public init(maxBytes: Int = 8 << 20, maxNodes: Int = 1_000_000, maxDepth: Int = 64, maxDocuments: Int = 10_000) {
        self.maxBytes = maxBytes
        self.maxNodes = maxNodes
        self.maxDepth = maxDepth
        self.maxDocuments = maxDocuments
    }

    public static let `default` = YAMLLimits()
}
