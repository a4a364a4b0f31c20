/// Bounds applied while parsing untrusted JSON (token headers, payloads, JWKS documents).
public struct JSONLimits: Sendable, Equatable {
    public var maxDepth: Int
    public var maxBytes: Int

    public init(maxDepth: Int = 32, maxBytes: Int = 1 << 20) {
        self.maxDepth = maxDepth
        self.maxBytes = maxBytes
    }
}

/// A strict RFC 8259 parser: no comments, no trailing commas, no NaN, no duplicate keys,
/// valid UTF-8 only, bounded depth and size.
public enum JSONParser {
    public static func parse(_ text: String, limits: JSONLimits = JSONLimits()) throws(JSONError) -> JSONValue {
        try parse(Array(text.utf8), limits: limits)
    }

    public static func parse(_ bytes: [UInt8], limits: JSONLimits = JSONLimits()) throws(JSONError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { (buf) throws(JSONError) -> JSONValue in try parse(buf, limits: limits) }
    }

    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>, limits: JSONLimits = JSONLimits()) throws(JSONError) -> JSONValue {
        if bytes.count > limits.maxBytes { throw JSONError(.tooLarge(limit: limits.maxBytes), at: 0) }
        var p = Parser(bytes: bytes, maxDepth: limits.maxDepth)
        p.skipSpace()
        let value = try p.parseValue(depth: 0)
        p.skipSpace()
        if p.pos != bytes.count { throw JSONError(.trailingData, at: p.pos) }
        return value
    }
}

private struct Parser {
    let bytes: UnsafeBufferPointer<UInt8>
    let maxDepth: Int
    var pos = 0
    /// Members of the objects being parsed, innermost last: one buffer per document instead of a
    /// dictionary grown (and rehashed) member by member. Each object becomes a dictionary of exactly
    /// its size when it closes.
    var members: [(String, JSONValue)] = []

    /// Up to this many members, duplicate keys are found by comparing with the earlier keys (cheaper
    /// than hashing for the small objects of tokens); larger objects switch to a set.
    static let linearDuplicateScanLimit = 16

    init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    mutating func skipSpace() {
        while pos < bytes.count {
            switch bytes[pos] {
            case 0x20, 0x09, 0x0A, 0x0D: pos += 1
            default: return
            }
        }
    }

    func peek() throws(JSONError) -> UInt8 {
        guard pos < bytes.count else { throw JSONError(.unexpectedEnd, at: pos) }
        return bytes[pos]
    }

    mutating func expect(_ literal: StaticString, value: JSONValue) throws(JSONError) -> JSONValue {
        let n = literal.utf8CodeUnitCount
        guard pos + n <= bytes.count else { throw JSONError(.unexpectedEnd, at: bytes.count) }
        let lit = literal.utf8Start
        for i in 0..<n where bytes[pos + i] != lit[i] {
            throw JSONError(.unexpectedByte(bytes[pos + i]), at: pos + i)
        }
        pos += n
        return value
    }

    mutating func parseValue(depth: Int) throws(JSONError) -> JSONValue {
        let b = try peek()
        switch b {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try expect("true", value: .bool(true))
        case UInt8(ascii: "f"): return try expect("false", value: .bool(false))
        case UInt8(ascii: "n"): return try expect("null", value: .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw JSONError(.unexpectedByte(b), at: pos)
        }
    }

    mutating func parseObject(depth: Int) throws(JSONError) -> JSONValue {
        if depth > maxDepth { throw JSONError(.tooDeep(limit: maxDepth), at: pos) }
        pos += 1
        skipSpace()
        if try peek() == UInt8(ascii: "}") { pos += 1; return .object([:]) }
        let base = members.count
        if members.capacity == 0 { members.reserveCapacity(16) }
        var seen: Set<String>? = nil
        while true {
            skipSpace()
            let keyStart = pos
            guard try peek() == UInt8(ascii: "\"") else { throw JSONError(.unexpectedByte(bytes[pos]), at: pos) }
            let key = try parseString()
            skipSpace()
            guard try peek() == UInt8(ascii: ":") else { throw JSONError(.unexpectedByte(bytes[pos]), at: pos) }
            pos += 1
            skipSpace()
            let value = try parseValue(depth: depth)
            // String equality (canonical equivalence), the same relation a dictionary's keys use.
            if seen != nil {
                if !seen!.insert(key).inserted { throw JSONError(.duplicateKey(key), at: keyStart) }
            } else {
                for i in base..<members.count where members[i].0 == key { throw JSONError(.duplicateKey(key), at: keyStart) }
                if members.count - base == Parser.linearDuplicateScanLimit {
                    var keys = Set<String>(minimumCapacity: 2 * Parser.linearDuplicateScanLimit)
                    for i in base..<members.count { keys.insert(members[i].0) }
                    keys.insert(key)
                    seen = keys
                }
            }
            members.append((key, value))
            skipSpace()
            let c = try peek()
            pos += 1
            if c == UInt8(ascii: "}") {
                var object = [String: JSONValue](minimumCapacity: members.count - base)
                while members.count > base {
                    let (key, value) = members.removeLast()
                    object[key] = value
                }
                return .object(object)
            }
            if c != UInt8(ascii: ",") { throw JSONError(.unexpectedByte(c), at: pos - 1) }
        }
    }

    mutating func parseArray(depth: Int) throws(JSONError) -> JSONValue {
        if depth > maxDepth { throw JSONError(.tooDeep(limit: maxDepth), at: pos) }
        pos += 1
        var items: [JSONValue] = []
        skipSpace()
        if try peek() == UInt8(ascii: "]") { pos += 1; return .array(items) }
        while true {
            skipSpace()
            items.append(try parseValue(depth: depth))
            skipSpace()
            let c = try peek()
            pos += 1
            if c == UInt8(ascii: "]") { return .array(items) }
            if c != UInt8(ascii: ",") { throw JSONError(.unexpectedByte(c), at: pos - 1) }
        }
    }

    mutating func parseNumber() throws(JSONError) -> Double {
        let start = pos
        var integral = true
        func digit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        guard pos < bytes.count, digit(bytes[pos]) else { throw JSONError(.invalidNumber, at: start) }
        if bytes[pos] == UInt8(ascii: "0") {
            pos += 1
            if pos < bytes.count, digit(bytes[pos]) { throw JSONError(.invalidNumber, at: start) }
        } else {
            while pos < bytes.count, digit(bytes[pos]) { pos += 1 }
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
            integral = false
            pos += 1
            guard pos < bytes.count, digit(bytes[pos]) else { throw JSONError(.invalidNumber, at: start) }
            while pos < bytes.count, digit(bytes[pos]) { pos += 1 }
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
            integral = false
            pos += 1
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            guard pos < bytes.count, digit(bytes[pos]) else { throw JSONError(.invalidNumber, at: start) }
            while pos < bytes.count, digit(bytes[pos]) { pos += 1 }
        }
        let digits = pos - start - (bytes[start] == UInt8(ascii: "-") ? 1 : 0)
        if integral && digits <= 15 {
            // Exact in a Double (< 2^53), so the same value strtod would give, without a String.
            var n: Int64 = 0
            for i in (pos - digits)..<pos { n = n &* 10 &+ Int64(bytes[i] &- 0x30) }
            let value = Double(n)
            return bytes[start] == UInt8(ascii: "-") ? -value : value
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else { throw JSONError(.invalidNumber, at: start) }
        return value
    }

    mutating func parseHex4() throws(JSONError) -> UInt32 {
        guard pos + 4 <= bytes.count else { throw JSONError(.unexpectedEnd, at: pos) }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[pos]
            let d: UInt32
            switch b {
            case 0x30...0x39: d = UInt32(b - 0x30)
            case 0x41...0x46: d = UInt32(b - 0x41 + 10)
            case 0x61...0x66: d = UInt32(b - 0x61 + 10)
            default: throw JSONError(.invalidEscape, at: pos)
            }
            v = v << 4 | d
            pos += 1
        }
        return v
    }

    mutating func parseString() throws(JSONError) -> String {
        pos += 1  // opening quote
        let start = pos
        // Fast path: no escapes; the String is made once from the bytes in place.
        var high: UInt8 = 0  // all bytes OR-ed: below 0x80 means ASCII, valid by construction
        while pos < bytes.count {
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<pos])
                if high >= 0x80 && !UTF8Validation.isValid(slice) { throw JSONError(.invalidUTF8, at: start) }
                pos += 1
                return String(decoding: slice, as: UTF8.self)
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw JSONError(.invalidString, at: pos) }
            high |= b
            pos += 1
        }
        var out = [UInt8](UnsafeBufferPointer(rebasing: bytes[start..<pos]))
        while true {
            guard pos < bytes.count else { throw JSONError(.unexpectedEnd, at: pos) }
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                pos += 1
                let valid = out.withUnsafeBufferPointer { UTF8Validation.isValid($0) }
                guard valid else { throw JSONError(.invalidUTF8, at: start) }
                return String(decoding: out, as: UTF8.self)
            }
            if b < 0x20 { throw JSONError(.invalidString, at: pos) }
            if b != UInt8(ascii: "\\") { out.append(b); pos += 1; continue }
            pos += 1
            guard pos < bytes.count else { throw JSONError(.unexpectedEnd, at: pos) }
            let e = bytes[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try parseHex4()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    guard pos + 2 <= bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                        throw JSONError(.invalidEscape, at: pos)
                    }
                    pos += 2
                    let low = try parseHex4()
                    guard low >= 0xDC00 && low < 0xE000 else { throw JSONError(.invalidEscape, at: pos) }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    throw JSONError(.invalidEscape, at: pos)
                }
                UTF8Validation.append(scalar, to: &out)
            default:
                throw JSONError(.invalidEscape, at: pos - 1)
            }
        }
    }
}
