import Foundation

/// A throwaway CA, a server certificate for `localhost`/127.0.0.1 and a client certificate, made with the
/// openssl CLI in a temporary directory once per test process.
struct TestCertificates: Sendable {
    let directory: String
    var caCertificate: String { directory + "/ca.pem" }
    var serverCertificate: String { directory + "/server.pem" }
    var serverKey: String { directory + "/server.key" }
    // Client identities: client.pem/.key (signed by ca.pem), stranger.pem/.key (signed by an untrusted CA).

    static let shared: Result<TestCertificates, GRPCClient.Failure> = Result { try make() }
        .mapError { GRPCClient.Failure(description: "\($0)") }

    private static func make() throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("warden-grpc-tls-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let certificates = TestCertificates(directory: directory)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try openssl(["req", "-x509"] + ec + ["-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                     "-subj", "/CN=Warden Test CA", "-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign,cRLSign"], in: directory)
        try openssl(["req", "-x509"] + ec + ["-keyout", "otherca.key", "-out", "otherca.pem", "-days", "2",
                     "-subj", "/CN=Other CA", "-addext", "basicConstraints=critical,CA:TRUE"], in: directory)
        for (name, ca, extensions) in [
            ("server", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
            ("client", "ca", "extendedKeyUsage=clientAuth\n"),
            ("stranger", "otherca", "extendedKeyUsage=clientAuth\n"),
        ] {
            try extensions.write(toFile: "\(directory)/\(name).ext", atomically: true, encoding: .utf8)
            try openssl(["req"] + ec + ["-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(name == "server" ? "localhost" : name)"], in: directory)
            try openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "\(ca).pem", "-CAkey", "\(ca).key",
                         "-CAcreateserial", "-out", "\(name).pem", "-days", "2", "-extfile", "\(name).ext"], in: directory)
        }
        return certificates
    }

    private static func openssl(_ arguments: [String], in directory: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw GRPCClient.Failure(description: "openssl \(arguments.joined(separator: " ")): "
                + String(decoding: message, as: UTF8.self))
        }
    }
}
