/// `envoy.config.core.v3.Address`: a socket address, a pipe or an Envoy-internal address.
public struct Address: ProtobufMessage {
    /// The oneof `address`.
    public enum Kind: Sendable, Equatable {
        /// `socket_address = 1`.
        case socketAddress(SocketAddress)
        /// `pipe = 2`.
        case pipe(Pipe)
        /// `envoy_internal_address = 3`.
        case envoyInternalAddress(EnvoyInternalAddress)
    }

    /// Which address this is; nil when none is set.
    public var address: Kind?

    public init() { address = nil }

    public init(_ address: Kind?) { self.address = address }

    /// The socket address, when that is the member set.
    public var socketAddress: SocketAddress? {
        if case .socketAddress(let a) = address { return a }
        return nil
    }

    public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1:
            var v = SocketAddress()
            if case .socketAddress(let existing) = address { v = existing }
            try reader.readMessage(tag, into: &v)
            address = .socketAddress(v)
        case 2:
            var v = Pipe()
            if case .pipe(let existing) = address { v = existing }
            try reader.readMessage(tag, into: &v)
            address = .pipe(v)
        case 3:
            var v = EnvoyInternalAddress()
            if case .envoyInternalAddress(let existing) = address { v = existing }
            try reader.readMessage(tag, into: &v)
            address = .envoyInternalAddress(v)
        default: try reader.skip(tag)
        }
    }

    public func encode(to writer: inout ProtobufWriter) {
        switch address {
        case .socketAddress(let v): writer.writeMessage(v, field: 1)
        case .pipe(let v): writer.writeMessage(v, field: 2)
        case .envoyInternalAddress(let v): writer.writeMessage(v, field: 3)
        case nil: break
        }
    }
}

/// `envoy.config.core.v3.SocketAddress`.
public struct SocketAddress: ProtobufMessage {
    /// `SocketAddress.Protocol` (an open enum: unknown values are kept).
    public struct TransportProtocol: RawRepresentable, Sendable, Hashable {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let tcp = TransportProtocol(rawValue: 0)
        public static let udp = TransportProtocol(rawValue: 1)
    }

    /// The oneof `port_specifier`.
    public enum PortSpecifier: Sendable, Equatable {
        /// `port_value = 3`.
        case portValue(UInt32)
        /// `named_port = 4`.
        case namedPort(String)
    }

    /// `protocol = 1`.
    public var `protocol`: TransportProtocol
    /// `address = 2`: an IP address or a host name.
    public var address: String
    public var portSpecifier: PortSpecifier?
    /// `resolver_name = 5`.
    public var resolverName: String
    /// `ipv4_compat = 6`.
    public var ipv4Compat: Bool
    /// `network_namespace_filepath = 7`.
    public var networkNamespaceFilepath: String

    public init() {
        self.init(address: "")
    }

    public init(
        protocol: TransportProtocol = .tcp, address: String, portSpecifier: PortSpecifier? = nil,
        resolverName: String = "", ipv4Compat: Bool = false, networkNamespaceFilepath: String = ""
    ) {
        self.protocol = `protocol`
        self.address = address
        self.portSpecifier = portSpecifier
        self.resolverName = resolverName
        self.ipv4Compat = ipv4Compat
        self.networkNamespaceFilepath = networkNamespaceFilepath
    }

    /// Convenience for the common case: an address and a numeric port.
    public init(address: String, portValue: UInt32) {
        self.init(address: address, portSpecifier: .portValue(portValue))
    }

    /// The numeric port, when the port is given as a number.
    public var portValue: UInt32? {
        if case .portValue(let p) = portSpecifier { return p }
        return nil
    }

    /// The named port, when the port is given as a name.
    public var namedPort: String? {
        if case .namedPort(let p) = portSpecifier { return p }
        return nil
    }

    public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1: `protocol` = TransportProtocol(rawValue: try reader.readEnum(tag))
        case 2: address = try reader.readString(tag)
        case 3: portSpecifier = .portValue(try reader.readUInt32(tag))
        case 4: portSpecifier = .namedPort(try reader.readString(tag))
        case 5: resolverName = try reader.readString(tag)
        case 6: ipv4Compat = try reader.readBool(tag)
        case 7: networkNamespaceFilepath = try reader.readString(tag)
        default: try reader.skip(tag)
        }
    }

    public func encode(to writer: inout ProtobufWriter) {
        writer.writeEnum(`protocol`.rawValue, field: 1)
        writer.writeString(address, field: 2)
        switch portSpecifier {
        case .portValue(let p): writer.writeUInt32(p, field: 3, always: true)
        case .namedPort(let p): writer.writeString(p, field: 4, always: true)
        case nil: break
        }
        writer.writeString(resolverName, field: 5)
        writer.writeBool(ipv4Compat, field: 6)
        writer.writeString(networkNamespaceFilepath, field: 7)
    }
}

/// `envoy.config.core.v3.Pipe`: a Unix domain socket.
public struct Pipe: ProtobufMessage, Hashable {
    /// `path = 1`.
    public var path: String
    /// `mode = 2`: file permission bits.
    public var mode: UInt32

    public init() { self.init(path: "") }

    public init(path: String, mode: UInt32 = 0) {
        self.path = path
        self.mode = mode
    }

    public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1: path = try reader.readString(tag)
        case 2: mode = try reader.readUInt32(tag)
        default: try reader.skip(tag)
        }
    }

    public func encode(to writer: inout ProtobufWriter) {
        writer.writeString(path, field: 1)
        writer.writeUInt32(mode, field: 2)
    }
}

/// `envoy.config.core.v3.EnvoyInternalAddress`.
public struct EnvoyInternalAddress: ProtobufMessage, Hashable {
    /// `server_listener_name = 1` (the only member of the oneof `address_name_specifier`).
    public var serverListenerName: String?
    /// `endpoint_id = 2`.
    public var endpointID: String

    public init() { self.init(serverListenerName: nil) }

    public init(serverListenerName: String?, endpointID: String = "") {
        self.serverListenerName = serverListenerName
        self.endpointID = endpointID
    }

    public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1: serverListenerName = try reader.readString(tag)
        case 2: endpointID = try reader.readString(tag)
        default: try reader.skip(tag)
        }
    }

    public func encode(to writer: inout ProtobufWriter) {
        if let serverListenerName { writer.writeString(serverListenerName, field: 1, always: true) }
        writer.writeString(endpointID, field: 2)
    }
}
