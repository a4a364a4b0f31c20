// warden-transport-bench: the ext_authz transport with no decision behind it. It serves
// `envoy.service.auth.v3.Authorization/Check` on the same gRPC server Warden uses and answers every call
// with one pre-encoded allow, so `make bench` and bench/callgrind.py can measure the transport's own
// cost beside a real check. A separate executable, never part of the `warden` product: no flag of
// the production binary makes every check allow.
//
// Accepts `serve` and the flags the bench passes to `warden serve` (--listen, --admin-listen, --threads;
// any other flag and its value are ignored); /readyz answers 200 on the admin listener.
import Foundation
import WardenAdmin
import WardenAuthz
import WardenExtAuthz
import WardenGRPC

var args = Array(CommandLine.arguments.dropFirst())
if args.first == "serve" { args.removeFirst() }
var listen = "127.0.0.1:9191", admin = "127.0.0.1:9901", threads = 1
var i = 0
while i < args.count {
    let flag = args[i]
    let value = i + 1 < args.count && !args[i + 1].hasPrefix("--") ? args[i + 1] : nil
    switch flag {
    case "--listen": listen = value ?? listen
    case "--admin-listen": admin = value ?? admin
    case "--threads": threads = value.flatMap(Int.init) ?? threads
    default: break
    }
    i += value == nil ? 1 : 2
}

ProcessSignals.blockTerminationSignals()
let answer = CheckResponse(Decision.allow(AllowResponse())).serializedBytes()
do {
    let server = try GRPCServer(configuration: GRPCServerConfiguration(listen: listen, threads: threads),
                                handlers: ["/envoy.service.auth.v3.Authorization/Check": { call in call.respond(.response(answer)) }])
    let adminServer = try AdminServer(listen: admin) { req in
        req.path == "/readyz" || req.path == "/healthz" ? .text("ready\n") : .notFound
    }
    server.start()
    FileHandle.standardError.write(Data("warden-transport-bench: constant allow on \(listen), admin \(admin)\n".utf8))
    _ = ProcessSignals.waitForTerminationSignal()
    server.shutdown(gracePeriod: 1)
    adminServer.stop()
} catch {
    FileHandle.standardError.write(Data("warden-transport-bench: \(error)\n".utf8))
    exit(1)
}
