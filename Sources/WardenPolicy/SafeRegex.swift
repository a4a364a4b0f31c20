/// A linear-time regular expression for Envoy's `safe_regex` (Google RE2 syntax,
/// https://github.com/google/re2/wiki/Syntax), whole-string match only.
///
/// The pattern is parsed into a small tree and compiled into a Thompson NFA program, which `SafeRegexVM.swift`
/// runs as a Pike VM (a set of NFA states advanced one text character at a time): no backtracking, so a match
/// costs O(length of text × program size) whatever the pattern, as RE2. There are no captures (a boolean whole
/// match needs none), so greedy and lazy quantifiers give the same answer.
///
/// The unit of matching is the Unicode scalar (`.` and `[^a]` consume one scalar), as RE2 on UTF-8 text
/// consumes one code point; a request path is ASCII in practice.
///
/// Supported: literals; `.` (not `\n` unless `(?s)`); classes `[abc]`, `[a-z]`, `[^…]`, `[[:alpha:]]`,
/// escapes in classes; `\d \D \w \W \s \S` (ASCII, as RE2); `\b \B`; `\A \z`; `^ $` (text begin/end, lines
/// with `(?m)`); escaped punctuation; `\a \f \t \n \r \v`, octal `\123`, hex `\x7F` / `\x{10FFFF}`; `\Q…\E`;
/// groups `( )`, `(?: )`, `(?P<name> )`, `(?<name> )`; `|`; `* + ?`, `{n}`, `{n,}`, `{n,m}` and their lazy
/// forms; flags `(?imsU)`, `(?i:…)`, `(?-i)` (`i` folds case by simple Unicode case mapping).
///
/// Refused, as RE2 refuses them: back-references (`\1`, `\k<n>`, `(?P=n)`), lookahead and lookbehind,
/// atomic groups and possessive quantifiers, recursion, comments `(?#…)`, `\Z \G \K \R \X …`, repetition
/// counts over 1000. Nesting deeper than 100 is refused too (RE2 allows 1000; parsing and compiling recurse per
/// level, and 1000 levels overflowed a 512 KiB thread stack under AddressSanitizer). Refused because this matcher lacks them: `\pN`/`\p{Greek}`
/// Unicode classes and `\C` (one byte). A compiled program over `SafeRegex.maxProgramSize` instructions is
/// refused too.
struct SafeRegex: Sendable {
    /// The bound on compiled instructions (RE2's own limit is on its program size; Envoy warns at 100 of its units).
    static let maxProgramSize = 10_000
    /// RE2's bound on `{n,m}` counts.
    static let maxRepeat = 1000
    /// The bound on nesting (RE2's is 1000): parsing and compiling recurse once per level, and policies load on
    /// threads with small stacks (1000 levels overflowed one under AddressSanitizer).
    static let maxDepth = 100

    let program: SafeRegexProgram

    init(_ pattern: String) throws(SafeRegexError) {
        var parser = SafeRegexParser(pattern)
        let tree = try parser.parse()
        var compiler = SafeRegexCompiler()
        program = try compiler.compile(tree)
    }
}

/// Why a pattern was refused: the construct and where it starts (a 0-based position in Unicode scalars).
public struct SafeRegexError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String
    public let offset: Int

    public var description: String { "\(message) (at position \(offset))" }
}

/// Zero-width assertions.
enum SafeRegexAssertion: Sendable, Hashable {
    case beginText, endText, beginLine, endLine, wordBoundary, notWordBoundary
}

/// A set of scalars: sorted, non-overlapping ranges; `negated` and `foldCase` are applied when matching
/// (fold first, as RE2 folds a class before negating it).
struct SafeRegexCharSet: Sendable, Hashable {
    var ranges: [ClosedRange<UInt32>]
    var negated = false
    var foldCase = false

    func contains(_ v: UInt32) -> Bool {
        // Binary search over the sorted ranges.
        var lo = 0, hi = ranges.count
        while lo < hi {
            let mid = (lo + hi) / 2
            let r = ranges[mid]
            if v < r.lowerBound { hi = mid } else if v > r.upperBound { lo = mid + 1 } else { return true }
        }
        return false
    }

    /// Sorted and merged.
    static func normalized(_ rs: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        let sorted = rs.sorted { $0.lowerBound < $1.lowerBound }
        var out: [ClosedRange<UInt32>] = []
        for r in sorted {
            if let last = out.last, r.lowerBound <= last.upperBound &+ 1 {
                out[out.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                out.append(r)
            }
        }
        return out
    }

    /// The complement over all scalar values (0…0x10FFFF) of normalized ranges.
    static func complement(_ rs: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var out: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for r in rs {
            if r.lowerBound > next { out.append(next...(r.lowerBound - 1)) }
            next = r.upperBound + 1
        }
        if next <= 0x10FFFF { out.append(next...0x10FFFF) }
        return out
    }

    // RE2's Perl classes are ASCII.
    static let digit: [ClosedRange<UInt32>] = [0x30...0x39]
    static let word: [ClosedRange<UInt32>] = [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A]
    static let space: [ClosedRange<UInt32>] = [0x09...0x0A, 0x0C...0x0D, 0x20...0x20]

    /// RE2's ASCII classes `[[:name:]]`.
    static func posix(_ name: String) -> [ClosedRange<UInt32>]? {
        switch name {
        case "alnum": return [0x30...0x39, 0x41...0x5A, 0x61...0x7A]
        case "alpha": return [0x41...0x5A, 0x61...0x7A]
        case "ascii": return [0x00...0x7F]
        case "blank": return [0x09...0x09, 0x20...0x20]
        case "cntrl": return [0x00...0x1F, 0x7F...0x7F]
        case "digit": return digit
        case "graph": return [0x21...0x7E]
        case "lower": return [0x61...0x7A]
        case "print": return [0x20...0x7E]
        case "punct": return [0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E]
        case "space": return [0x09...0x0D, 0x20...0x20]
        case "upper": return [0x41...0x5A]
        case "word": return word
        case "xdigit": return [0x30...0x39, 0x41...0x46, 0x61...0x66]
        default: return nil
        }
    }
}

/// The parsed pattern.
indirect enum SafeRegexNode: Sendable {
    case empty
    case char(UInt32)
    /// A cased character under `(?i)`: matches any scalar with the same case key.
    case charFold(UInt32)
    case set(SafeRegexCharSet)
    case any(matchesNewline: Bool)
    case assert(SafeRegexAssertion)
    case concat([SafeRegexNode])
    case alternate([SafeRegexNode])
    /// `max == nil`: unbounded.
    case `repeat`(SafeRegexNode, min: Int, max: Int?)
}

/// Simple case mapping (one scalar to one scalar), for `(?i)`.
enum SafeRegexCase {
    static func lower(_ v: UInt32) -> UInt32 {
        if v < 0x80 { return (0x41...0x5A).contains(v) ? v + 0x20 : v }
        return single(Unicode.Scalar(v)?.properties.lowercaseMapping) ?? v
    }

    static func upper(_ v: UInt32) -> UInt32 {
        if v < 0x80 { return (0x61...0x7A).contains(v) ? v - 0x20 : v }
        return single(Unicode.Scalar(v)?.properties.uppercaseMapping) ?? v
    }

    /// Equal for scalars that fold together (`k`, `K`, KELVIN SIGN; `s`, `S`, LONG S; `σ`, `ς`, `Σ`).
    static func key(_ v: UInt32) -> UInt32 { lower(upper(v)) }

    static func hasCase(_ v: UInt32) -> Bool { lower(v) != v || upper(v) != v }

    private static func single(_ s: String?) -> UInt32? {
        guard let s else { return nil }
        var it = s.unicodeScalars.makeIterator()
        guard let first = it.next(), it.next() == nil else { return nil }
        return first.value
    }
}

struct SafeRegexParser {
    struct Flags {
        var caseInsensitive = false
        var multiLine = false
        var dotMatchesNewline = false
    }

    private let s: [Unicode.Scalar]
    private var i = 0
    private var names: Set<String> = []

    init(_ pattern: String) { s = Array(pattern.unicodeScalars) }

    mutating func parse() throws(SafeRegexError) -> SafeRegexNode {
        var flags = Flags()
        let tree = try parseAlternation(&flags, depth: 0)
        if i < s.count { throw fail("unmatched ')'", at: i) }  // parseAlternation stops only at `)` or the end
        return tree
    }

    // MARK: - Structure

    private func fail(_ message: String, at offset: Int) -> SafeRegexError { SafeRegexError(message: message, offset: offset) }

    private func peek(_ k: Int = 0) -> Unicode.Scalar? { i + k < s.count ? s[i + k] : nil }

    private mutating func parseAlternation(_ flags: inout Flags, depth: Int) throws(SafeRegexError) -> SafeRegexNode {
        var branches = [try parseConcat(&flags, depth: depth)]
        while peek() == "|" {
            i += 1
            branches.append(try parseConcat(&flags, depth: depth))
        }
        return branches.count == 1 ? branches[0] : .alternate(branches)
    }

    private mutating func parseConcat(_ flags: inout Flags, depth: Int) throws(SafeRegexError) -> SafeRegexNode {
        var items: [SafeRegexNode] = []
        while let c = peek(), c != "|", c != ")" {
            let start = i
            // nil: a `(?flags)` group, which changes `flags` and matches nothing.
            guard let atom = try parseAtom(&flags, depth: depth) else { continue }
            items.append(try parseQuantifiers(atom, start: start))
        }
        switch items.count {
        case 0: return .empty
        case 1: return items[0]
        default: return .concat(items)
        }
    }

    private mutating func parseQuantifiers(_ atom: SafeRegexNode, start: Int) throws(SafeRegexError) -> SafeRegexNode {
        guard let q = try parseQuantifier() else { return atom }
        // Lazy forms: same answer for a boolean match.
        if peek() == "?" { i += 1 }
        let opStart = i
        if let again = try parseQuantifier() {
            let text = String(String.UnicodeScalarView(s[q.start..<i]))
            if again.isPossessive {
                throw fail("possessive quantifier \(text) is not supported (RE2 refuses it)", at: q.start)
            }
            throw fail("bad repetition operator \(text) (a repetition cannot repeat directly; use a group)", at: opStart)
        }
        return .repeat(atom, min: q.min, max: q.max)
    }

    private struct Quantifier {
        var min: Int
        var max: Int?
        var start: Int
        var isPossessive: Bool
    }

    /// `* + ?` or a well-formed `{n}`, `{n,}`, `{n,m}` at `i` (a `{` that is not one is a literal, as RE2).
    private mutating func parseQuantifier() throws(SafeRegexError) -> Quantifier? {
        let start = i
        switch peek() {
        case "*": i += 1; return Quantifier(min: 0, max: nil, start: start, isPossessive: false)
        case "+": i += 1; return Quantifier(min: 1, max: nil, start: start, isPossessive: true)
        case "?": i += 1; return Quantifier(min: 0, max: 1, start: start, isPossessive: false)
        case "{":
            guard let (lo, hi, end) = scanCount(at: i) else { return nil }
            if lo > SafeRegex.maxRepeat || (hi ?? 0) > SafeRegex.maxRepeat {
                throw fail("repetition count in \(String(String.UnicodeScalarView(s[start..<end]))) exceeds \(SafeRegex.maxRepeat) (RE2's limit)", at: start)
            }
            if let hi, hi < lo {
                throw fail("bad repetition count \(String(String.UnicodeScalarView(s[start..<end]))): maximum below minimum", at: start)
            }
            i = end
            return Quantifier(min: lo, max: hi, start: start, isPossessive: false)
        default: return nil
        }
    }

    /// `{n}`, `{n,}` or `{n,m}` starting at `at`: the counts and the index after `}`. Counts are capped so a long
    /// digit string cannot overflow.
    private func scanCount(at: Int) -> (Int, Int?, Int)? {
        var j = at + 1
        func number(_ j: inout Int) -> Int? {
            var v = 0, digits = 0
            while j < s.count, ("0"..."9").contains(s[j]) {
                v = min(v * 10 + Int(s[j].value - 0x30), 1_000_000)
                digits += 1
                j += 1
            }
            return digits == 0 ? nil : v
        }
        guard let lo = number(&j) else { return nil }
        var hi: Int? = lo
        if j < s.count, s[j] == "," {
            j += 1
            if j < s.count, s[j] == "}" { hi = nil } else {
                guard let m = number(&j) else { return nil }
                hi = m
            }
        }
        guard j < s.count, s[j] == "}" else { return nil }
        return (lo, hi, j + 1)
    }

    // MARK: - Atoms

    private mutating func parseAtom(_ flags: inout Flags, depth: Int) throws(SafeRegexError) -> SafeRegexNode? {
        let start = i
        let c = s[i]
        switch c {
        case "(":
            return try parseGroup(&flags, depth: depth)
        case "[":
            return try parseClass(flags)
        case ".":
            i += 1
            return .any(matchesNewline: flags.dotMatchesNewline)
        case "^":
            i += 1
            return .assert(flags.multiLine ? .beginLine : .beginText)
        case "$":
            i += 1
            return .assert(flags.multiLine ? .endLine : .endText)
        case "\\":
            return try parseEscapeAtom(flags)
        case "*", "+", "?":
            throw fail("missing argument to repetition operator \(c)", at: start)
        case "{":
            if scanCount(at: i) != nil { throw fail("missing argument to repetition operator {", at: start) }
            i += 1
            return literal(c.value, flags)
        default:
            i += 1
            return literal(c.value, flags)
        }
    }

    private func literal(_ v: UInt32, _ flags: Flags) -> SafeRegexNode {
        flags.caseInsensitive && SafeRegexCase.hasCase(v) ? .charFold(SafeRegexCase.key(v)) : .char(v)
    }

    private mutating func parseGroup(_ flags: inout Flags, depth: Int) throws(SafeRegexError) -> SafeRegexNode? {
        let start = i
        if depth + 1 > SafeRegex.maxDepth { throw fail("nesting deeper than \(SafeRegex.maxDepth)", at: start) }
        i += 1  // (
        var inner = flags
        if peek() == "?" {
            i += 1
            switch peek() {
            case ":":
                i += 1
            case "P":
                switch peek(1) {
                case "<": i += 2; try parseGroupName(groupStart: start)
                case "=": throw fail("named back-reference (?P=name) is not supported (RE2 refuses back-references)", at: start)
                case ">": throw fail("recursion (?P>name) is not supported (RE2 refuses it)", at: start)
                default: throw fail("invalid named capture group (expected (?P<name>…))", at: start)
                }
            case "<":
                switch peek(1) {
                case "=": throw fail("lookbehind (?<=…) is not supported (RE2 refuses lookarounds)", at: start)
                case "!": throw fail("negative lookbehind (?<!…) is not supported (RE2 refuses lookarounds)", at: start)
                default: i += 1; try parseGroupName(groupStart: start)
                }
            case "=": throw fail("lookahead (?=…) is not supported (RE2 refuses lookarounds)", at: start)
            case "!": throw fail("negative lookahead (?!…) is not supported (RE2 refuses lookarounds)", at: start)
            case ">": throw fail("atomic group (?>…) is not supported (RE2 refuses it)", at: start)
            case "#": throw fail("comment group (?#…) is not supported (RE2 refuses it)", at: start)
            case "|": throw fail("branch reset group (?|…) is not supported (RE2 refuses it)", at: start)
            case "'": throw fail("named group (?'name'…) is not supported (RE2 accepts (?P<name>…) and (?<name>…))", at: start)
            case "R", "&", "+", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9":
                throw fail("recursion or subroutine call (?\(peek()!)…) is not supported (RE2 refuses it)", at: start)
            default:
                // Flags: (?imsU-imsU) for the rest of the enclosing group, or (?flags:re) for re.
                var negate = false, sawFlag = false, sawNegation = false
                while true {
                    guard let f = peek() else { throw fail("missing closing ) in flag group", at: start) }
                    i += 1
                    switch f {
                    case "i": inner.caseInsensitive = !negate; sawFlag = true
                    case "m": inner.multiLine = !negate; sawFlag = true
                    case "s": inner.dotMatchesNewline = !negate; sawFlag = true
                    case "U": sawFlag = true  // ungreedy: no effect on a boolean match
                    case "-":
                        if sawNegation { throw fail("invalid flag group: two '-'", at: start) }
                        negate = true; sawNegation = true; sawFlag = false
                    case ")", ":":
                        if !sawFlag { throw fail("invalid flag group \(String(String.UnicodeScalarView(s[start..<i])))", at: start) }
                        if f == ")" {
                            flags = inner
                            return nil
                        }
                    default:
                        throw fail("unknown flag \(f) in group \(String(String.UnicodeScalarView(s[start..<i]))) (RE2 knows i, m, s, U)", at: start)
                    }
                    if f == ":" { break }
                }
            }
        }
        let body = try parseAlternation(&inner, depth: depth + 1)
        guard peek() == ")" else { throw fail("missing closing )", at: start) }
        i += 1
        return body
    }

    /// After `(?P<` or `(?<`: a name of word characters, `>`.
    private mutating func parseGroupName(groupStart: Int) throws(SafeRegexError) {
        let nameStart = i
        while let c = peek(), c.isASCII, c == "_" || c.properties.isAlphabetic || ("0"..."9").contains(c) { i += 1 }
        guard peek() == ">", i > nameStart else {
            throw fail("invalid named capture group name (word characters, then >)", at: groupStart)
        }
        let name = String(String.UnicodeScalarView(s[nameStart..<i]))
        guard names.insert(name).inserted else { throw fail("duplicate capture group name \(name)", at: groupStart) }
        i += 1
    }

    // MARK: - Escapes

    private enum Escape {
        case scalar(UInt32)
        case set([ClosedRange<UInt32>], negated: Bool)
        case assert(SafeRegexAssertion)
        case quote
    }

    private mutating func parseEscapeAtom(_ flags: Flags) throws(SafeRegexError) -> SafeRegexNode? {
        switch try parseEscape(inClass: false) {
        case .scalar(let v): return literal(v, flags)
        case .set(let r, let negated): return .set(SafeRegexCharSet(ranges: r, negated: negated))
        case .assert(let a): return .assert(a)
        case .quote:
            // \Q…\E: literal text up to \E or the end (a backslash inside is literal too, as in RE2).
            var items: [SafeRegexNode] = []
            while i < s.count {
                if s[i] == "\\", peek(1) == "E" { i += 2; break }
                items.append(literal(s[i].value, flags))
                i += 1
            }
            // A quantifier after \Q…\E repeats the last character, as in RE2.
            if items.count > 1, let last = items.popLast() {
                let start = i
                let tail = try parseQuantifiers(last, start: start)
                return .concat(items + [tail])
            }
            return items.first ?? .empty
        }
    }

    private mutating func parseEscape(inClass: Bool) throws(SafeRegexError) -> Escape {
        let start = i
        i += 1  // backslash
        guard let c = peek() else { throw fail("trailing backslash at end of expression", at: start) }
        i += 1
        switch c {
        case "1", "2", "3", "4", "5", "6", "7":
            // A lone digit is a back-reference; \1 followed by an octal digit is an octal code, as in RE2.
            guard let d = peek(), ("0"..."7").contains(d) else {
                throw fail("back-reference \\\(c) is not supported (RE2 refuses back-references)", at: start)
            }
            i -= 1
            return .scalar(octal())
        case "8", "9":
            throw fail("back-reference \\\(c) is not supported (RE2 refuses back-references)", at: start)
        case "0":
            i -= 1
            return .scalar(octal())
        case "x":
            return .scalar(try hex(escapeStart: start))
        case "a": return .scalar(0x07)
        case "f": return .scalar(0x0C)
        case "t": return .scalar(0x09)
        case "n": return .scalar(0x0A)
        case "r": return .scalar(0x0D)
        case "v": return .scalar(0x0B)
        case "d": return .set(SafeRegexCharSet.digit, negated: false)
        case "D": return .set(SafeRegexCharSet.digit, negated: true)
        case "w": return .set(SafeRegexCharSet.word, negated: false)
        case "W": return .set(SafeRegexCharSet.word, negated: true)
        case "s": return .set(SafeRegexCharSet.space, negated: false)
        case "S": return .set(SafeRegexCharSet.space, negated: true)
        case "b", "B", "A", "z", "Q":
            if inClass { throw fail("\\\(c) is not valid in a character class", at: start) }
            switch c {
            case "b": return .assert(.wordBoundary)
            case "B": return .assert(.notWordBoundary)
            case "A": return .assert(.beginText)
            case "z": return .assert(.endText)
            default: return .quote
            }
        case "Z": throw fail("\\Z is not supported (RE2 refuses it; use \\z or $)", at: start)
        case "G": throw fail("\\G is not supported (RE2 refuses it)", at: start)
        case "k", "g": throw fail("back-reference \\\(c) is not supported (RE2 refuses back-references)", at: start)
        case "p", "P": throw fail("Unicode class \\\(c) is not supported by Warden's safe_regex matcher (use an explicit class)", at: start)
        case "C": throw fail("\\C (any byte) is not supported by Warden's safe_regex matcher, which matches characters", at: start)
        case "E": throw fail("\\E without \\Q", at: start)
        default:
            // Any ASCII punctuation may be escaped; letters, digits and other characters may not (as RE2).
            if c.isASCII, !c.properties.isAlphabetic, !("0"..."9").contains(c), c != "_" { return .scalar(c.value) }
            throw fail("invalid escape sequence \\\(c) (not RE2 syntax)", at: start)
        }
    }

    /// `\0`, `\12`, `\123`: up to three octal digits at `i`.
    private mutating func octal() -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<3 {
            guard let d = peek(), ("0"..."7").contains(d) else { break }
            v = v * 8 + (d.value - 0x30)
            i += 1
        }
        return v
    }

    /// After `\x`: two hex digits, or `{hex…}`.
    private mutating func hex(escapeStart: Int) throws(SafeRegexError) -> UInt32 {
        func digit(_ c: Unicode.Scalar?) -> UInt32? {
            guard let c, c.isASCII, let d = UInt32(String(c), radix: 16) else { return nil }
            return d
        }
        var v: UInt32 = 0
        if peek() == "{" {
            i += 1
            var n = 0
            while let d = digit(peek()) {
                v = v * 16 + d
                n += 1
                i += 1
                if v > 0x10FFFF { throw fail("invalid escape: \\x{…} beyond U+10FFFF", at: escapeStart) }
            }
            guard n > 0, peek() == "}" else { throw fail("invalid escape: \\x{ needs hex digits and }", at: escapeStart) }
            i += 1
        } else {
            guard let hi = digit(peek()), let lo = digit(peek(1)) else {
                throw fail("invalid escape: \\x needs two hex digits or {…}", at: escapeStart)
            }
            i += 2
            v = hi * 16 + lo
        }
        guard Unicode.Scalar(v) != nil else { throw fail("invalid escape: \\x{…} is not a Unicode scalar", at: escapeStart) }
        return v
    }

    // MARK: - Classes

    private mutating func parseClass(_ flags: Flags) throws(SafeRegexError) -> SafeRegexNode {
        let start = i
        i += 1  // [
        var negated = false
        if peek() == "^" { negated = true; i += 1 }
        var ranges: [ClosedRange<UInt32>] = []
        var first = true
        while true {
            guard let c = peek() else { throw fail("missing closing ] of character class", at: start) }
            if c == "]", !first { i += 1; break }
            first = false
            if c == "[", peek(1) == ":", let posix = try parsePosixClass() {
                ranges += posix
                continue
            }
            let itemStart = i
            let lo: UInt32
            switch try classAtom() {
            case .scalar(let v): lo = v
            case .set(let r, let neg): ranges += neg ? SafeRegexCharSet.complement(r) : r; continue
            default: throw fail("invalid character class item", at: itemStart)
            }
            if peek() == "-", let after = peek(1), after != "]" {
                i += 1
                guard case .scalar(let hi) = try classAtom() else {
                    throw fail("bad character class range: a class cannot end a range", at: itemStart)
                }
                guard hi >= lo else {
                    throw fail("bad character class range \(String(String.UnicodeScalarView(s[itemStart..<i]))): end below start", at: itemStart)
                }
                ranges.append(lo...hi)
            } else {
                ranges.append(lo...lo)
            }
        }
        return .set(SafeRegexCharSet(ranges: SafeRegexCharSet.normalized(ranges), negated: negated, foldCase: flags.caseInsensitive))
    }

    private mutating func classAtom() throws(SafeRegexError) -> Escape {
        guard let c = peek() else { throw fail("missing closing ] of character class", at: i) }
        if c == "\\" { return try parseEscape(inClass: true) }
        i += 1
        return .scalar(c.value)
    }

    /// `[:name:]` or `[:^name:]` at `i`; nil (nothing consumed) when there is no `:]`, so `[` is a literal.
    private mutating func parsePosixClass() throws(SafeRegexError) -> [ClosedRange<UInt32>]? {
        let start = i
        var j = i + 2
        while j + 1 < s.count, !(s[j] == ":" && s[j + 1] == "]") { j += 1 }
        guard j + 1 < s.count else { return nil }
        var name = String(String.UnicodeScalarView(s[(i + 2)..<j]))
        let negated = name.hasPrefix("^")
        if negated { name.removeFirst() }
        guard let r = SafeRegexCharSet.posix(name) else {
            throw fail("invalid character class [:\(negated ? "^" : "")\(name):]", at: start)
        }
        i = j + 2
        return negated ? SafeRegexCharSet.complement(r) : r
    }
}

// MARK: - Compiler

/// One NFA instruction.
enum SafeRegexInst: Sendable {
    case char(UInt32)
    case charFold(UInt32)
    case set(Int)
    case any
    case anyNotNewline
    case assert(SafeRegexAssertion)
    /// Either path (an ε-fork).
    case split(Int, Int)
    case jump(Int)
    case match
}

struct SafeRegexProgram: Sendable {
    var insts: [SafeRegexInst] = []
    var sets: [SafeRegexCharSet] = []
    /// Whether any instruction folds case (then the VM computes case keys of the text).
    var foldsCase = false
}

struct SafeRegexCompiler {
    private var p = SafeRegexProgram()
    private var setIndex: [SafeRegexCharSet: Int] = [:]

    mutating func compile(_ tree: SafeRegexNode) throws(SafeRegexError) -> SafeRegexProgram {
        try emit(tree)
        try add(.match)
        return p
    }

    @discardableResult
    private mutating func add(_ inst: SafeRegexInst) throws(SafeRegexError) -> Int {
        guard p.insts.count < SafeRegex.maxProgramSize else {
            throw SafeRegexError(message: "regex too large: the compiled program exceeds \(SafeRegex.maxProgramSize) instructions", offset: 0)
        }
        p.insts.append(inst)
        return p.insts.count - 1
    }

    private mutating func emit(_ node: SafeRegexNode) throws(SafeRegexError) {
        switch node {
        case .empty: break
        case .char(let v): try add(.char(v))
        case .charFold(let v): try add(.charFold(v)); p.foldsCase = true
        case .set(let set):
            if set.foldCase { p.foldsCase = true }
            let k: Int
            if let existing = setIndex[set] { k = existing } else {
                k = p.sets.count
                p.sets.append(set)
                setIndex[set] = k
            }
            try add(.set(k))
        case .any(let nl): try add(nl ? .any : .anyNotNewline)
        case .assert(let a): try add(.assert(a))
        case .concat(let items):
            for item in items { try emit(item) }
        case .alternate(let branches):
            // split L1, next; L1: a; jump end; next: split L2, … ; last branch falls through to end.
            var jumps: [Int] = []
            for (k, branch) in branches.enumerated() {
                if k < branches.count - 1 {
                    let split = try add(.split(0, 0))
                    try emit(branch)
                    jumps.append(try add(.jump(0)))
                    p.insts[split] = .split(split + 1, p.insts.count)
                } else {
                    try emit(branch)
                }
            }
            for j in jumps { p.insts[j] = .jump(p.insts.count) }
        case .repeat(let sub, let min, let max):
            // x{n,m} = x…x (n times) then (x(x(…)?)?)? (m−n times); x{n,} = x…x then x*.
            for _ in 0..<min { try emit(sub) }
            if let max {
                var splits: [Int] = []
                for _ in 0..<(max - min) {
                    splits.append(try add(.split(0, 0)))
                    try emit(sub)
                }
                let end = p.insts.count
                for sp in splits { p.insts[sp] = .split(sp + 1, end) }
            } else {
                let loop = try add(.split(0, 0))
                try emit(sub)
                try add(.jump(loop))
                p.insts[loop] = .split(loop + 1, p.insts.count)
            }
        }
    }
}
