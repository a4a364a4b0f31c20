import Synchronization

/// A W3C trace id: 16 bytes, never all zero.
public struct TraceID: Sendable, Hashable, CustomStringConvertible {
    public let high: UInt64
    public let low: UInt64

    public init?(high: UInt64, low: UInt64) {
        guard high != 0 || low != 0 else { return nil }
        self.high = high
        self.low = low
    }

    /// 32 lower-case hex digits (16 are accepted for B3's 64-bit ids, the high half zero).
    public init?(hex: Substring) {
        var text = String(hex)
        guard let id = text.withUTF8({ TraceID(hexBytes: $0[...]) }) else { return nil }
        self = id
    }

    init?(hexBytes b: Slice<UnsafeBufferPointer<UInt8>>) {
        switch b.count {
        case 32:
            guard let h = Hex.uint64(b.prefix(16)), let l = Hex.uint64(b.suffix(16)) else { return nil }
            self.init(high: h, low: l)
        case 16:
            guard let l = Hex.uint64(b) else { return nil }
            self.init(high: 0, low: l)
        default:
            return nil
        }
    }

    /// A random id (`IDGenerator`).
    public static func random() -> TraceID {
        while true { if let id = TraceID(high: IDGenerator.next(), low: IDGenerator.next()) { return id } }
    }

    /// The 16 bytes, big-endian (OTLP's `trace_id`).
    public var bytes: [UInt8] { Hex.bigEndian(high) + Hex.bigEndian(low) }

    public var description: String { Hex.string(high) + Hex.string(low) }
}

/// A span id: 8 bytes, never all zero.
public struct SpanID: Sendable, Hashable, CustomStringConvertible {
    public let value: UInt64

    public init?(_ value: UInt64) {
        guard value != 0 else { return nil }
        self.value = value
    }

    /// 16 lower-case hex digits.
    public init?(hex: Substring) {
        var text = String(hex)
        guard let id = text.withUTF8({ SpanID(hexBytes: $0[...]) }) else { return nil }
        self = id
    }

    init?(hexBytes b: Slice<UnsafeBufferPointer<UInt8>>) {
        guard b.count == 16, let v = Hex.uint64(b) else { return nil }
        self.init(v)
    }

    public static func random() -> SpanID {
        while true { if let id = SpanID(IDGenerator.next()) { return id } }
    }

    /// The 8 bytes, big-endian (OTLP's `span_id`).
    public var bytes: [UInt8] { Hex.bigEndian(value) }

    public var description: String { Hex.string(value) }
}

/// Trace and span ids: SplitMix64 over an atomic counter seeded once from the system's CSPRNG. Ids must be
/// unique and well spread (the ratio sampler reads the trace id's low bits), not secret; one relaxed atomic
/// add and a few multiplies instead of a getrandom(2) system call per id (SystemRandomNumberGenerator on
/// Linux); SplitMix64 is a bijection of the counter, so no id repeats within 2⁶⁴ of them.
enum IDGenerator {
    private static let state = Atomic<UInt64>({ var g = SystemRandomNumberGenerator(); return g.next() }())

    static func next() -> UInt64 {
        var z = state.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed).newValue
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum Hex {
    /// Lower-case hex only (W3C trace context §3.2.2: upper case is invalid; B3 ids are lower-hex too).
    static func uint64(_ s: Substring) -> UInt64? {
        var text = String(s)
        return text.withUTF8 { uint64($0[...]) }
    }

    /// On the slice's memory: 8 digits at a time (`word`) for ids, one at a time otherwise (callgrind:
    /// a `switch` per `Slice` element cost ~700 instructions per traceparent, the words ~150).
    static func uint64(_ s: Slice<UnsafeBufferPointer<UInt8>>) -> UInt64? {
        guard !s.isEmpty, s.count <= 16, let start = s.base.baseAddress else { return nil }
        let p = UnsafeRawPointer(start + s.startIndex)
        if s.count == 16 {
            guard let high = word(UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))),
                  let low = word(UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            else { return nil }
            return high << 32 | low
        }
        if s.count == 8 { return word(UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))) }
        var v: UInt64 = 0
        for i in 0..<s.count {
            let c = p.load(fromByteOffset: i, as: UInt8.self)
            var d = c &- UInt8(ascii: "0")
            if d >= 10 {
                d = c &- UInt8(ascii: "a")
                guard d < 6 else { return nil }
                d &+= 10
            }
            v = v << 4 | UInt64(d)
        }
        return v
    }

    /// Eight lower-case hex digits loaded little-endian (the first digit in the low byte) → their 32-bit
    /// value; nil when any byte is not `0-9a-f`. Per byte, without carries between bytes (every byte is
    /// below 0x80 once checked): `b ≥ 0x30` ⇔ bit 7 of `b + 0x50`, `b ≤ 0x39` ⇔ bit 7 of `0xB9 − b`, and
    /// likewise `0x61…0x66`; the digit is `b & 0xF`, plus 9 for a letter.
    static func word(_ x: UInt64) -> UInt64? {
        let ones: UInt64 = 0x0101_0101_0101_0101, high: UInt64 = 0x8080_8080_8080_8080
        guard x & high == 0 else { return nil }
        let digit = (x &+ 0x50 &* ones) & (0xB9 &* ones &- x) & high
        let letter = (x &+ 0x1F &* ones) & (0xE6 &* ones &- x) & high
        guard digit | letter == high else { return nil }
        var v = (x & 0x0F0F_0F0F_0F0F_0F0F) &+ (letter >> 7) &* 9
        // Bytes n0…n7 (n0 first) → n0n1 n2n3 n4n5 n6n7 → n0n1n2n3 n4n5n6n7 → the value.
        v = (v & 0x000F_000F_000F_000F) << 4 | (v >> 8) & 0x000F_000F_000F_000F
        v = (v & 0x0000_00FF_0000_00FF) << 8 | (v >> 16) & 0x0000_00FF_0000_00FF
        return (v & 0xFFFF) << 16 | (v >> 32) & 0xFFFF
    }

    static func string(_ v: UInt64) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8](repeating: 0, count: 16)
        for i in 0..<16 { out[i] = digits[Int((v >> (60 - 4 * UInt64(i))) & 0xF)] }
        return String(decoding: out, as: UTF8.self)
    }

    static func bigEndian(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (56 - 8 * UInt64($0))) } }
}
