/// Appends protobuf wire format to a growing byte array.
///
/// The `write…(_:field:)` methods follow proto3 implicit presence: a default value (0, false,
/// empty) is omitted unless `always` is true, which members of a oneof and map entries need.
/// Fields must be written in field-number order to match other encoders byte for byte.
public struct ProtobufWriter: Sendable {
    @usableFromInline var buffer: [UInt8]

    /// The encoded bytes so far.
    public var bytes: [UInt8] { buffer }

    @inlinable
    public init(capacity: Int = 128) {
        buffer = []
        buffer.reserveCapacity(capacity)
    }

    // MARK: - Raw

    @inlinable
    public mutating func writeRawVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            buffer.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        buffer.append(UInt8(v))
    }

    @inlinable
    public mutating func writeTag(_ fieldNumber: Int, _ wireType: WireType) {
        writeRawVarint(UInt64(fieldNumber) << 3 | UInt64(wireType.rawValue))
    }

    @inlinable
    public mutating func writeRawFixed32(_ value: UInt32) {
        for k in 0..<4 { buffer.append(UInt8(truncatingIfNeeded: value >> (8 * UInt32(k)))) }
    }

    @inlinable
    public mutating func writeRawFixed64(_ value: UInt64) {
        for k in 0..<8 { buffer.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(k)))) }
    }

    @inlinable
    public mutating func writeRawBytes(_ value: some Collection<UInt8>) {
        buffer.append(contentsOf: value)
    }

    // MARK: - Scalars

    @inlinable
    public mutating func writeUInt64(_ value: UInt64, field: Int, always: Bool = false) {
        guard value != 0 || always else { return }
        writeTag(field, .varint)
        writeRawVarint(value)
    }

    @inlinable
    public mutating func writeInt64(_ value: Int64, field: Int, always: Bool = false) {
        writeUInt64(UInt64(bitPattern: value), field: field, always: always)
    }

    /// `int32`: a negative value is sign-extended to 64 bits (10 buffer on the wire).
    @inlinable
    public mutating func writeInt32(_ value: Int32, field: Int, always: Bool = false) {
        writeUInt64(UInt64(bitPattern: Int64(value)), field: field, always: always)
    }

    @inlinable
    public mutating func writeUInt32(_ value: UInt32, field: Int, always: Bool = false) {
        writeUInt64(UInt64(value), field: field, always: always)
    }

    /// An enum's raw value (same encoding as `int32`).
    @inlinable
    public mutating func writeEnum(_ rawValue: Int32, field: Int, always: Bool = false) {
        writeInt32(rawValue, field: field, always: always)
    }

    @inlinable
    public mutating func writeBool(_ value: Bool, field: Int, always: Bool = false) {
        writeUInt64(value ? 1 : 0, field: field, always: always)
    }

    @inlinable
    public mutating func writeSInt32(_ value: Int32, field: Int, always: Bool = false) {
        let zigzag = UInt32(bitPattern: (value << 1) ^ (value >> 31))
        writeUInt64(UInt64(zigzag), field: field, always: always)
    }

    @inlinable
    public mutating func writeSInt64(_ value: Int64, field: Int, always: Bool = false) {
        writeUInt64(UInt64(bitPattern: (value << 1) ^ (value >> 63)), field: field, always: always)
    }

    @inlinable
    public mutating func writeFixed32(_ value: UInt32, field: Int, always: Bool = false) {
        guard value != 0 || always else { return }
        writeTag(field, .fixed32)
        writeRawFixed32(value)
    }

    @inlinable
    public mutating func writeFixed64(_ value: UInt64, field: Int, always: Bool = false) {
        guard value != 0 || always else { return }
        writeTag(field, .fixed64)
        writeRawFixed64(value)
    }

    @inlinable
    public mutating func writeSFixed32(_ value: Int32, field: Int, always: Bool = false) {
        writeFixed32(UInt32(bitPattern: value), field: field, always: always)
    }

    @inlinable
    public mutating func writeSFixed64(_ value: Int64, field: Int, always: Bool = false) {
        writeFixed64(UInt64(bitPattern: value), field: field, always: always)
    }

    /// `float`; -0.0 is not the default and is written (its bit pattern is non-zero).
    @inlinable
    public mutating func writeFloat(_ value: Float, field: Int, always: Bool = false) {
        writeFixed32(value.bitPattern, field: field, always: always)
    }

    @inlinable
    public mutating func writeDouble(_ value: Double, field: Int, always: Bool = false) {
        writeFixed64(value.bitPattern, field: field, always: always)
    }

    // MARK: - Length-delimited

    @inlinable
    public mutating func writeString(_ value: String, field: Int, always: Bool = false) {
        guard !value.isEmpty || always else { return }
        writeTag(field, .lengthDelimited)
        var v = value
        v.withUTF8 { utf8 in
            writeRawVarint(UInt64(utf8.count))
            buffer.append(contentsOf: utf8)
        }
    }

    @inlinable
    public mutating func writeBytes(_ value: [UInt8], field: Int, always: Bool = false) {
        guard !value.isEmpty || always else { return }
        writeTag(field, .lengthDelimited)
        writeRawVarint(UInt64(value.count))
        buffer.append(contentsOf: value)
    }

    /// Writes a nested message whose body `body` appends, in one pass over the output.
    ///
    /// One length byte is reserved before the body (most nested messages are shorter than 128 bytes);
    /// a longer body is moved up once by the extra length bytes, in place: no temporary buffer, no
    /// allocation, whatever the depth.
    @inlinable
    public mutating func writeNested(field: Int, _ body: (inout ProtobufWriter) -> Void) {
        writeTag(field, .lengthDelimited)
        let lengthAt = buffer.count
        buffer.append(0)
        body(&self)
        let length = buffer.count - lengthAt - 1
        if length < 0x80 {
            buffer[lengthAt] = UInt8(truncatingIfNeeded: length)
        } else {
            patchLongLength(at: lengthAt, length: length)
        }
    }

    /// Replaces the one reserved length byte at `lengthAt` by the full varint of `length` (≥ 128),
    /// moving the `length` body bytes that follow it up by the extra bytes.
    @usableFromInline
    mutating func patchLongLength(at lengthAt: Int, length: Int) {
        var extra = 0
        var v = UInt64(length) >> 7
        while v != 0 { extra += 1; v >>= 7 }
        for _ in 0..<extra { buffer.append(0) }
        buffer.withUnsafeMutableBufferPointer { b in
            let base = UnsafeMutableRawPointer(b.baseAddress!)
            // copyMemory is memmove: the regions overlap.
            (base + lengthAt + 1 + extra).copyMemory(from: base + lengthAt + 1, byteCount: length)
            var v = UInt64(length)
            var i = lengthAt
            while v >= 0x80 {
                b[i] = UInt8(truncatingIfNeeded: v) | 0x80
                v >>= 7
                i += 1
            }
            b[i] = UInt8(truncatingIfNeeded: v)
        }
    }

    /// Writes a (present) nested message.
    @inlinable
    public mutating func writeMessage(_ message: some ProtobufMessage, field: Int) {
        writeNested(field: field) { message.encode(to: &$0) }
    }

    /// Writes an optional nested message when present.
    @inlinable
    public mutating func writeMessage<M: ProtobufMessage>(_ message: M?, field: Int) {
        if let message { writeMessage(message, field: field) }
    }

    /// Writes each element of a repeated message field.
    @inlinable
    public mutating func writeRepeatedMessages<M: ProtobufMessage>(_ messages: [M], field: Int) {
        for m in messages { writeMessage(m, field: field) }
    }

    /// Writes each element of a repeated `string` field (empty strings included).
    @inlinable
    public mutating func writeRepeatedStrings(_ values: [String], field: Int) {
        for v in values { writeString(v, field: field, always: true) }
    }

    /// Writes a `map<string, string>`, entries sorted by key so the output is deterministic;
    /// key and value are always written, as protoc does.
    @inlinable
    public mutating func writeStringMap(_ map: [String: String], field: Int) {
        if map.count == 1, let (key, value) = map.first {
            writeStringMapEntry(key, value, field: field)
            return
        }
        // Sorting the entries, not the keys, saves a hash lookup per entry.
        for (key, value) in map.sorted(by: { $0.key < $1.key }) {
            writeStringMapEntry(key, value, field: field)
        }
    }

    @inlinable
    mutating func writeStringMapEntry(_ key: String, _ value: String, field: Int) {
        writeNested(field: field) { w in
            w.writeString(key, field: 1, always: true)
            w.writeString(value, field: 2, always: true)
        }
    }

    /// Writes a `map<string, M>`, entries sorted by key.
    @inlinable
    public mutating func writeMessageMap<M: ProtobufMessage>(_ map: [String: M], field: Int) {
        if map.count == 1, let (key, value) = map.first {
            writeMessageMapEntry(key, value, field: field)
            return
        }
        for (key, value) in map.sorted(by: { $0.key < $1.key }) {
            writeMessageMapEntry(key, value, field: field)
        }
    }

    @inlinable
    mutating func writeMessageMapEntry<M: ProtobufMessage>(_ key: String, _ value: M, field: Int) {
        writeNested(field: field) { w in
            w.writeString(key, field: 1, always: true)
            w.writeMessage(value, field: 2)
        }
    }

    /// Writes a packed repeated varint field (`int32`, `int64`, `uint*`, `bool`, enums as raw
    /// 64-bit patterns); nothing when empty.
    @inlinable
    public mutating func writePackedVarints(_ values: [UInt64], field: Int) {
        guard !values.isEmpty else { return }
        writeNested(field: field) { w in
            for v in values { w.writeRawVarint(v) }
        }
    }

    /// Writes a packed repeated `fixed32`/`sfixed32`/`float` field; nothing when empty.
    @inlinable
    public mutating func writePackedFixed32(_ values: [UInt32], field: Int) {
        guard !values.isEmpty else { return }
        writeTag(field, .lengthDelimited)
        writeRawVarint(UInt64(values.count * 4))
        for v in values { writeRawFixed32(v) }
    }

    /// Writes a packed repeated `fixed64`/`sfixed64`/`double` field; nothing when empty.
    @inlinable
    public mutating func writePackedFixed64(_ values: [UInt64], field: Int) {
        guard !values.isEmpty else { return }
        writeTag(field, .lengthDelimited)
        writeRawVarint(UInt64(values.count * 8))
        for v in values { writeRawFixed64(v) }
    }
}
