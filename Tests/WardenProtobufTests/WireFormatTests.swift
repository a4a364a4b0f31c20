import Testing
import WardenProtobuf

@Suite("Wire format")
struct WireFormatTests {
    @Test("varint encodes and decodes", arguments: [
        (UInt64(0), "00"), (1, "01"), (127, "7f"), (128, "8001"), (300, "ac02"), (16_384, "808001"),
        (UInt64(UInt32.max), "ffffffff0f"), (UInt64.max, "ffffffffffffffffff01"),
    ])
    func varint(value: UInt64, hex: String) throws {
        var w = ProtobufWriter()
        w.writeRawVarint(value)
        #expect(w.bytes.hex == hex)
        var r = ProtobufReader(bytes: [UInt8](hex: hex))
        #expect(try r.readRawVarint() == value)
        #expect(r.isAtEnd)
    }

    @Test("int32 and int64 negatives are 10-byte sign-extended varints", arguments: [
        (Int64(-1), "08ffffffffffffffffff01"), (Int64(Int32.min), "0880808080f8ffffffff01"), (Int64(5), "0805"),
    ])
    func negativeInts(value: Int64, hex: String) throws {
        var w = ProtobufWriter()
        w.writeInt32(Int32(value), field: 1)
        #expect(w.bytes.hex == hex)
        var w64 = ProtobufWriter()
        w64.writeInt64(value, field: 1)
        #expect(w64.bytes.hex == hex)
        var r = ProtobufReader(bytes: [UInt8](hex: hex))
        let tag = try #require(try r.nextTag())
        #expect(try r.readInt32(tag) == Int32(value))
    }

    @Test("sint32/sint64 use zigzag", arguments: [
        (Int64(0), "0800"), (-1, "0801"), (1, "0802"), (-2, "0803"), (Int64(Int32.max), "08feffffff0f"), (Int64(Int32.min), "08ffffffff0f"),
    ])
    func zigzag32(value: Int64, hex: String) throws {
        var w = ProtobufWriter()
        w.writeSInt32(Int32(value), field: 1, always: true)
        #expect(w.bytes.hex == hex)
        var r = ProtobufReader(bytes: [UInt8](hex: hex))
        let tag = try #require(try r.nextTag())
        #expect(try r.readSInt32(tag) == Int32(value))
    }

    @Test func zigzag64Extremes() throws {
        for (value, hex) in [(Int64.min, "08ffffffffffffffffff01"), (Int64.max, "08feffffffffffffffff01")] {
            var w = ProtobufWriter()
            w.writeSInt64(value, field: 1)
            #expect(w.bytes.hex == hex)
            var r = ProtobufReader(bytes: [UInt8](hex: hex))
            let tag = try #require(try r.nextTag())
            #expect(try r.readSInt64(tag) == value)
        }
    }

    @Test func fixedWidthIsLittleEndian() throws {
        var w = ProtobufWriter()
        w.writeFixed32(0x0102_0304, field: 1)
        w.writeFixed64(0x0102_0304_0506_0708, field: 2)
        w.writeDouble(1.0, field: 3)
        w.writeSFixed32(-2, field: 4)
        w.writeFloat(0, field: 5)  // default: omitted
        #expect(w.bytes.hex == "0d04030201" + "110807060504030201" + "19000000000000f03f" + "25feffffff")
        var r = ProtobufReader(bytes: w.bytes)
        #expect(try r.readFixed32(try #require(try r.nextTag())) == 0x0102_0304)
        #expect(try r.readFixed64(try #require(try r.nextTag())) == 0x0102_0304_0506_0708)
        #expect(try r.readDouble(try #require(try r.nextTag())) == 1.0)
        #expect(try r.readSFixed32(try #require(try r.nextTag())) == -2)
        #expect(try r.nextTag() == nil)
    }

    @Test("packed and unpacked repeated scalars are both accepted, even mixed")
    func packedRepeated() throws {
        var w = ProtobufWriter()
        w.writePackedVarints([1, 150, UInt64(bitPattern: -1)], field: 4)
        #expect(w.bytes.hex == "220d019601ffffffffffffffffff01")
        w.writeUInt64(7, field: 4)  // one unpacked element after the packed run
        w.writePackedFixed32([1, 2], field: 5)
        w.writePackedFixed64([3], field: 6)
        var r = ProtobufReader(bytes: w.bytes)
        var varints: [UInt64] = []
        var f32: [UInt32] = []
        var f64: [UInt64] = []
        while let tag = try r.nextTag() {
            switch tag.fieldNumber {
            case 4: try r.readRepeated(tag, element: .varint, into: &varints) { (r) throws(ProtobufDecodeError) in try r.readRawVarint() }
            case 5: try r.readRepeated(tag, element: .fixed32, into: &f32) { (r) throws(ProtobufDecodeError) in try r.readRawFixed32() }
            case 6: try r.readRepeated(tag, element: .fixed64, into: &f64) { (r) throws(ProtobufDecodeError) in try r.readRawFixed64() }
            default: try r.skip(tag)
            }
        }
        #expect(varints == [1, 150, UInt64.max, 7])
        #expect(f32 == [1, 2])
        #expect(f64 == [3])
    }

    @Test func packedRunEndingInsideAnElement() throws {
        // field 4 packed, 2 bytes: 0x96 starts a varint that the run's end cuts off.
        var r = ProtobufReader(bytes: [UInt8](hex: "22020196"))
        let tag = try #require(try r.nextTag())
        var values: [UInt64] = []
        #expect(throws: ProtobufDecodeError(.truncatedPackedField(fieldNumber: 4), at: 3)) {
            try r.readRepeated(tag, element: .varint, into: &values) { (r) throws(ProtobufDecodeError) in try r.readRawVarint() }
        }
    }

    @Test("unknown fields of every wire type, groups included, are skipped")
    func unknownFieldsSkipped() throws {
        let raw = [UInt8](hex:
            "b006" + "9601"                      // field 102, varint
            + "b906" + "0102030405060708"        // field 103, fixed64
            + "0a03" + "616263"                  // field 1 (name) = "abc"
            + "c206" + "03" + "ffffff"           // field 104, length-delimited (not UTF-8: unknown, so fine)
            + "cb06" + "0801" + "d306" + "1000" + "d406" + "cc06"  // field 105 group containing field 1 varint and a nested group 106
            + "cd06" + "01020304"                // field 105, fixed32
        )
        #expect(try StringMessage(serializedBytes: raw) == StringMessage(name: "abc"))
    }

    @Test("oneof members are written even when default-valued")
    func oneofDefaultsWritten() throws {
        #expect(ProtobufValue.number(0).serializedBytes().hex == "110000000000000000")
        #expect(ProtobufValue.string("").serializedBytes().hex == "1a00")
        #expect(ProtobufValue.bool(false).serializedBytes().hex == "2000")
        #expect(ProtobufValue.null.serializedBytes().hex == "0800")
    }
}
