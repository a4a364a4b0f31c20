/// `envoy.config.core.v3.HeaderValue`: one header (`raw_value` carries non-UTF-8 values).
public struct HeaderValue: ProtobufMessage, Hashable {
    /// `key = 1`.
    public var key: String
    /// `value = 2`.
    public var value: String
    /// `raw_value = 3`: used instead of `value` by Envoy's `encode_raw_headers`.
    public var rawValue: [UInt8]

    public init() { self.init(key: "", value: "") }

    public init(key: String, value: String, rawValue: [UInt8] = []) {
        self.key = key
        self.value = value
        self.rawValue = rawValue
    }

    public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1: key = try reader.readString(tag)
        case 2: value = try reader.readString(tag)
        case 3: rawValue = try reader.readBytes(tag)
        default: try reader.skip(tag)
        }
    }

    public func encode(to writer: inout ProtobufWriter) {
        writer.writeString(key, field: 1)
        writer.writeString(value, field: 2)
        writer.writeBytes(rawValue, field: 3)
    }
}

/// `envoy.config.core.v3.HeaderValueOption`: a header to add, with how to combine it.
public struct HeaderValueOption: ProtobufMessage, Hashable {
    /// `HeaderValueOption.HeaderAppendAction` (open enum).
    public struct AppendAction: RawRepresentable, Sendable, Hashable {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        /// Append to an existing header, or add it (the default).
        public static let appendIfExistsOrAdd = AppendAction(rawValue: 0)
        /// Add only if the header is absent.
        public static let addIfAbsent = AppendAction(rawValue: 1)
        /// Replace an existing header, or add it.
        public static let overwriteIfExistsOrAdd = AppendAction(rawValue: 2)
        /// Replace only if the header exists.
        public static let overwriteIfExists = AppendAction(rawValue: 3)
    }

    /// `header = 1`.
    @MessageField public var header: HeaderValue
    /// `append = 2` (google.protobuf.BoolValue, deprecated in Envoy; nil = unset, which the
    /// ext_authz filter treats as false, i.e. overwrite).
    public var append: Bool?
    /// `append_action = 3`.
    public var appendAction: AppendAction
    /// `keep_empty_value = 4`.
    public var keepEmptyValue: Bool

    public init() {
        self._header = MessageField()
        self.append = nil
        self.appendAction = .appendIfExistsOrAdd
        self.keepEmptyValue = false
    }

    public init(header: HeaderValue, append: Bool? = nil, appendAction: AppendAction = .appendIfExistsOrAdd, keepEmptyValue: Bool = false) {
        self._header = MessageField(header)
        self.append = append
        self.appendAction = appendAction
        self.keepEmptyValue = keepEmptyValue
    }

    /// Convenience: `HeaderValueOption(key: "x-user", value: "alice", appendAction: .overwriteIfExistsOrAdd)`.
    public init(key: String, value: String, appendAction: AppendAction = .appendIfExistsOrAdd) {
        self.init(header: HeaderValue(key: key, value: value), appendAction: appendAction)
    }

    public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1: try reader.readMessage(tag, into: &$header)
        case 2:
            var box = ProtobufBoolValue(append ?? false)
            try reader.readMessage(tag, into: &box)
            append = box.value
        case 3: appendAction = AppendAction(rawValue: try reader.readEnum(tag))
        case 4: keepEmptyValue = try reader.readBool(tag)
        default: try reader.skip(tag)
        }
    }

    public func encode(to writer: inout ProtobufWriter) {
        writer.writeMessage($header, field: 1)
        if let append { writer.writeMessage(ProtobufBoolValue(append), field: 2) }
        writer.writeEnum(appendAction.rawValue, field: 3)
        writer.writeBool(keepEmptyValue, field: 4)
    }
}

/// `envoy.config.core.v3.HeaderMap`: headers as an ordered list (duplicates kept).
public struct HeaderMap: ProtobufMessage, Hashable {
    /// `headers = 1`.
    public var headers: [HeaderValue]

    public init() { headers = [] }
    public init(headers: [HeaderValue]) { self.headers = headers }

    public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1: headers.append(try reader.readMessage(tag, as: HeaderValue.self))
        default: try reader.skip(tag)
        }
    }

    public func encode(to writer: inout ProtobufWriter) {
        writer.writeRepeatedMessages(headers, field: 1)
    }
}

/// `envoy.config.core.v3.QueryParameter`.
public struct QueryParameter: ProtobufMessage, Hashable {
    /// `key = 1`.
    public var key: String
    /// `value = 2`.
    public var value: String

    public init() { self.init(key: "", value: "") }

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }

    public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1: key = try reader.readString(tag)
        case 2: value = try reader.readString(tag)
        default: try reader.skip(tag)
        }
    }

    public func encode(to writer: inout ProtobufWriter) {
        writer.writeString(key, field: 1)
        writer.writeString(value, field: 2)
    }
}

/// `envoy.config.core.v3.Metadata`: per-filter metadata namespaces.
public struct Metadata: ProtobufMessage {
    /// `filter_metadata = 1`: namespace (e.g. `envoy.filters.http.jwt_authn`) → Struct.
    public var filterMetadata: [String: ProtobufStruct]
    /// `typed_filter_metadata = 2`: namespace → Any (kept packed).
    public var typedFilterMetadata: [String: ProtobufAny]

    public init() { self.init(filterMetadata: [:]) }

    public init(filterMetadata: [String: ProtobufStruct], typedFilterMetadata: [String: ProtobufAny] = [:]) {
        self.filterMetadata = filterMetadata
        self.typedFilterMetadata = typedFilterMetadata
    }

    public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1: try reader.readMessageMapEntry(tag, into: &filterMetadata)
        case 2: try reader.readMessageMapEntry(tag, into: &typedFilterMetadata)
        default: try reader.skip(tag)
        }
    }

    public func encode(to writer: inout ProtobufWriter) {
        writer.writeMessageMap(filterMetadata, field: 1)
        writer.writeMessageMap(typedFilterMetadata, field: 2)
    }
}
