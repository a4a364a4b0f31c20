import Foundation

/// The Python identity provider in Fixtures/idp.py, on an ephemeral 127.0.0.1 port, controlled over
/// its stdin. Killed by `stop()`; it also exits by itself on stdin EOF or after two minutes.
final class IdP: Sendable {
    struct Key: Sendable {
        var kid: String
        var kty = "RSA"
        var crv: String?
        var json: [String: String] {
            var d = ["kid": kid, "kty": kty]
            if let crv { d["crv"] = crv }
            return d
        }
    }

    let port: Int
    /// With `tls`: the self-signed certificate the IdP serves (use it as the CA bundle).
    let caBundle: String?
    let tls: Bool
    private let process: Process
    private let input: FileHandle
    private let output: FileHandle
    private let lock = Locked<[UInt8]>([])

    var base: String { "\(tls ? "https" : "http")://127.0.0.1:\(port)" }
    var jwksURL: String { base + "/jwks.json" }

    /// - Parameter tlsDirectory: serve HTTPS with a self-signed certificate written into this directory.
    init(keys: [Key] = [Key(kid: "k1"), Key(kid: "k2", kty: "EC", crv: "P-256")], tlsDirectory: String? = nil) throws {
        signal(SIGPIPE, SIG_IGN)  // a write to a dead IdP must fail, not kill the test run
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Fixtures.python)
        process.arguments = [Fixtures.path("idp.py"), "--lifetime", "120"] + (tlsDirectory.map { ["--tls", $0] } ?? [])
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        self.process = process
        self.input = stdin.fileHandleForWriting
        self.output = stdout.fileHandleForReading
        var buffer: [UInt8] = []
        let hello = try IdP.readLine(output, buffer: &buffer)
        guard let port = hello["port"] as? Int else { throw IdPError.protocolError("no port in \(hello)") }
        self.port = port
        self.caBundle = hello["ca"] as? String
        self.tls = tlsDirectory != nil
        lock.withLock { $0 = buffer }
        try command(["cmd": "keys", "specs": keys.map(\.json)])
    }

    /// Sends one command and returns the reply.
    @discardableResult
    func command(_ cmd: [String: Any]) throws -> [String: Any] {
        let line = try JSONSerialization.data(withJSONObject: cmd) + Data("\n".utf8)
        return try lock.withLock { buffer in
            input.write(line)
            return try IdP.readLine(output, buffer: &buffer)
        }
    }

    func set(_ fields: [String: Any]) {
        var cmd = fields
        cmd["cmd"] = "set"
        _ = try? command(cmd)
    }

    func addKey(_ key: Key) throws { try command(["cmd": "add", "spec": key.json]) }

    /// Request counters: jwks, discovery, not_modified, in_flight.
    func stats() -> [String: Int] {
        (try? command(["cmd": "stats"]))?["stats"] as? [String: Int] ?? [:]
    }

    /// The JWKS document currently served.
    func jwks() throws -> String { try command(["cmd": "stats"])["jwks"] as! String }

    /// Kills the IdP (SIGKILL: the test runner's blocked signal mask is inherited, so SIGTERM may not land).
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    private static func readLine(_ handle: FileHandle, buffer: inout [UInt8]) throws -> [String: Any] {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Data(buffer[..<newline])
                buffer.removeSubrange(...newline)
                guard let object = try JSONSerialization.jsonObject(with: line) as? [String: Any] else {
                    throw IdPError.protocolError(String(decoding: line, as: UTF8.self))
                }
                return object
            }
            let chunk = handle.availableData
            if chunk.isEmpty { throw IdPError.exited }
            buffer.append(contentsOf: chunk)
        }
    }
}

enum IdPError: Error {
    case exited
    case protocolError(String)
}
