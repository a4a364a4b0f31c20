import Testing
import WardenProtobuf

/// `ProtobufBufferWriter` writes what `ProtobufWriter` writes, byte for byte: every field kind, nested
/// lengths on both sides of the 1/2/3-byte varint boundaries (the body moved down, kept, moved up), nesting
/// inside a moved body, growth past the initial capacity, and reuse after `removeAll()`.
@Suite("Protobuf buffer writer")
struct BufferWriterTests {
    /// The same writes, given to both writers.
    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var write: @Sendable (inout Both) -> Void
        var testDescription: String { name }
    }

    struct Both: ~Copyable {
        var reference = ProtobufWriter()
        var buffer = ProtobufBufferWriter(capacity: 16)

        mutating func string(_ s: String, _ field: Int, always: Bool = false) {
            reference.writeString(s, field: field, always: always)
            buffer.writeString(s, field: field, always: always)
        }

        mutating func scalars(_ v: UInt64, _ field: Int) {
            reference.writeUInt64(v, field: field)
            buffer.writeUInt64(v, field: field)
            reference.writeInt64(-Int64(truncatingIfNeeded: v), field: field + 1)
            buffer.writeInt64(-Int64(truncatingIfNeeded: v), field: field + 1)
            reference.writeEnum(Int32(truncatingIfNeeded: v), field: field + 2)
            buffer.writeEnum(Int32(truncatingIfNeeded: v), field: field + 2)
            reference.writeFixed32(UInt32(truncatingIfNeeded: v), field: field + 3)
            buffer.writeFixed32(UInt32(truncatingIfNeeded: v), field: field + 3)
            reference.writeFixed64(v, field: field + 4)
            buffer.writeFixed64(v, field: field + 4)
            reference.writeDouble(Double(v) / 3, field: field + 5)
            buffer.writeDouble(Double(v) / 3, field: field + 5)
            reference.writeBytes([UInt8(truncatingIfNeeded: v), 0, 0xFF], field: field + 6)
            buffer.writeBytes([UInt8(truncatingIfNeeded: v), 0, 0xFF], field: field + 6)
        }

        /// A nested message of exactly `length` body bytes (a string field inside), with a nested one of
        /// `inner` bytes at its start when given.
        mutating func nested(_ field: Int, length: Int, inner: Int? = nil, lengthBytes: Int = 2) {
            let innerBytes = inner.map { 1 + Self.varintSize($0) + $0 } ?? 0
            let rest = length - innerBytes
            // rest = 1 (tag) + varint(n) + n
            var n = max(0, rest - 2)
            while n > 0 && 1 + Self.varintSize(n) + n > rest { n -= 1 }
            let text = String(repeating: "x", count: n)
            reference.writeNested(field: field) { w in
                if let inner { w.writeNested(field: 1) { $0.writeRawBytes([UInt8](repeating: 7, count: inner)) } }
                if rest > 0 { w.writeString(text, field: 2, always: true) }
            }
            buffer.writeNested(field: field, lengthBytes: lengthBytes) { w in
                if let inner { w.writeNested(field: 1) { $0.writeRawBytes([UInt8](repeating: 7, count: inner)) } }
                if rest > 0 { w.writeString(text, field: 2, always: true) }
            }
        }

        static func varintSize(_ n: Int) -> Int {
            var size = 1, v = n >> 7
            while v != 0 { size += 1; v >>= 7 }
            return size
        }
    }

    static let rows: [Row] = [
        Row(name: "empty") { _ in },
        Row(name: "strings: empty omitted, empty always, ASCII, UTF-8, a large field number") { b in
            b.string("", 1)
            b.string("", 2, always: true)
            b.string("warden.check", 3)
            b.string("grüße 🌍", 4)
            b.string("x", 536_870_911)
        },
        Row(name: "strings of every length up to 40 (the short-copy paths)") { b in
            let text = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH")
            for n in 0...40 { b.string(String(text[..<n]), 1 + n) }
        },
        Row(name: "scalars: zero omitted, one-byte, multi-byte, max") { b in
            for (i, v) in [UInt64(0), 1, 127, 128, 300, 1 << 35, UInt64.max].enumerated() { b.scalars(v, 1 + 10 * i) }
        },
        Row(name: "nested: empty body moves down") { $0.nested(1, length: 0) },
        Row(name: "nested: 127-byte body moves down") { $0.nested(1, length: 127) },
        Row(name: "nested: 128-byte body stays") { $0.nested(1, length: 128) },
        Row(name: "nested: 16,383-byte body stays") { $0.nested(1, length: 16383) },
        Row(name: "nested: 16,384-byte body moves up") { $0.nested(1, length: 16384) },
        Row(name: "nested: 2,097,152-byte body moves up two") { $0.nested(1, length: 2_097_152) },
        Row(name: "nested inside a body that moves: short inner, long outer") { $0.nested(1, length: 20000, inner: 5) },
        Row(name: "nested inside a body that moves: long inner, short outer") { $0.nested(1, length: 140, inner: 130) },
        Row(name: "3 length bytes reserved: short, medium, kept, longer") { b in
            for n in [0, 127, 200, 20000, 2_097_151, 2_097_152] { b.nested(3, length: n, lengthBytes: 3) }
        },
        Row(name: "1 and 5 length bytes reserved") { b in
            for n in [0, 127, 128, 20000] { b.nested(4, length: n, lengthBytes: 1); b.nested(5, length: n, lengthBytes: 5) }
        },
        Row(name: "many nested after each other") { b in
            for i in 0..<300 { b.nested(2, length: i * 7 % 200) }
        },
    ]

    @Test(arguments: rows)
    func matchesProtobufWriter(_ row: Row) {
        var both = Both()
        row.write(&both)
        #expect(both.buffer.bytes == both.reference.bytes)
        #expect(both.buffer.count == both.reference.bytes.count)
    }

    /// After `removeAll()` the writer starts again from nothing, with the memory it grew to.
    @Test func reuse() {
        var w = ProtobufBufferWriter(capacity: 8)
        w.writeString(String(repeating: "a", count: 1000), field: 1)
        w.removeAll()
        #expect(w.count == 0 && w.bytes.isEmpty)
        w.writeString("b", field: 1)
        #expect(w.bytes == [0x0A, 0x01, 0x62])
        var reused: [UInt8] = Array(repeating: 9, count: 5000)
        w.copyBytes(to: &reused)
        #expect(reused == [0x0A, 0x01, 0x62] && reused.capacity >= 5000)
    }
}
