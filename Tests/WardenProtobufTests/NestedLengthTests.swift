import Testing
import WardenProtobuf

/// Nested messages whose lengths cross the 1→2 (127/128) and 2→3 (16383/16384) byte varint
/// boundaries, at several depths at once, against a reference encoder that builds every nested
/// message separately and prefixes its length (the obvious, allocation-heavy way).
@Suite("Nested length prefixes")
struct NestedLengthTests {
    // MARK: reference encoder

    static func varint(_ value: Int) -> [UInt8] {
        var out: [UInt8] = []
        var v = UInt64(value)
        while v >= 0x80 { out.append(UInt8(truncatingIfNeeded: v) | 0x80); v >>= 7 }
        out.append(UInt8(v))
        return out
    }

    static func delimited(_ field: Int, _ body: [UInt8]) -> [UInt8] {
        varint(field << 3 | 2) + varint(body.count) + body
    }

    static func reference(_ s: ProtobufStruct) -> [UInt8] {
        s.fields.keys.sorted().flatMap { key in
            delimited(1, delimited(1, Array(key.utf8)) + delimited(2, reference(s.fields[key]!)))
        }
    }

    static func reference(_ v: ProtobufValue) -> [UInt8] {
        switch v {
        case .string(let s): return delimited(3, Array(s.utf8))
        case .structValue(let s): return delimited(5, reference(s))
        case .listValue(let l): return delimited(6, l.flatMap { delimited(1, reference($0)) })
        case .number(let d): return [0x11] + (0..<8).map { UInt8(truncatingIfNeeded: d.bitPattern >> (8 * UInt64($0))) }
        case .bool(let b): return [0x20, b ? 1 : 0]
        case .null: return [0x08, 0x00]
        }
    }

    /// `depth` Structs nested through a key, a list at the bottom, a string leaf of `leaf` bytes,
    /// and a short sibling key at every level (so sorting and several entries per map are exercised).
    static func nested(depth: Int, leaf: Int) -> ProtobufStruct {
        var value: ProtobufValue = .listValue([.string(String(repeating: "x", count: leaf)), .number(1.5), .null])
        for level in 0..<depth {
            value = .structValue(["k": value, "a\(level)": .bool(level % 2 == 0)])
        }
        return ["jwt_payload": value]
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let depth: Int
        let leaf: Int
        var testDescription: String { "depth \(depth), leaf \(leaf) bytes" }
    }

    /// Leaf sizes sweeping across both boundaries, so that at some sizes only the inner levels
    /// have crossed and at others all of them.
    static let cases: [Case] = [1, 2, 4, 7].flatMap { depth in
        (Array(90...140) + Array(16_300...16_400).filter { $0 % 3 == 0 } + [2_097_100, 2_097_152]).map { Case(depth: depth, leaf: $0) }
    }

    @Test("Struct encoding equals the reference encoder", arguments: cases)
    func structMatchesReference(_ c: Case) throws {
        let s = Self.nested(depth: c.depth, leaf: c.leaf)
        let bytes = s.serializedBytes()
        #expect(bytes == Self.reference(s))
        #expect(try ProtobufStruct(serializedBytes: bytes) == s)
    }

    @Test("raw nested bodies of every length class", arguments: [0, 1, 126, 127, 128, 129, 16_382, 16_383, 16_384, 16_385, 2_097_151, 2_097_152])
    func rawNesting(length: Int) {
        let body = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        for depth in 1...3 {
            var w = ProtobufWriter()
            w.writeUInt64(7, field: 1)
            func nest(_ w: inout ProtobufWriter, _ level: Int) {
                w.writeNested(field: level + 2) { inner in
                    if level + 1 < depth { nest(&inner, level + 1) } else { inner.writeRawBytes(body) }
                    inner.writeBool(true, field: 15)
                }
            }
            nest(&w, 0)
            w.writeUInt64(9, field: 16)
            var expected = body
            for level in stride(from: depth - 1, through: 0, by: -1) {
                expected = Self.delimited(level + 2, expected + [0x78, 0x01])
            }
            expected = [0x08, 0x07] + expected + [0x80, 0x01, 0x09]
            #expect(w.bytes == expected, "depth \(depth)")
        }
    }

    /// Structs whose levels straddle 127 and 16383 bytes against protoc's encoding of their text
    /// (Fixtures/wire/struct-three-levels-leaf-*.txtpb, `nested(depth: 3, leaf:)` written out).
    @Test("protoc encodes a Struct whose levels straddle 127 and 16383 bytes exactly as Swift does", arguments: [120, 16_370])
    func protocAgrees(leaf: Int) throws {
        let s = Self.nested(depth: 3, leaf: leaf)
        let protoc = try Golden.protoc("struct-three-levels-leaf-\(leaf)")
        #expect(s.serializedBytes() == protoc)
        #expect(try ProtobufStruct(serializedBytes: protoc) == s)
    }
}
