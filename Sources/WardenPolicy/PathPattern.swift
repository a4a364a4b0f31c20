import WardenJSON

/// A compiled `paths`/`notPaths` entry: an Istio string pattern or an Envoy URI template
/// (`{*}` = exactly one non-empty path segment, `{**}` = the rest of the path, possibly empty).
public enum PathPattern: Sendable, Hashable, CustomStringConvertible {
    case string(StringPattern)
    case template(source: String, tokens: [TemplateToken])

    public enum TemplateToken: Sendable, Hashable {
        case literal(String)
        case oneSegment
        case anySegments
    }

    public init(_ text: String) {
        if PathPattern.isTemplate(text) {
            // Byte-wise (a combining mark after `}` must not hide the operator, as it would from Characters).
            var tokens: [TemplateToken] = []
            var rest = text.utf8[...]
            var literal: [UInt8] = []
            func flush() {
                if !literal.isEmpty { tokens.append(.literal(String(decoding: literal, as: UTF8.self))); literal = [] }
            }
            while let b = rest.first {
                if rest.starts(with: "{**}".utf8) {
                    flush()
                    tokens.append(.anySegments)
                    rest = rest.dropFirst(4)
                } else if rest.starts(with: "{*}".utf8) {
                    flush()
                    tokens.append(.oneSegment)
                    rest = rest.dropFirst(3)
                } else {
                    literal.append(b)
                    rest = rest.dropFirst()
                }
            }
            flush()
            self = .template(source: text, tokens: tokens)
        } else {
            self = .string(StringPattern(text))
        }
    }

    static func isTemplate(_ text: String) -> Bool { text.bytesContain("{*}") || text.bytesContain("{**}") }

    /// Why Istio rejects `text` as a path (`CheckValidPathTemplate` in `pkg/config/security/security.go`),
    /// or nil. Checked per `/`-separated segment (leading and trailing `/` trimmed): a `{*}` or `{**}`
    /// after a `{**}`, braces anywhere but in a whole-segment `{*}`/`{**}`, and — in a path that uses a
    /// template — any literal segment that is empty or not made of RFC 3986 `pchar`s (no `*`, `?`, space…).
    /// Byte-wise, as istiod's Go string functions.
    static func templateProblem(_ text: String) -> String? {
        let hasTemplate = isTemplate(text)
        var sawAnySegments = false
        var trimmed = Substring(text)
        while trimmed.utf8.first == UInt8(ascii: "/") { trimmed = Substring(trimmed.utf8.dropFirst()) }
        while trimmed.utf8.last == UInt8(ascii: "/") { trimmed = Substring(trimmed.utf8.dropLast()) }
        for segment in trimmed.bytesSplit(separator: UInt8(ascii: "/")) {
            if segment.bytesEqual("{*}") || segment.bytesEqual("{**}") {
                if sawAnySegments { return "{**} must be the last operator" }
                if segment.bytesEqual("{**}") { sawAnySegments = true }
                continue
            }
            if segment.utf8.contains(UInt8(ascii: "{")) || segment.utf8.contains(UInt8(ascii: "}")) { return "only {*} and {**} are supported" }
            if hasTemplate && !isPathLiteral(segment) { return "segment \"\(segment)\" is not a valid path literal" }
        }
        return nil
    }

    /// Istio's `^[a-zA-Z0-9-._~%!$&'()+,;:@=]+$`.
    static func isPathLiteral(_ segment: Substring) -> Bool {
        !segment.isEmpty && segment.utf8.allSatisfy { b in
            (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
                || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || "-._~%!$&'()+,;:@=".utf8.contains(b)
        }
    }

    /// Matches a normalized path (no query string).
    public func matches(_ path: String) -> Bool {
        switch self {
        case .string(let p): return p.matches(path)
        case .template(_, let tokens): return PathPattern.match(tokens[...], Array(path.utf8)[...])
        }
    }

    private static func match(_ tokens: ArraySlice<TemplateToken>, _ path: ArraySlice<UInt8>) -> Bool {
        guard let token = tokens.first else { return path.isEmpty }
        let rest = tokens.dropFirst()
        switch token {
        case .literal(let s):
            let lit = Array(s.utf8)
            guard path.count >= lit.count, path.prefix(lit.count).elementsEqual(lit) else { return false }
            return match(rest, path.dropFirst(lit.count))
        case .oneSegment:
            var end = path.startIndex
            while end < path.endIndex && path[end] != UInt8(ascii: "/") {
                end += 1
                if match(rest, path[end...]) { return true }
            }
            return false
        case .anySegments:
            var end = path.startIndex
            while true {
                if match(rest, path[end...]) { return true }
                if end == path.endIndex { return false }
                end += 1
            }
        }
    }

    public var description: String {
        switch self {
        case .string(let p): return p.description
        case .template(let source, _): return source
        }
    }
}
