/// Writes protobuf wire format into memory it owns and reuses: for an encoder that runs per item on a busy
/// path (the OTLP span exporter encodes every sampled check's span), where `ProtobufWriter`'s `Array`
/// append per field and per fixed-width byte cost ~5× more instructions (callgrind: ~8.4k → ~1.5k per span).
///
/// The same wire format as `ProtobufWriter`, byte for byte (tested against it): fields in the order they
/// are written, minimal varints, nested lengths patched after the body. Each write checks the remaining
/// capacity once and grows the storage (doubling) when needed. `removeAll()` keeps the memory for the next
/// message. Not copyable: the storage has one owner and is freed with it.
public struct ProtobufBufferWriter: ~Copyable {
    @usableFromInline var base: UnsafeMutableRawPointer
    @usableFromInline var capacity: Int
    @usableFromInline var used: Int

    /// Bytes written so far.
    public var count: Int { used }

    /// The length bytes `writeNested` reserves before a body (bodies up to 16,383 bytes need no move).
    @inlinable static var reservedLengthBytes: Int { 2 }

    public init(capacity: Int = 4096) {
        self.capacity = max(64, capacity)
        base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 8)
        used = 0
    }

    deinit { base.deallocate() }

    /// A copy of the bytes written.
    public var bytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { out, initialized in
            if count > 0 { UnsafeMutableRawPointer(out.baseAddress!).copyMemory(from: base, byteCount: count) }
            initialized = count
        }
    }

    /// Forgets what was written; the memory is kept for reuse.
    public mutating func removeAll() { used = 0 }

    // MARK: - Capacity

    @inlinable @inline(__always)
    mutating func ensure(_ extra: Int) {
        if capacity &- used < extra { grow(extra) }
    }

    @usableFromInline
    mutating func grow(_ extra: Int) {
        var newCapacity = capacity
        while newCapacity - used < extra { newCapacity *= 2 }
        let newBase = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 8)
        newBase.copyMemory(from: base, byteCount: used)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    // MARK: - Raw

    @inlinable @inline(__always)
    public mutating func writeRawVarint(_ value: UInt64) {
        ensure(10)
        var v = value
        var at = used
        while v >= 0x80 {
            base.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, toByteOffset: at, as: UInt8.self)
            v >>= 7
            at &+= 1
        }
        base.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: at, as: UInt8.self)
        used = at &+ 1
    }

    @inlinable @inline(__always)
    public mutating func writeTag(_ fieldNumber: Int, _ wireType: WireType) {
        let key = UInt64(fieldNumber) << 3 | UInt64(wireType.rawValue)
        if key < 0x80 {
            ensure(1)
            base.storeBytes(of: UInt8(truncatingIfNeeded: key), toByteOffset: used, as: UInt8.self)
            used &+= 1
        } else {
            writeRawVarint(key)
        }
    }

    /// Four bytes, little-endian.
    @inlinable @inline(__always)
    public mutating func writeRawFixed32(_ value: UInt32) {
        ensure(4)
        base.storeBytes(of: value.littleEndian, toByteOffset: used, as: UInt32.self)
        used &+= 4
    }

    /// Eight bytes, little-endian.
    @inlinable @inline(__always)
    public mutating func writeRawFixed64(_ value: UInt64) {
        ensure(8)
        base.storeBytes(of: value.littleEndian, toByteOffset: used, as: UInt64.self)
        used &+= 8
    }

    @inlinable
    public mutating func writeRawBytes(_ value: [UInt8]) {
        value.withUnsafeBytes { appendRaw($0) }
    }

    /// The string's UTF-8 bytes, without tag or length.
    @inlinable @inline(__always)
    public mutating func writeRawUTF8(_ value: String) {
        var v = value
        v.withUTF8 { appendRaw(UnsafeRawBufferPointer($0)) }
    }

    @inlinable @inline(__always)
    mutating func appendRaw(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        ensure(bytes.count)
        (base + used).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        used &+= bytes.count
    }

    // MARK: - Fields (proto3 implicit presence, as `ProtobufWriter`)

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

    /// An enum's raw value (as `int32`: a negative value is sign-extended to 64 bits).
    @inlinable
    public mutating func writeEnum(_ rawValue: Int32, field: Int, always: Bool = false) {
        writeUInt64(UInt64(bitPattern: Int64(rawValue)), field: field, always: always)
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
    public mutating func writeDouble(_ value: Double, field: Int, always: Bool = false) {
        writeFixed64(value.bitPattern, field: field, always: always)
    }

    @inlinable
    public mutating func writeString(_ value: String, field: Int, always: Bool = false) {
        var v = value
        v.withUTF8 { utf8 in
            guard utf8.count > 0 || always else { return }
            writeTag(field, .lengthDelimited)
            writeRawVarint(UInt64(utf8.count))
            appendRaw(UnsafeRawBufferPointer(utf8))
        }
    }

    @inlinable
    public mutating func writeBytes(_ value: [UInt8], field: Int, always: Bool = false) {
        guard !value.isEmpty || always else { return }
        writeTag(field, .lengthDelimited)
        writeRawVarint(UInt64(value.count))
        writeRawBytes(value)
    }

    /// Writes a nested message whose body `body` appends. Two length bytes are reserved before the body;
    /// a body shorter than 128 bytes or longer than 16,383 is moved once (down by one byte, or up by the
    /// extra length bytes), in place.
    @inlinable
    public mutating func writeNested(field: Int, _ body: (inout ProtobufBufferWriter) -> Void) {
        writeTag(field, .lengthDelimited)
        ensure(Self.reservedLengthBytes)
        let lengthAt = used
        used &+= Self.reservedLengthBytes
        body(&self)
        finishNested(lengthAt: lengthAt)
    }

    @inlinable
    mutating func finishNested(lengthAt: Int) {
        let bodyAt = lengthAt + Self.reservedLengthBytes
        let length = used - bodyAt
        if length >= 0x80 && length < 0x4000 {
            base.storeBytes(of: UInt8(truncatingIfNeeded: length) | 0x80, toByteOffset: lengthAt, as: UInt8.self)
            base.storeBytes(of: UInt8(truncatingIfNeeded: length >> 7), toByteOffset: lengthAt + 1, as: UInt8.self)
        } else {
            moveNested(lengthAt: lengthAt, length: length)
        }
    }

    /// The length's varint does not take the two reserved bytes: moves the body to just after it.
    @usableFromInline
    mutating func moveNested(lengthAt: Int, length: Int) {
        var size = 1, v = UInt64(length) >> 7
        while v != 0 { size += 1; v >>= 7 }
        let shift = size - Self.reservedLengthBytes
        if shift > 0 { ensure(shift) }
        let bodyAt = lengthAt + Self.reservedLengthBytes
        // copyMemory is memmove: the regions overlap.
        if length > 0 { (base + bodyAt + shift).copyMemory(from: base + bodyAt, byteCount: length) }
        var rest = UInt64(length), at = lengthAt
        while rest >= 0x80 {
            base.storeBytes(of: UInt8(truncatingIfNeeded: rest) | 0x80, toByteOffset: at, as: UInt8.self)
            rest >>= 7
            at += 1
        }
        base.storeBytes(of: UInt8(truncatingIfNeeded: rest), toByteOffset: at, as: UInt8.self)
        used += shift
    }
}
