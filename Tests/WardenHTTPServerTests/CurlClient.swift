import Foundation

/// What the real HTTP client (the curl CLI) saw.
struct CurlResult {
    var exitCode: Int32
    var status: Int
    var contentType: String
    var body: String
    var headers: [String: String]
    /// "1.1" or "2".
    var httpVersion: String = ""
}

/// Runs `curl` against a test server: a real HTTP client, bounded in time.
func curl(_ url: String, method: String = "GET", data: String? = nil, extra: [String] = []) throws -> CurlResult {
    let headerFile = FileManager.default.temporaryDirectory
        .appendingPathComponent("warden-http-test-\(UUID().uuidString).headers")
    defer { try? FileManager.default.removeItem(at: headerFile) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
    var arguments = ["-sS", "--max-time", "5", "-X", method, "-D", headerFile.path,
                     "-o", "-", "-w", "\n%{http_version}\n%{http_code}\n%{content_type}"]
    if let data { arguments += ["--data-binary", data] }
    process.arguments = arguments + extra + [url]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    let bytes = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: bytes, as: UTF8.self)
    var lines = text.components(separatedBy: "\n")
    let contentType = lines.popLast() ?? ""
    let status = Int(lines.popLast() ?? "") ?? 0
    let version = lines.popLast() ?? ""
    var headers: [String: String] = [:]
    if let raw = try? String(contentsOf: headerFile, encoding: .utf8) {
        for line in raw.components(separatedBy: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
    }
    return CurlResult(exitCode: process.terminationStatus, status: status, contentType: contentType,
                      body: lines.joined(separator: "\n"), headers: headers, httpVersion: version)
}
