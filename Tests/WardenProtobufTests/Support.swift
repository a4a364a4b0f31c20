import Foundation
import Testing

/// Paths and external tools (protoc, the venv's Python) used by the interop tests.
enum Support {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let protoDir = packageRoot.appendingPathComponent("proto").path

    static var python: String {
        if let p = ProcessInfo.processInfo.environment["WARDEN_PYTHON"], !p.isEmpty { return p }
        return packageRoot.appendingPathComponent(".venv/bin/python").path
    }

    struct ToolError: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs a program to completion (killed after `timeout` seconds) and returns its stdout.
    static func run(_ executable: String, _ arguments: [String], stdin: [UInt8] = [], timeout: Double = 60) throws -> [UInt8] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("warden-proto-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let inURL = dir.appendingPathComponent("stdin")
        let errURL = dir.appendingPathComponent("stderr")
        try Data(stdin).write(to: inURL)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = try FileHandle(forReadingFrom: inURL)
        let out = Pipe()
        process.standardOutput = out
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
        let watchdog = DispatchWorkItem { process.terminate() }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        watchdog.cancel()
        guard process.terminationStatus == 0 else {
            let err = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
            throw ToolError(description: "\(executable) \(arguments.joined(separator: " ")) exited \(process.terminationStatus): \(err)")
        }
        return [UInt8](data)
    }

    static func protoc(_ arguments: [String], stdin: [UInt8]) throws -> [UInt8] {
        try run("/usr/bin/env", ["protoc", "-I", protoDir] + arguments, stdin: stdin)
    }

    /// `protoc --encode=<type>` of a text-format message.
    static func protocEncode(_ type: String, file: String, text: String) throws -> [UInt8] {
        try protoc(["--encode=\(type)", file], stdin: Array(text.utf8))
    }

    /// `protoc --decode=<type>`: the canonical text format of a binary message.
    static func protocDecode(_ type: String, file: String, bytes: [UInt8]) throws -> String {
        String(decoding: try protoc(["--decode=\(type)", file], stdin: bytes), as: UTF8.self)
    }

    /// Runs a Python snippet with the project's interpreter; `stdin` is passed through.
    static func python(_ script: String, stdin: [UInt8] = []) throws -> [UInt8] {
        try run(python, ["-c", script], stdin: stdin)
    }
}

extension Array where Element == UInt8 {
    init(hex: String) {
        var bytes: [UInt8] = []
        var it = hex.filter { !$0.isWhitespace }.makeIterator()
        while let a = it.next(), let b = it.next() {
            bytes.append(UInt8(String([a, b]), radix: 16)!)
        }
        self = bytes
    }

    var hex: String { map { String(format: "%02x", $0) }.joined() }
}
