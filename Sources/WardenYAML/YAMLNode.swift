/// A position in a YAML source, 1-based.
public struct YAMLMark: Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public var description: String { "\(line):\(column)" }
}

/// How a scalar was written; tells `"true"` (a string) from `true` (a plain scalar).
public enum YAMLScalarStyle: Sendable, Hashable {
    case plain, singleQuoted, doubleQuoted, literal, folded
}

/// A scalar with its source text, style and explicit tag (e.g. `!!str`), if any.
public struct YAMLScalar: Sendable, Hashable {
    public var value: String
    public var style: YAMLScalarStyle
    public var tag: String?

    public init(value: String, style: YAMLScalarStyle = .plain, tag: String? = nil) {
        self.value = value
        self.style = style
        self.tag = tag
    }

    /// True for a plain (untagged) `null`, `~` or empty scalar: YAML's null.
    public var isNull: Bool {
        guard style == .plain, tag == nil else { return tag == "tag:yaml.org,2002:null" }
        switch value {
        case "", "~", "null", "Null", "NULL": return true
        default: return false
        }
    }

    /// The YAML 1.2 core-schema boolean of a plain scalar, or nil (quoted "true" is a string).
    public var boolValue: Bool? {
        guard style == .plain, tag == nil || tag == "tag:yaml.org,2002:bool" else { return nil }
        switch value {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: return nil
        }
    }

    /// The integer of a plain decimal scalar, or nil.
    public var intValue: Int? {
        guard style == .plain, tag == nil || tag == "tag:yaml.org,2002:int" else { return nil }
        return Int(value)
    }
}

/// One key/value entry of a mapping, in source order.
public struct YAMLPair: Sendable, Hashable {
    public var key: YAMLNode
    public var value: YAMLNode

    public init(key: YAMLNode, value: YAMLNode) {
        self.key = key
        self.value = value
    }
}

/// A YAML node with the mark where it starts.
public struct YAMLNode: Sendable, Hashable {
    public indirect enum Kind: Sendable, Hashable {
        case scalar(YAMLScalar)
        case sequence([YAMLNode])
        case mapping([YAMLPair])
    }

    public var kind: Kind
    public var mark: YAMLMark

    public init(_ kind: Kind, mark: YAMLMark) {
        self.kind = kind
        self.mark = mark
    }

    public var scalar: YAMLScalar? {
        if case .scalar(let s) = kind { return s }
        return nil
    }

    public var sequence: [YAMLNode]? {
        if case .sequence(let items) = kind { return items }
        return nil
    }

    public var mapping: [YAMLPair]? {
        if case .mapping(let pairs) = kind { return pairs }
        return nil
    }

    /// True for a null scalar.
    public var isNull: Bool { scalar?.isNull ?? false }

    /// The value of the first mapping entry whose key is the scalar `key`, or nil.
    public subscript(key: String) -> YAMLNode? {
        guard case .mapping(let pairs) = kind else { return nil }
        return pairs.first { $0.key.scalar?.value == key }?.value
    }

    /// A short name of the node's kind for error messages.
    public var kindName: String {
        switch kind {
        case .scalar(let s): return s.isNull ? "null" : "a scalar"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }
}

/// One document of a YAML stream. `root` is nil for an empty document.
public struct YAMLDocument: Sendable, Hashable {
    public var root: YAMLNode?
    /// Where the document starts.
    public var mark: YAMLMark

    public init(root: YAMLNode?, mark: YAMLMark) {
        self.root = root
        self.mark = mark
    }
}
