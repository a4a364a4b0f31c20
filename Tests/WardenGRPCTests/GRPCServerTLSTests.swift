import Foundation
import Testing
import WardenGRPC

/// TLS and mTLS listeners against a gRPC core client, with certificates made by the openssl CLI.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct GRPCServerTLSTests {
    @Test func tlsRoundTrip() throws {
        let certificates = try TestCertificates.shared.get()
        let server = try TestService().startServer(tls: .init(
            certificateChainPath: certificates.serverCertificate, privateKeyPath: certificates.serverKey))
        defer { server.shutdown(gracePeriod: 1) }
        let target = "127.0.0.1:\(server.port)"

        let secure = try GRPCClient(target: target, tls: .init(ca: certificates.caCertificate))
            .call(TestService.echo, Array("over tls".utf8))
        #expect(secure == .init(code: "OK", details: "", payload: Array("over tls".utf8)))
        #expect(try GRPCClient(target: target).call(TestService.echo, [1], timeout: 3).code == "UNAVAILABLE")
    }

    struct ClientIdentity: Sendable, CustomTestStringConvertible {
        let name: String
        /// File stem in the certificate directory (`client` → client.pem + client.key), nil for none.
        let files: String?
        let code: String
        var testDescription: String { name }
    }

    static let identities: [ClientIdentity] = [
        .init(name: "trusted client certificate", files: "client", code: "OK"),
        .init(name: "no client certificate", files: nil, code: "UNAVAILABLE"),
        .init(name: "certificate from an untrusted CA", files: "stranger", code: "UNAVAILABLE"),
    ]

    @Test(arguments: identities)
    func mutualTLSRequiresATrustedClientCertificate(_ identity: ClientIdentity) throws {
        let certificates = try TestCertificates.shared.get()
        let server = try TestService().startServer(tls: .init(
            certificateChainPath: certificates.serverCertificate, privateKeyPath: certificates.serverKey,
            clientCAPath: certificates.caCertificate))
        defer { server.shutdown(gracePeriod: 1) }
        var tls = GRPCClient.TLS(ca: certificates.caCertificate)
        if let stem = identity.files {
            tls.certificate = "\(certificates.directory)/\(stem).pem"
            tls.key = "\(certificates.directory)/\(stem).key"
        }
        let outcome = try GRPCClient(target: "127.0.0.1:\(server.port)", tls: tls)
            .call(TestService.echo, [3, 1, 4], timeout: 5)
        #expect(outcome.code == identity.code, "\(outcome)")
        if identity.code == "OK" { #expect(outcome.payload == [3, 1, 4]) }
    }
}
