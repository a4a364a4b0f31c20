/// `warden serve`: wires the gRPC server, the admin endpoint, the policy set and the key store.
struct ServeCommand {
    let options: ServeOptions

    func run() -> Int32 {
        printErr("warden serve: not wired yet")
        return 1
    }
}
