internal import CMicroHTTPD
internal import CWardenShims
import WardenSync
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A small HTTP/1.1 server for Warden's admin endpoints, backed by libmicrohttpd.
///
/// It binds only to the address it is given, serves requests on one internal polling thread and
/// answers each with the handler's response. Request bodies are read and discarded.
/// The handler runs on that thread: keep it short and never call ``stop()`` from inside it.
public final class AdminServer: Sendable {
    /// The bound port (the ephemeral one the kernel chose when the listen address said port 0).
    public let port: Int
    /// The bound host, as an IP literal.
    public let host: String

    private let handlerBox: HandlerBox
    private let daemon: Locked<DaemonHandle?>

    /// Starts listening on `listen` ("host:port"; port 0 picks a free port).
    /// - Parameters:
    ///   - connectionLimit: concurrent connections accepted; further ones are refused.
    ///   - connectionTimeoutSeconds: idle connections are closed after this long.
    ///   - handler: answers every request, including unknown paths.
    /// - Throws: ``AdminServerError`` naming the cause (bad address, address in use, …).
    public init(
        listen: String,
        connectionLimit: Int = 64,
        connectionTimeoutSeconds: Int = 10,
        handler: @escaping @Sendable (AdminRequest) -> AdminResponse
    ) throws(AdminServerError) {
        let address = try ListenAddress(parsing: listen)
        let box = HandlerBox(handler: handler)
        var failure: Int32 = 0
        let started = address.withSockAddr { sockaddr in
            warden_mhd_start(
                sockaddr, address.family == .ipv6 ? 1 : 0,
                UInt32(clamping: max(1, connectionLimit)), UInt32(clamping: max(1, connectionTimeoutSeconds)),
                { cls, connection, url, method, _, _, uploadDataSize, connectionContext in
                    adminAccessHandler(cls, connection, url, method, uploadDataSize, connectionContext)
                },
                Unmanaged.passUnretained(box).toOpaque(), &failure)
        }
        guard let started else {
            switch failure {
            case EADDRINUSE: throw .addressInUse(address.display)
            case EADDRNOTAVAIL: throw .addressNotAvailable(address.display)
            case EACCES, EPERM: throw .permissionDenied(address.display)
            default: throw .startFailed(address.display, errno: failure)
            }
        }
        let handle = DaemonHandle(pointer: started)
        self.handlerBox = box
        self.daemon = Locked(handle)
        self.host = address.host
        let bound = Int(warden_mhd_bound_port(started))
        self.port = bound != 0 ? bound : Int(address.port)
    }

    /// Stops accepting, closes every connection and joins the polling thread. Idempotent.
    /// The port is free again when this returns.
    public func stop() {
        let handle = daemon.withLock { current -> DaemonHandle? in
            defer { current = nil }
            return current
        }
        if let handle { MHD_stop_daemon(handle.pointer) }
    }

    deinit {
        stop()
        withExtendedLifetime(handlerBox) {}
    }
}

/// The `struct MHD_Daemon *`; only `AdminServer` touches it, under its mutex.
private struct DaemonHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// Owned by `AdminServer`; libmicrohttpd holds an unretained pointer to it while the daemon runs.
private final class HandlerBox: Sendable {
    let handler: @Sendable (AdminRequest) -> AdminResponse
    init(handler: @escaping @Sendable (AdminRequest) -> AdminResponse) { self.handler = handler }
}

/// libmicrohttpd's access handler: called first when the headers arrive (we only mark the
/// connection), then once per body chunk (discarded), then once more when the request is complete.
private func adminAccessHandler(
    _ cls: UnsafeMutableRawPointer?, _ connection: OpaquePointer?,
    _ url: UnsafePointer<CChar>?, _ method: UnsafePointer<CChar>?,
    _ uploadDataSize: UnsafeMutablePointer<Int>?,
    _ connectionContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> MHD_Result {
    guard let cls, let connection, let connectionContext else { return .NO }
    if connectionContext.pointee == nil {
        connectionContext.pointee = UnsafeMutableRawPointer(bitPattern: 1)
        return .YES
    }
    if let uploadDataSize, uploadDataSize.pointee != 0 {
        uploadDataSize.pointee = 0
        return .YES
    }
    let box = Unmanaged<HandlerBox>.fromOpaque(cls).takeUnretainedValue()
    let request = AdminRequest(
        method: method.map { String(cString: $0) } ?? "",
        path: url.map { String(cString: $0) } ?? "/",
        query: connectionValues(connection, kind: .GET_ARGUMENT_KIND, lowercaseKeys: false),
        headers: connectionValues(connection, kind: .HEADER_KIND, lowercaseKeys: true))
    return queue(box.handler(request), on: connection)
}

private final class ValueCollector {
    var values: [String: String] = [:]
    let lowercaseKeys: Bool
    init(lowercaseKeys: Bool) { self.lowercaseKeys = lowercaseKeys }
}

private func connectionValues(_ connection: OpaquePointer, kind: MHD_ValueKind, lowercaseKeys: Bool) -> [String: String] {
    let collector = ValueCollector(lowercaseKeys: lowercaseKeys)
    withExtendedLifetime(collector) {
        _ = MHD_get_connection_values(connection, kind, { cls, _, key, value in
            guard let cls, let key else { return .YES }
            let collector = Unmanaged<ValueCollector>.fromOpaque(cls).takeUnretainedValue()
            let name = String(cString: key)
            collector.values[collector.lowercaseKeys ? name.lowercased() : name] = value.map { String(cString: $0) } ?? ""
            return .YES
        }, Unmanaged.passUnretained(collector).toOpaque())
    }
    return collector.values
}

private func queue(_ response: AdminResponse, on connection: OpaquePointer) -> MHD_Result {
    var body = response.body
    let created = body.withUnsafeMutableBytes { bytes in
        MHD_create_response_from_buffer(bytes.count, bytes.baseAddress, .RESPMEM_MUST_COPY)
    }
    guard let created else { return .NO }
    defer { MHD_destroy_response(created) }
    _ = MHD_add_response_header(created, "Content-Type", response.contentType)
    for header in response.headers {
        _ = MHD_add_response_header(created, header.name, header.value)
    }
    let status = (100...599).contains(response.status) ? UInt32(response.status) : 500
    return MHD_queue_response(connection, status, created)
}
