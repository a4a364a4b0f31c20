/// Appends protobuf wire format to a growing byte array.
///
/// The `write…(_:field:)` methods follow proto3 implicit presence: a default value (0, false,
/// empty) is omitted unless `always` is true, which members of a oneof and map entries need.
/// Fields must be written in field-number order to match other encoders byte for byte.
public struct ProtobufWriter: Sendable {
    /// The encoded bytes so far.
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 128) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    // MARK: - Raw

    public mutating func writeRawVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    public mutating func writeTag(_ fieldNumber: Int, _ wireType: WireType) {
        writeRawVarint(UInt64(fieldNumber) << 3 | UInt64(wireType.rawValue))
    }

    public mutating func writeRawFixed32(_ value: UInt32) {
        for k in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt32(k)))) }
    }

    public mutating func writeRawFixed64(_ value: UInt64) {
        for k in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(k)))) }
    }

    public mutating func writeRawBytes(_ value: some Collection<UInt8>) {
        bytes.append(contentsOf: value)
    }

    // MARK: - Scalars

    public mutating func writeUInt64(_ value: UInt64, field: Int, always: Bool = false) {
        guard value != 0 || always else { return }
        writeTag(field, .varint)
        writeRawVarint(value)
    }

    public mutating func writeInt64(_ value: Int64, field: Int, always: Bool = false) {
        writeUInt64(UInt64(bitPattern: value), field: field, always: always)
    }

    /// `int32`: a negative value is sign-extended to 64 bits (10 bytes on the wire).
    public mutating func writeInt32(_ value: Int32, field: Int, always: Bool = false) {
        writeUInt64(UInt64(bitPattern: Int64(value)), field: field, always: always)
    }

    public mutating func writeUInt32(_ value: UInt32, field: Int, always: Bool = false) {
        writeUInt64(UInt64(value), field: field, always: always)
    }

    /// An enum's raw value (same encoding as `int32`).
    public mutating func writeEnum(_ rawValue: Int32, field: Int, always: Bool = false) {
        writeInt32(rawValue, field: field, always: always)
    }

    public mutating func writeBool(_ value: Bool, field: Int, always: Bool = false) {
        writeUInt64(value ? 1 : 0, field: field, always: always)
    }

    public mutating func writeSInt32(_ value: Int32, field: Int, always: Bool = false) {
        let zigzag = UInt32(bitPattern: (value << 1) ^ (value >> 31))
        writeUInt64(UInt64(zigzag), field: field, always: always)
    }

    public mutating func writeSInt64(_ value: Int64, field: Int, always: Bool = false) {
        writeUInt64(UInt64(bitPattern: (value << 1) ^ (value >> 63)), field: field, always: always)
    }

    public mutating func writeFixed32(_ value: UInt32, field: Int, always: Bool = false) {
        guard value != 0 || always else { return }
        writeTag(field, .fixed32)
        writeRawFixed32(value)
    }

    public mutating func writeFixed64(_ value: UInt64, field: Int, always: Bool = false) {
        guard value != 0 || always else { return }
        writeTag(field, .fixed64)
        writeRawFixed64(value)
    }

    public mutating func writeSFixed32(_ value: Int32, field: Int, always: Bool = false) {
        writeFixed32(UInt32(bitPattern: value), field: field, always: always)
    }

    public mutating func writeSFixed64(_ value: Int64, field: Int, always: Bool = false) {
        writeFixed64(UInt64(bitPattern: value), field: field, always: always)
    }

    /// `float`; -0.0 is not the default and is written (its bit pattern is non-zero).
    public mutating func writeFloat(_ value: Float, field: Int, always: Bool = false) {
        writeFixed32(value.bitPattern, field: field, always: always)
    }

    public mutating func writeDouble(_ value: Double, field: Int, always: Bool = false) {
        writeFixed64(value.bitPattern, field: field, always: always)
    }

    // MARK: - Length-delimited

    public mutating func writeString(_ value: String, field: Int, always: Bool = false) {
        guard !value.isEmpty || always else { return }
        writeTag(field, .lengthDelimited)
        var v = value
        v.withUTF8 { utf8 in
            writeRawVarint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    public mutating func writeBytes(_ value: [UInt8], field: Int, always: Bool = false) {
        guard !value.isEmpty || always else { return }
        writeTag(field, .lengthDelimited)
        writeRawVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// Writes a nested message whose body `body` appends; the length prefix is fixed up after.
    public mutating func writeNested(field: Int, _ body: (inout ProtobufWriter) -> Void) {
        writeTag(field, .lengthDelimited)
        let lengthAt = bytes.count
        bytes.append(0)  // one byte reserved: most nested messages are shorter than 128 bytes
        body(&self)
        let length = bytes.count - lengthAt - 1
        if length < 0x80 {
            bytes[lengthAt] = UInt8(length)
            return
        }
        var prefix: [UInt8] = []
        var v = UInt64(length)
        while v >= 0x80 {
            prefix.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        prefix.append(UInt8(v))
        bytes[lengthAt] = prefix[0]
        bytes.insert(contentsOf: prefix[1...], at: lengthAt + 1)
    }

    /// Writes a (present) nested message.
    public mutating func writeMessage(_ message: some ProtobufMessage, field: Int) {
        writeNested(field: field) { message.encode(to: &$0) }
    }

    /// Writes an optional nested message when present.
    public mutating func writeMessage<M: ProtobufMessage>(_ message: M?, field: Int) {
        if let message { writeMessage(message, field: field) }
    }

    /// Writes each element of a repeated message field.
    public mutating func writeRepeatedMessages<M: ProtobufMessage>(_ messages: [M], field: Int) {
        for m in messages { writeMessage(m, field: field) }
    }

    /// Writes each element of a repeated `string` field (empty strings included).
    public mutating func writeRepeatedStrings(_ values: [String], field: Int) {
        for v in values { writeString(v, field: field, always: true) }
    }

    /// Writes a `map<string, string>`, entries sorted by key so the output is deterministic;
    /// key and value are always written, as protoc does.
    public mutating func writeStringMap(_ map: [String: String], field: Int) {
        for key in map.keys.sorted() {
            writeNested(field: field) { w in
                w.writeString(key, field: 1, always: true)
                w.writeString(map[key]!, field: 2, always: true)
            }
        }
    }

    /// Writes a `map<string, M>`, entries sorted by key.
    public mutating func writeMessageMap<M: ProtobufMessage>(_ map: [String: M], field: Int) {
        for key in map.keys.sorted() {
            writeNested(field: field) { w in
                w.writeString(key, field: 1, always: true)
                w.writeMessage(map[key]!, field: 2)
            }
        }
    }

    /// Writes a packed repeated varint field (`int32`, `int64`, `uint*`, `bool`, enums as raw
    /// 64-bit patterns); nothing when empty.
    public mutating func writePackedVarints(_ values: [UInt64], field: Int) {
        guard !values.isEmpty else { return }
        writeNested(field: field) { w in
            for v in values { w.writeRawVarint(v) }
        }
    }

    /// Writes a packed repeated `fixed32`/`sfixed32`/`float` field; nothing when empty.
    public mutating func writePackedFixed32(_ values: [UInt32], field: Int) {
        guard !values.isEmpty else { return }
        writeTag(field, .lengthDelimited)
        writeRawVarint(UInt64(values.count * 4))
        for v in values { writeRawFixed32(v) }
    }

    /// Writes a packed repeated `fixed64`/`sfixed64`/`double` field; nothing when empty.
    public mutating func writePackedFixed64(_ values: [UInt64], field: Int) {
        guard !values.isEmpty else { return }
        writeTag(field, .lengthDelimited)
        writeRawVarint(UInt64(values.count * 8))
        for v in values { writeRawFixed64(v) }
    }
}
