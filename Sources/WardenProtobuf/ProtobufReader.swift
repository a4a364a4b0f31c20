/// Reads protobuf wire format straight from a byte array: no copies of the input, nested
/// messages are read in place by narrowing the readable window, and nothing is allocated before
/// the bytes that justify it have been seen (a length prefix is checked against the remaining
/// input first).
///
/// Typical use inside `ProtobufMessage.decodeField(_:from:)`:
/// ```swift
/// switch tag.fieldNumber {
/// case 1: name = try reader.readString(tag)
/// default: try reader.skip(tag)
/// }
/// ```
public struct ProtobufReader {
    /// The default bound on message nesting (Struct inside Value inside Struct … counts each level).
    public static let defaultMaxDepth = 64

    @usableFromInline let bytes: [UInt8]
    @usableFromInline var position: Int
    @usableFromInline var end: Int
    @usableFromInline var depth: Int
    /// Nesting bound: a message nested deeper than this is rejected with `.nestingTooDeep`.
    public let maxDepth: Int

    /// Creates a reader over the whole of `bytes`.
    public init(bytes: [UInt8], maxDepth: Int = ProtobufReader.defaultMaxDepth) {
        self.bytes = bytes
        self.position = 0
        self.end = bytes.count
        self.depth = 0
        self.maxDepth = maxDepth
    }

    /// Current read position in the input.
    public var offset: Int { position }

    /// True when the current message (or the whole input at top level) has been read.
    @inlinable
    public var isAtEnd: Bool { position >= end }

    // MARK: - Tags

    /// Reads the next field key, or returns nil at the end of the current message.
    @inlinable @inline(__always)
    public mutating func nextTag() throws(ProtobufDecodeError) -> ProtobufTag? {
        if position >= end { return nil }
        let start = position
        let key = try readRawVarint()
        let rawWireType = UInt8(truncatingIfNeeded: key & 7)
        guard let wireType = WireType(rawValue: rawWireType) else {
            throw ProtobufDecodeError(.invalidWireType(rawWireType), at: start)
        }
        let number = key >> 3
        if number == 0 { throw ProtobufDecodeError(.fieldNumberZero, at: start) }
        if number > UInt64(ProtobufTag.maxFieldNumber) {
            throw ProtobufDecodeError(.fieldNumberTooLarge(number), at: start)
        }
        return ProtobufTag(fieldNumber: Int(number), wireType: wireType, offset: start)
    }

    /// Skips the value of a field this message does not know (any wire type, groups included).
    @inlinable
    public mutating func skip(_ tag: ProtobufTag) throws(ProtobufDecodeError) {
        switch tag.wireType {
        case .varint: _ = try readRawVarint()
        case .fixed64: try advance(8)
        case .fixed32: try advance(4)
        case .lengthDelimited:
            let range = try readLengthDelimitedRange()
            position = range.upperBound
        case .startGroup: try skipGroup(tag)
        case .endGroup: throw ProtobufDecodeError(.unmatchedEndGroup(fieldNumber: tag.fieldNumber), at: tag.offset)
        }
    }

    @usableFromInline
    mutating func skipGroup(_ start: ProtobufTag) throws(ProtobufDecodeError) {
        guard depth < maxDepth else { throw ProtobufDecodeError(.nestingTooDeep(limit: maxDepth), at: start.offset) }
        depth += 1
        while true {
            guard let tag = try nextTag() else { throw ProtobufDecodeError(.unexpectedEnd, at: position) }
            if tag.wireType == .endGroup {
                guard tag.fieldNumber == start.fieldNumber else {
                    throw ProtobufDecodeError(.unmatchedEndGroup(fieldNumber: tag.fieldNumber), at: tag.offset)
                }
                break
            }
            try skip(tag)
        }
        depth -= 1
    }

    // MARK: - Raw values (no tag check)

    /// Reads a base-128 varint of at most 10 bytes; bits beyond 64 are discarded, as protobuf does.
    @inlinable @inline(__always)
    public mutating func readRawVarint() throws(ProtobufDecodeError) -> UInt64 {
        // Fast path, inlined into every caller: one byte (tags of fields 1-15, short lengths).
        if position < end {
            let b = bytes[position]
            if b < 0x80 {
                position += 1
                return UInt64(b)
            }
        }
        return try readMultiByteVarint()
    }

    @usableFromInline
    mutating func readMultiByteVarint() throws(ProtobufDecodeError) -> UInt64 {
        let start = position
        var i = position
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard i < end else { throw ProtobufDecodeError(.truncatedVarint, at: start) }
            let b = bytes[i]
            i += 1
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 {
                position = i
                return result
            }
            shift += 7
            if shift >= 70 { throw ProtobufDecodeError(.varintTooLong, at: start) }
        }
    }

    /// Reads 4 little-endian bytes.
    @inlinable
    public mutating func readRawFixed32() throws(ProtobufDecodeError) -> UInt32 {
        guard end - position >= 4 else { throw ProtobufDecodeError(.unexpectedEnd, at: position) }
        var v: UInt32 = 0
        for k in 0..<4 { v |= UInt32(bytes[position + k]) << (8 * UInt32(k)) }
        position += 4
        return v
    }

    /// Reads 8 little-endian bytes.
    @inlinable
    public mutating func readRawFixed64() throws(ProtobufDecodeError) -> UInt64 {
        guard end - position >= 8 else { throw ProtobufDecodeError(.unexpectedEnd, at: position) }
        var v: UInt64 = 0
        for k in 0..<8 { v |= UInt64(bytes[position + k]) << (8 * UInt64(k)) }
        position += 8
        return v
    }

    /// Reads a length prefix and returns the range of the payload (not yet consumed), checked
    /// against the end of the current message before anything is allocated.
    @inlinable @inline(__always)
    mutating func readLengthDelimitedRange() throws(ProtobufDecodeError) -> Range<Int> {
        let start = position
        let length = try readRawVarint()
        guard length <= UInt64(end - position) else {
            throw ProtobufDecodeError(.lengthPastEnd(length: length), at: start)
        }
        return position..<(position + Int(length))
    }

    @inlinable
    mutating func advance(_ n: Int) throws(ProtobufDecodeError) {
        guard end - position >= n else { throw ProtobufDecodeError(.unexpectedEnd, at: position) }
        position += n
    }

    @inlinable @inline(__always)
    func expect(_ tag: ProtobufTag, _ wireType: WireType) throws(ProtobufDecodeError) {
        if tag.wireType != wireType {
            throw ProtobufDecodeError(.wrongWireType(fieldNumber: tag.fieldNumber, wireType: tag.wireType), at: tag.offset)
        }
    }

    // MARK: - Scalars (tag checked)

    @inlinable
    public mutating func readUInt64(_ tag: ProtobufTag) throws(ProtobufDecodeError) -> UInt64 {
        try expect(tag, .varint)
        return try readRawVarint()
    }

    @inlinable
    public mutating func readInt64(_ tag: ProtobufTag) throws(ProtobufDecodeError) -> Int64 {
        Int64(bitPattern: try readUInt64(tag))
    }

    /// `int32`: negative values arrive as 10-byte sign-extended varints; the low 32 bits count.
    @inlinable
    public mutating func readInt32(_ tag: ProtobufTag) throws(ProtobufDecodeError) -> Int32 {
        Int32(truncatingIfNeeded: try readUInt64(tag))
    }

    @inlinable
    public mutating func readUInt32(_ tag: ProtobufTag) throws(ProtobufDecodeError) -> UInt32 {
        UInt32(truncatingIfNeeded: try readUInt64(tag))
    }

    /// An enum's raw value (proto3 enums are open: unknown values are kept).
    @inlinable
    public mutating func readEnum(_ tag: ProtobufTag) throws(ProtobufDecodeError) -> Int32 {
        try readInt32(tag)
    }

    @inlinable
    public mutating func readBool(_ tag: ProtobufTag) throws(ProtobufDecodeError) -> Bool {
        try readUInt64(tag) != 0
    }

    /// `sint32` (zigzag).
    @inlinable
    public mutating func readSInt32(_ tag: ProtobufTag) throws(ProtobufDecodeError) -> Int32 {
        let n = UInt32(truncatingIfNeeded: try readUInt64(tag))
        return Int32(bitPattern: (n >> 1) ^ (0 &- (n & 1)))
    }

    /// `sint64` (zigzag).
    @inlinable
    public mutating func readSInt64(_ tag: ProtobufTag) throws(ProtobufDecodeError) -> Int64 {
        let n = try readUInt64(tag)
        return Int64(bitPattern: (n >> 1) ^ (0 &- (n & 1)))
    }

    @inlinable
    public mutating func readFixed32(_ tag: ProtobufTag) throws(ProtobufDecodeError) -> UInt32 {
        try expect(tag, .fixed32)
        return try readRawFixed32()
    }

    @inlinable
    public mutating func readFixed64(_ tag: ProtobufTag) throws(ProtobufDecodeError) -> UInt64 {
        try expect(tag, .fixed64)
        return try readRawFixed64()
    }

    @inlinable
    public mutating func readSFixed32(_ tag: ProtobufTag) throws(ProtobufDecodeError) -> Int32 {
        Int32(bitPattern: try readFixed32(tag))
    }

    @inlinable
    public mutating func readSFixed64(_ tag: ProtobufTag) throws(ProtobufDecodeError) -> Int64 {
        Int64(bitPattern: try readFixed64(tag))
    }

    @inlinable
    public mutating func readFloat(_ tag: ProtobufTag) throws(ProtobufDecodeError) -> Float {
        Float(bitPattern: try readFixed32(tag))
    }

    @inlinable
    public mutating func readDouble(_ tag: ProtobufTag) throws(ProtobufDecodeError) -> Double {
        Double(bitPattern: try readFixed64(tag))
    }

    // MARK: - Length-delimited

    /// A `string` field; invalid UTF-8 is `.invalidUTF8`.
    @inlinable
    public mutating func readString(_ tag: ProtobufTag) throws(ProtobufDecodeError) -> String {
        try readString(tag, interning: nil)
    }

    /// A fixed set of strings that `readString(_:interning:)` returns as they are instead of
    /// building a new `String` from equal bytes (for values most messages repeat: header names).
    ///
    /// An open-addressing hash table keyed by length, first and last byte, so that a lookup
    /// costs one probe and one comparison in the common case. A class over raw buffers so that a
    /// lookup retains nothing: immutable after `init`, it owns its buffers (freed in `deinit`),
    /// hence the audited `@unchecked Sendable`.
    public final class StringTable: @unchecked Sendable {
        @usableFromInline static let slotCount = 256
        /// The strings' UTF-8, back to back.
        @usableFromInline let storage: UnsafeMutableBufferPointer<UInt8>
        /// Per slot: 0 when empty, else 1 + the index of the string in `strings`.
        @usableFromInline let slots: UnsafeMutableBufferPointer<Int>
        /// Where each string starts in `storage`, and its length.
        @usableFromInline let offsets: UnsafeMutableBufferPointer<Int>
        @usableFromInline let lengths: UnsafeMutableBufferPointer<Int>
        @usableFromInline let strings: [String]

        /// - Precondition: fewer than 128 strings (the table stays at most half full).
        public init(_ strings: [String]) {
            let unique = Array(Set(strings)).sorted()
            precondition(unique.count < Self.slotCount / 2, "StringTable holds fewer than \(Self.slotCount / 2) strings")
            var bytes: [UInt8] = []
            storage = .allocate(capacity: max(unique.reduce(0) { $0 + $1.utf8.count }, 1))
            slots = .allocate(capacity: Self.slotCount)
            slots.initialize(repeating: 0)
            offsets = .allocate(capacity: max(unique.count, 1))
            lengths = .allocate(capacity: max(unique.count, 1))
            for (i, s) in unique.enumerated() {
                let utf8 = Array(s.utf8)
                (offsets.baseAddress! + i).initialize(to: bytes.count)
                (lengths.baseAddress! + i).initialize(to: utf8.count)
                bytes += utf8
                var slot = Self.hash(utf8.count, utf8.first ?? 0, utf8.last ?? 0)
                while slots[slot] != 0 { slot = (slot + 1) & (Self.slotCount - 1) }
                slots[slot] = i + 1
            }
            _ = storage.initialize(from: bytes)
            self.strings = unique
        }

        deinit {
            storage.deallocate()
            slots.deallocate()
            offsets.deallocate()
            lengths.deallocate()
        }

        @inlinable @inline(__always)
        static func hash(_ count: Int, _ first: UInt8, _ last: UInt8) -> Int {
            (count &* 37 &+ Int(first) &* 5 &+ Int(last) &* 11) & (slotCount - 1)
        }

        /// The table's string whose UTF-8 is `bytes`, if any.
        public func string(for bytes: [UInt8]) -> String? {
            bytes.withUnsafeBufferPointer { string(for: $0) }
        }

        @inlinable
        func string(for bytes: UnsafeBufferPointer<UInt8>) -> String? {
            let n = bytes.count
            guard n > 0, let candidate = bytes.baseAddress else { return strings.contains("") ? "" : nil }
            var slot = Self.hash(n, candidate[0], candidate[n &- 1])
            while true {
                let entry = slots[slot]
                if entry == 0 { return nil }
                let i = entry &- 1
                if lengths[i] == n {
                    let stored = UnsafeRawPointer(storage.baseAddress.unsafelyUnwrapped + offsets[i])
                    let probe = UnsafeRawPointer(candidate)
                    var k = 0
                    while k &+ 8 <= n {
                        if stored.loadUnaligned(fromByteOffset: k, as: UInt64.self) != probe.loadUnaligned(fromByteOffset: k, as: UInt64.self) { break }
                        k &+= 8
                    }
                    if k &+ 8 > n {
                        while k < n && stored.load(fromByteOffset: k, as: UInt8.self) == probe.load(fromByteOffset: k, as: UInt8.self) { k &+= 1 }
                        if k == n { return strings[i] }
                    }
                }
                slot = (slot &+ 1) & (Self.slotCount &- 1)
            }
        }
    }

    /// A `string` field as `readString(_:)` reads it (same checks, same errors), returned from
    /// `table` when its bytes are one of the table's strings.
    @inlinable
    public mutating func readString(_ tag: ProtobufTag, interning table: StringTable?) throws(ProtobufDecodeError) -> String {
        try expect(tag, .lengthDelimited)
        let range = try readLengthDelimitedRange()
        position = range.upperBound
        if range.isEmpty { return "" }
        let decoded: String? = bytes.withUnsafeBufferPointer { buffer in
            let slice = UnsafeBufferPointer(rebasing: buffer[range])
            // A table string's bytes are valid UTF-8, so a hit needs no validation. Otherwise one strict
            // pass (the stdlib rejects overlongs, surrogates and > U+10FFFF, as UTF8Validation does)
            // instead of validating, then String(decoding:) validating again.
            return table?.string(for: slice) ?? String._tryFromUTF8(slice)
        }
        guard let s = decoded else {
            throw ProtobufDecodeError(.invalidUTF8(fieldNumber: tag.fieldNumber), at: range.lowerBound)
        }
        return s
    }

    /// A `string` field checked like `readString(_:)` (wire type, length, strict UTF-8) and
    /// dropped, without building the `String`: for fields a caller must validate but never reads.
    @inlinable
    public mutating func skipString(_ tag: ProtobufTag) throws(ProtobufDecodeError) {
        try expect(tag, .lengthDelimited)
        let range = try readLengthDelimitedRange()
        position = range.upperBound
        if range.isEmpty { return }
        let valid: Bool = bytes.withUnsafeBufferPointer { buffer in
            // UTF8Span's validation is the stdlib's, the same `String._tryFromUTF8` runs.
            let span = Span(_unsafeElements: UnsafeBufferPointer(rebasing: buffer[range]))
            do { _ = try UTF8Span(validating: span); return true } catch { return false }
        }
        guard valid else {
            throw ProtobufDecodeError(.invalidUTF8(fieldNumber: tag.fieldNumber), at: range.lowerBound)
        }
    }

    /// A `bytes` field checked like `readBytes(_:)` (wire type, length) and dropped, without copying it.
    @inlinable
    public mutating func skipBytes(_ tag: ProtobufTag) throws(ProtobufDecodeError) {
        try expect(tag, .lengthDelimited)
        position = try readLengthDelimitedRange().upperBound
    }

    /// A `bytes` field (copied out of the input).
    @inlinable
    public mutating func readBytes(_ tag: ProtobufTag) throws(ProtobufDecodeError) -> [UInt8] {
        try expect(tag, .lengthDelimited)
        let range = try readLengthDelimitedRange()
        position = range.upperBound
        return Array(bytes[range])
    }

    /// Decodes a nested message into `message`, merging with what it already holds (protobuf
    /// semantics for a singular message field that occurs more than once).
    @inlinable
    public mutating func readMessage<M: ProtobufMessage>(_ tag: ProtobufTag, into message: inout M) throws(ProtobufDecodeError) {
        try withNestedMessage(tag) { (reader) throws(ProtobufDecodeError) in
            while let t = try reader.nextTag() { try message.decodeField(t, from: &reader) }
        }
    }

    /// Decodes a nested message into an optional (presence-tracking) field.
    @inlinable
    public mutating func readMessage<M: ProtobufMessage>(_ tag: ProtobufTag, into message: inout M?) throws(ProtobufDecodeError) {
        var value = message.take() ?? M()
        try readMessage(tag, into: &value)
        message = value
    }

    /// Decodes a nested message and returns it.
    @inlinable
    public mutating func readMessage<M: ProtobufMessage>(_ tag: ProtobufTag, as type: M.Type = M.self) throws(ProtobufDecodeError) -> M {
        var value = M()
        try readMessage(tag, into: &value)
        return value
    }

    /// Runs `body` with the reader narrowed to the nested message that `tag` introduces; `body`
    /// reads the fields with `nextTag()` until nil. Enforces the nesting bound.
    @inlinable
    public mutating func withNestedMessage(
        _ tag: ProtobufTag, _ body: (inout ProtobufReader) throws(ProtobufDecodeError) -> Void
    ) throws(ProtobufDecodeError) {
        let outer = try enterMessage(tag)
        try body(&self)
        leaveMessage(outer)
    }

    /// Where reading resumes after a nested message: returned by `enterMessage(_:)`, handed back
    /// to `leaveMessage(_:)`.
    public struct OuterMessage: Sendable {
        @usableFromInline let end: Int
        @inlinable init(end: Int) { self.end = end }
    }

    /// Narrows the reader to the nested message that `tag` introduces (the closure-free form of
    /// `withNestedMessage`): read its fields with `nextTag()` until nil, then call
    /// `leaveMessage(_:)` with the returned value. Checks the wire type, the nesting bound and the
    /// length, in that order. After a thrown error the reader is not to be used again.
    @inlinable @inline(__always)
    public mutating func enterMessage(_ tag: ProtobufTag) throws(ProtobufDecodeError) -> OuterMessage {
        try expect(tag, .lengthDelimited)
        guard depth < maxDepth else { throw ProtobufDecodeError(.nestingTooDeep(limit: maxDepth), at: tag.offset) }
        let range = try readLengthDelimitedRange()
        let outer = OuterMessage(end: end)
        end = range.upperBound
        depth += 1
        return outer
    }

    /// Ends the nested message entered by `enterMessage(_:)`: reading continues after it.
    @inlinable @inline(__always)
    public mutating func leaveMessage(_ outer: OuterMessage) {
        position = end
        end = outer.end
        depth -= 1
    }

    /// Reads one entry of a `map<string, string>` field as `readStringMapEntry(_:into:)` does
    /// (same checks, same defaults) and returns it instead of inserting it.
    /// - Parameter keys: strings returned as they are when a key's bytes match one.
    @inlinable
    public mutating func readStringMapPair(_ tag: ProtobufTag, keys: StringTable? = nil) throws(ProtobufDecodeError) -> (key: String, value: String) {
        var key = ""
        var value = ""
        let outer = try enterMessage(tag)
        while let t = try nextTag() {
            switch t.fieldNumber {
            case 1:
                if let keys { key = try readString(t, interning: keys) } else { key = try readString(t) }
            case 2: value = try readString(t)
            default: try skip(t)
            }
        }
        leaveMessage(outer)
        return (key, value)
    }

    /// Checks one entry of a `map<string, string>` field as `readStringMapEntry(_:into:)` does and
    /// drops it.
    @inlinable
    public mutating func skipStringMapEntry(_ tag: ProtobufTag) throws(ProtobufDecodeError) {
        let outer = try enterMessage(tag)
        while let t = try nextTag() {
            switch t.fieldNumber {
            case 1, 2: try skipString(t)
            default: try skip(t)
            }
        }
        leaveMessage(outer)
    }

    /// Reads one entry of a `map<string, V>` field (a nested message `{key = 1; value = 2}`),
    /// missing key or value taking their defaults. Insert the result into the dictionary: a later
    /// duplicate key wins, as in protobuf.
    @inlinable
    public mutating func readMapEntry<Value>(
        _ tag: ProtobufTag,
        defaultValue: Value,
        value readValue: (inout ProtobufReader, ProtobufTag) throws(ProtobufDecodeError) -> Value
    ) throws(ProtobufDecodeError) -> (key: String, value: Value) {
        var key = ""
        var value = defaultValue
        try withNestedMessage(tag) { (reader) throws(ProtobufDecodeError) in
            while let t = try reader.nextTag() {
                switch t.fieldNumber {
                case 1: key = try reader.readString(t)
                case 2: value = try readValue(&reader, t)
                default: try reader.skip(t)
                }
            }
        }
        return (key, value)
    }

    /// Reads a `map<string, string>` entry into `map`.
    @inlinable
    public mutating func readStringMapEntry(_ tag: ProtobufTag, into map: inout [String: String]) throws(ProtobufDecodeError) {
        let entry = try readStringMapPair(tag)
        map[entry.key] = entry.value
    }

    /// Reads a `map<string, M>` entry into `map`.
    @inlinable
    public mutating func readMessageMapEntry<M: ProtobufMessage>(_ tag: ProtobufTag, into map: inout [String: M]) throws(ProtobufDecodeError) {
        let entry = try readMapEntry(tag, defaultValue: M()) { (r, t) throws(ProtobufDecodeError) -> M in
            try r.readMessage(t, as: M.self)
        }
        map[entry.key] = entry.value
    }

    /// Reads a repeated scalar field in either encoding (parsers must accept both): packed
    /// (one length-delimited run) or one element per tag. `element` must be the wire type of the
    /// field's scalar type (`.varint`, `.fixed32` or `.fixed64`); `read` decodes one raw element.
    @inlinable
    public mutating func readRepeated<T>(
        _ tag: ProtobufTag,
        element: WireType,
        into array: inout [T],
        _ read: (inout ProtobufReader) throws(ProtobufDecodeError) -> T
    ) throws(ProtobufDecodeError) {
        if tag.wireType == element {
            array.append(try read(&self))
            return
        }
        try expect(tag, .lengthDelimited)
        let range = try readLengthDelimitedRange()
        let outerEnd = end
        end = range.upperBound
        defer { end = outerEnd }
        while position < end {
            let at = position
            do {
                array.append(try read(&self))
            } catch {
                // The run's end cut an element short; other errors (an 11-byte varint) stand.
                guard error.kind == .truncatedVarint || error.kind == .unexpectedEnd else { throw error }
                throw ProtobufDecodeError(.truncatedPackedField(fieldNumber: tag.fieldNumber), at: at)
            }
        }
    }
}
