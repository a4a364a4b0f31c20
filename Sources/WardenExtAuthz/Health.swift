/// `grpc.health.v1.HealthCheckRequest`.
public struct HealthCheckRequest: ProtobufMessage, Hashable {
    /// `service = 1`: "" asks about the server as a whole.
    public var service: String

    public init() { service = "" }
    public init(service: String) { self.service = service }

    public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1: service = try reader.readString(tag)
        default: try reader.skip(tag)
        }
    }

    public func encode(to writer: inout ProtobufWriter) {
        writer.writeString(service, field: 1)
    }
}

/// `grpc.health.v1.HealthCheckResponse`.
public struct HealthCheckResponse: ProtobufMessage, Hashable {
    /// `HealthCheckResponse.ServingStatus` (open enum).
    public struct ServingStatus: RawRepresentable, Sendable, Hashable {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let unknown = ServingStatus(rawValue: 0)
        public static let serving = ServingStatus(rawValue: 1)
        public static let notServing = ServingStatus(rawValue: 2)
        /// Used only by `Watch`.
        public static let serviceUnknown = ServingStatus(rawValue: 3)
    }

    /// `status = 1`.
    public var status: ServingStatus

    public init() { status = .unknown }
    public init(status: ServingStatus) { self.status = status }

    public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1: status = ServingStatus(rawValue: try reader.readEnum(tag))
        default: try reader.skip(tag)
        }
    }

    public func encode(to writer: inout ProtobufWriter) {
        writer.writeEnum(status.rawValue, field: 1)
    }
}
