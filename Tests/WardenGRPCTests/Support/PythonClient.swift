import Foundation

/// Runs the grpcio client below in the project's venv: a real gRPC peer for the server under test.
///
/// It reads one JSON job on stdin and prints one JSON result:
/// - `{"mode": "calls", "calls": [{"method", "payload" (hex), "timeout", "kind"?: "stream_unary"}], "truncate"?}`
///   starts every call at once and prints `[{"code", "details", "payload", "size"?}]` in order (with
///   `truncate`, only the first 8 payload bytes and the size);
/// - `{"mode": "stress", "method", "threads", "per_thread", "stop_on_error"?, "max_errors"?}` echoes a unique
///   payload per call from many threads and prints `{"ok", "errors"}` (a wrong or swapped response counts as
///   an error; with `stop_on_error` a thread stops at its first failed call).
/// `"tls": {"ca", "cert"?, "key"?}` switches to TLS (server name `localhost`).
struct PythonClient {
    static let script = #"""
import json, os, sys, threading, grpc

job = json.load(sys.stdin)

def channel():
    options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1),
               ("grpc.enable_retries", 0)]
    tls = job.get("tls")
    if not tls:
        return grpc.insecure_channel(job["target"], options=options)
    read = lambda path: open(path, "rb").read() if path else None
    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(tls["ca"]), private_key=read(tls.get("key")), certificate_chain=read(tls.get("cert")))
    options.append(("grpc.ssl_target_name_override", "localhost"))
    return grpc.secure_channel(job["target"], credentials, options=options)

def outcome(future):
    try:
        payload = future.result()
        if job.get("truncate"):
            return {"code": "OK", "details": "", "payload": payload[:8].hex(), "size": str(len(payload))}
        return {"code": "OK", "details": "", "payload": payload.hex()}
    except grpc.RpcError as error:
        return {"code": error.code().name, "details": error.details() or "", "payload": ""}

with channel() as ch:
    if job["mode"] == "calls":
        futures = []
        for call in job["calls"]:
            payload = bytes.fromhex(call.get("payload", ""))
            timeout = call.get("timeout", 10)
            if call.get("kind") == "stream_unary":
                messages = [payload] if payload else []
                futures.append(ch.stream_unary(call["method"]).future(iter(messages), timeout=timeout))
            else:
                futures.append(ch.unary_unary(call["method"]).future(payload, timeout=timeout))
        print(json.dumps([outcome(f) for f in futures]))
    else:
        method = ch.unary_unary(job["method"])
        ok, errors, lock = [0], [], threading.Lock()
        def worker(t):
            for i in range(job["per_thread"]):
                request = b"%d:%d:" % (t, i) + os.urandom(i % 97)
                try:
                    response = method(request, timeout=20)
                    with lock:
                        if response == request: ok[0] += 1
                        else: errors.append("mismatch %d:%d" % (t, i))
                except grpc.RpcError as error:
                    with lock: errors.append("%d:%d %s %s" % (t, i, error.code().name, error.details()))
                    if job.get("stop_on_error"): return
        threads = [threading.Thread(target=worker, args=(t,)) for t in range(job["threads"])]
        for thread in threads: thread.start()
        for thread in threads: thread.join()
        print(json.dumps({"ok": ok[0], "errors": errors[:job.get("max_errors", 10)]}))
"""#

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// One call's outcome as the client saw it.
    struct Outcome: Equatable, CustomStringConvertible {
        var code: String
        var details: String
        var payload: [UInt8]
        /// The full payload size when the client was asked to truncate payloads.
        var size: Int? = nil
        var description: String { "\(code) '\(details)' \(size ?? payload.count) bytes" }
    }

    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }

    static var python: String {
        ProcessInfo.processInfo.environment["WARDEN_PYTHON"]
            ?? packageRoot.appendingPathComponent(".venv/bin/python").path
    }

    /// A started client process; `finish()` collects its output.
    final class Running: @unchecked Sendable {
        // @unchecked: used by one test at a time; Process and Pipe are thread-safe for these calls.
        let process = Process()
        let output = Pipe()
        let errors = Pipe()

        init(job: [String: Any], timeout: Double) throws {
            process.executableURL = URL(fileURLWithPath: PythonClient.python)
            process.arguments = ["-c", PythonClient.script]
            let input = Pipe()
            process.standardInput = input
            process.standardOutput = output
            process.standardError = errors
            try process.run()
            input.fileHandleForWriting.write(try JSONSerialization.data(withJSONObject: job))
            try input.fileHandleForWriting.close()
            let process = self.process
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
                if process.isRunning { process.terminate() }
            }
        }

        func finish() throws -> Any {
            let data = output.fileHandleForReading.readDataToEndOfFile()
            let stderr = errors.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0, let result = try? JSONSerialization.jsonObject(with: data) else {
                throw Failure(description: "python client failed (\(process.terminationStatus)): "
                    + String(decoding: stderr.suffix(2000), as: UTF8.self))
            }
            return result
        }
    }

    var target: String
    var tls: [String: String]? = nil

    /// A call to send: method path and request bytes; `streamUnary` sends zero or one message on a client stream.
    struct Call {
        var method: String
        var payload: [UInt8] = []
        var timeout: Double = 10
        var streamUnary = false
    }

    func start(_ calls: [Call], timeout: Double = 30, truncate: Bool = false) throws -> Running {
        var job: [String: Any] = ["target": target, "mode": "calls", "calls": calls.map { call -> [String: Any] in
            var entry: [String: Any] = ["method": call.method, "payload": call.payload.hex, "timeout": call.timeout]
            if call.streamUnary { entry["kind"] = "stream_unary" }
            return entry
        }]
        if let tls { job["tls"] = tls }
        if truncate { job["truncate"] = true }
        return try Running(job: job, timeout: timeout)
    }

    static func outcomes(_ running: Running) throws -> [Outcome] {
        guard let list = try running.finish() as? [[String: String]] else {
            throw Failure(description: "unexpected client output")
        }
        return list.map {
            Outcome(code: $0["code"] ?? "", details: $0["details"] ?? "", payload: [UInt8](hex: $0["payload"] ?? ""),
                    size: $0["size"].flatMap { Int($0) })
        }
    }

    /// Sends all calls concurrently and returns their outcomes in order.
    func call(_ calls: [Call]) throws -> [Outcome] {
        try Self.outcomes(start(calls))
    }

    func call(_ method: String, _ payload: [UInt8] = [], timeout: Double = 10) throws -> Outcome {
        try call([Call(method: method, payload: payload, timeout: timeout)])[0]
    }

    /// `threads` × `perThread` echo calls; returns (correct responses, first errors).
    func stress(method: String, threads: Int, perThread: Int) throws -> (ok: Int, errors: [String]) {
        try Self.stressResult(startStress(method: method, threads: threads, perThread: perThread))
    }

    /// Starts `threads` × `perThread` echo calls; with `stopOnError` each thread stops at its first failure.
    func startStress(method: String, threads: Int, perThread: Int, stopOnError: Bool = false) throws -> Running {
        let job: [String: Any] = [
            "target": target, "mode": "stress", "method": method, "threads": threads, "per_thread": perThread,
            "stop_on_error": stopOnError, "max_errors": threads,
        ]
        return try Running(job: job, timeout: 50)
    }

    static func stressResult(_ running: Running) throws -> (ok: Int, errors: [String]) {
        guard let result = try running.finish() as? [String: Any] else {
            throw Failure(description: "unexpected client output")
        }
        return (result["ok"] as? Int ?? -1, result["errors"] as? [String] ?? ["no errors field"])
    }
}

extension [UInt8] {
    var hex: String { map { String(format: "%02x", $0) }.joined() }

    init(hex: String) {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex, let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) {
            bytes.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        self = bytes
    }
}
