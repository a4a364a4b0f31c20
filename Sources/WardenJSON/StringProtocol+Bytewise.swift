#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte-wise comparison of UTF-8 text, as Envoy compares every string it matches (`std::string` and
/// `absl::string_view` equality, `absl::StartsWith`/`EndsWith`, RE2 on bytes). Swift's own `==`,
/// `hasPrefix`, `hasSuffix` and `Set`/`Dictionary` keys use Unicode canonical equivalence and grapheme
/// boundaries instead: `"café" == "cafe\u{301}"`, `"K" == "\u{212A}"` (KELVIN SIGN), and
/// `"/admin/\u{301}x".hasPrefix("/admin/")` is false because the combining mark joins the `/`. A policy
/// decision must never depend on that: every comparison of a request or token value with a policy value
/// goes through these (or `WardenPolicy.ExactKey` for sets and dictionaries). They live here, in the text
/// layer below `WardenJWT` and `WardenPolicy`, so that both compare alike.
///
/// None of them allocates: native strings compare their UTF-8 storage in place, with `memcmp`. (Through
/// `utf8.elementsEqual` the token cache's compare of a 600-byte token cost ~41k instructions of a ~100k
/// cached check, callgrind; with `memcmp` byte-wise matching costs ~2.9k in all, docs/performance.md.)
extension StringProtocol {
    /// The same UTF-8 bytes.
    @inlinable
    public func bytesEqual(_ other: some StringProtocol) -> Bool {
        let n = utf8.count
        return n == other.utf8.count && bytesCompare(self, at: 0, other, count: n)
    }

    /// The UTF-8 bytes start with `prefix`'s.
    @inlinable
    public func bytesHavePrefix(_ prefix: some StringProtocol) -> Bool {
        let n = prefix.utf8.count
        return utf8.count >= n && bytesCompare(self, at: 0, prefix, count: n)
    }

    /// The UTF-8 bytes end with `suffix`'s.
    @inlinable
    public func bytesHaveSuffix(_ suffix: some StringProtocol) -> Bool {
        let n = suffix.utf8.count, count = utf8.count
        return count >= n && bytesCompare(self, at: count - n, suffix, count: n)
    }

    /// Whether `needle`'s bytes occur in these at an offset `accept(start, end)` agrees to (byte offsets
    /// of the occurrence; `end` is one past its last byte). `accept` sees every occurrence, leftmost first.
    public func bytesContain(_ needle: some StringProtocol, where accept: (Int, Int) -> Bool = { _, _ in true }) -> Bool {
        let n = needle.utf8.count, count = utf8.count
        guard n <= count else { return false }
        guard n > 0 else { return (0...count).contains { accept($0, $0) } }
        return withBytes(self) { hay in
            withBytes(needle) { pin in
                for offset in 0...(count - n) where hay[offset] == pin[0] && memcmp(hay.baseAddress! + offset, pin.baseAddress!, n) == 0 {
                    if accept(offset, offset + n) { return true }
                }
                return false
            }
        }
    }

    /// The same bytes with ASCII letters folded (`absl::EqualsIgnoreCase`, what Envoy's `ignore_case`
    /// string matchers use): `É` and `é` stay different, as they do in Envoy.
    public func bytesEqualIgnoringASCIICase(_ other: some StringProtocol) -> Bool {
        utf8.count == other.utf8.count && foldedEqual(self, at: 0, other)
    }

    /// `absl::StartsWithIgnoreCase`.
    public func bytesHavePrefixIgnoringASCIICase(_ prefix: some StringProtocol) -> Bool {
        utf8.count >= prefix.utf8.count && foldedEqual(self, at: 0, prefix)
    }

    /// `absl::EndsWithIgnoreCase`.
    public func bytesHaveSuffixIgnoringASCIICase(_ suffix: some StringProtocol) -> Bool {
        let n = suffix.utf8.count, count = utf8.count
        return count >= n && foldedEqual(self, at: count - n, suffix)
    }

    /// The parts between `separator` bytes (all of them, empty ones included), as substrings; only for
    /// an ASCII separator, so every part is valid UTF-8 and begins and ends on scalar boundaries.
    public func bytesSplit(separator: UInt8) -> [SubSequence] {
        precondition(separator < 0x80, "ASCII separators only")
        var parts: [SubSequence] = []
        var start = startIndex
        var i = utf8.startIndex
        while i != utf8.endIndex {
            if utf8[i] == separator {
                parts.append(self[start..<i])
                start = utf8.index(after: i)
            }
            i = utf8.index(after: i)
        }
        parts.append(self[start...])
        return parts
    }
}

/// Whether `n` bytes of `a`'s UTF-8 from byte `offset` equal the first `n` of `b`'s (both hold enough).
@inlinable
func bytesCompare(_ a: some StringProtocol, at offset: Int, _ b: some StringProtocol, count n: Int) -> Bool {
    if n == 0 { return true }
    let fast = a.utf8.withContiguousStorageIfAvailable { x in
        b.utf8.withContiguousStorageIfAvailable { y in memcmp(x.baseAddress! + offset, y.baseAddress!, n) == 0 }
    }
    if let answer = fast ?? nil { return answer }
    return a.utf8.dropFirst(offset).prefix(n).elementsEqual(b.utf8.prefix(n))
}

/// `body` over `s`'s UTF-8 bytes in place (a copy only for a string without contiguous UTF-8).
func withBytes<R>(_ s: some StringProtocol, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
    if let r = s.utf8.withContiguousStorageIfAvailable(body) { return r }
    return Array(s.utf8).withUnsafeBufferPointer(body)
}

/// Whether `b`'s bytes equal `a`'s from byte `offset` on, ASCII letters folded (`a` holds enough).
func foldedEqual(_ a: some StringProtocol, at offset: Int, _ b: some StringProtocol) -> Bool {
    withBytes(a) { x in
        withBytes(b) { y in
            for i in 0..<y.count where asciiLower(x[offset + i]) != asciiLower(y[i]) { return false }
            return true
        }
    }
}

@usableFromInline
func asciiLower(_ b: UInt8) -> UInt8 {
    b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") ? b | 0x20 : b
}
