import WardenSync
import Foundation
import Testing
import WardenJWKS

enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

    static func path(_ name: String) -> String { directory + "/" + name }

    static func text(_ name: String) throws -> String {
        try String(contentsOfFile: path(name), encoding: .utf8)
    }

    /// A fresh empty directory under the system temporary directory.
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "warden-jwks-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// Collects log lines.
final class LogLines: Sendable {
    private let lines = Locked<[String]>([])
    var logger: @Sendable (String) -> Void { { line in self.lines.withLock { $0.append(line) } } }
    var all: [String] { lines.withLock { $0 } }
}

/// A settable clock for deterministic ageing.
final class FakeClock: Sendable {
    private let value: Locked<Double>
    init(_ start: Double = 1_000_000) { value = Locked(start) }
    var now: Double { value.withLock { $0 } }
    func set(_ t: Double) { value.withLock { $0 = t } }
    func advance(_ dt: Double) { value.withLock { $0 += dt } }
    var function: @Sendable () -> Double { { self.now } }
}

/// A thread-safe counter.
final class Counter: Sendable {
    private let value = Locked(0)
    func increment() { value.withLock { $0 += 1 } }
    var count: Int { value.withLock { $0 } }
}

extension JWKSStore {
    /// `keys(for:completion:)` as an async call.
    func awaitKeys(_ source: JWKSSource) async -> KeySnapshot? {
        await withCheckedContinuation { c in keys(for: source) { c.resume(returning: $0) } }
    }

    /// `refetchForUnknownKid` as an async call.
    func awaitRefetch(_ source: JWKSSource, kid: String?) async -> KeySnapshot? {
        await withCheckedContinuation { c in refetchForUnknownKid(source, kid: kid) { c.resume(returning: $0) } }
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` seconds pass.
func eventually(timeout: Double, _ condition: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        try? await Task.sleep(nanoseconds: 20_000_000)
    }
    return condition()
}

/// Seconds `body` takes.
func measure(_ body: () -> Void) -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

