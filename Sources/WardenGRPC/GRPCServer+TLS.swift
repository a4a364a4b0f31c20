internal import CGRPC
#if canImport(Glibc)
import Glibc
#endif

extension GRPCServer {
    /// Server credentials for the listener: insecure (h2c) without TLS, else TLS with the PEM files,
    /// requiring and verifying a client certificate when `clientCAPath` is set.
    static func credentials(for tls: TLSConfiguration?) throws(GRPCServerError) -> OpaquePointer {
        guard let tls else { return grpc_insecure_server_credentials_create() }
        let chain = try readPEM(tls.certificateChainPath)
        let key = try readPEM(tls.privateKeyPath)
        let clientCA = try tls.clientCAPath.map { path throws(GRPCServerError) in try readPEM(path) }

        let credentials: OpaquePointer? = chain.withCString { chainPointer in
            key.withCString { keyPointer in
                var pair = grpc_ssl_pem_key_cert_pair(private_key: keyPointer, cert_chain: chainPointer)
                guard let clientCA else {
                    return grpc_ssl_server_credentials_create_ex(
                        nil, &pair, 1, GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE, nil)
                }
                return clientCA.withCString { caPointer in
                    grpc_ssl_server_credentials_create_ex(
                        caPointer, &pair, 1, GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY, nil)
                }
            }
        }
        guard let credentials else { throw .tlsCredentialsRejected }
        return credentials
    }

    private static func readPEM(_ path: String) throws(GRPCServerError) -> String {
        guard let file = fopen(path, "rb") else { throw .tlsFileUnreadable(path: path, errno: errno) }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            bytes.append(contentsOf: chunk[0..<count])
            if count < chunk.count { break }
            if bytes.count > 16 << 20 { throw .tlsFileNotPEM(path: path) }
        }
        if ferror(file) != 0 { throw .tlsFileUnreadable(path: path, errno: errno) }
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.contains("-----BEGIN ") else { throw .tlsFileNotPEM(path: path) }
        return text
    }
}
