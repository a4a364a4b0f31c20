import Glibc

/// The `warden` command: `serve`, `explain`, `validate`, `decode`, `version`, `--help`.
enum WardenCommand {
    static let version = "0.1.0"

    static let help = """
    warden — Envoy ext_authz server: JWT validation + Istio RequestAuthentication/AuthorizationPolicy

    Usage:
      warden serve --listen HOST:PORT --admin-listen HOST:PORT --policy PATH [--policy PATH…] [options]
      warden explain --policy PATH --method M --path P [--header 'name: value']… [--jwks FILE | --fetch] [--now UNIX]
      warden validate --policy PATH [--policy PATH…] [--strict]
      warden decode TOKEN
      warden convert --to istio FILE|DIR…
      warden version
      warden --help | warden COMMAND --help
    """

    static func run(_ args: [String]) -> Int32 {
        guard let command = args.first else {
            printErr(help)
            return 2
        }
        let rest = Array(args.dropFirst())
        do throws(UsageError) {
            switch command {
            case "--help", "-h", "help":
                print(help)
                return 0
            case "version", "--version":
                print("warden \(version)")
                return 0
            case "serve":
                if rest.contains("--help") || rest.contains("-h") {
                    print(ServeOptions.help)
                    return 0
                }
                let options = try ServeOptions.parse(rest)
                return ServeCommand(options: options).run()
            case "explain":
                if rest.contains("--help") || rest.contains("-h") {
                    print(ExplainOptions.help)
                    return 0
                }
                return ExplainCommand(options: try ExplainOptions.parse(rest)).run()
            case "validate":
                if rest.contains("--help") || rest.contains("-h") {
                    print(ValidateCommand.help)
                    return 0
                }
                return try ValidateCommand.parse(rest).run()
            case "convert":
                if rest.contains("--help") || rest.contains("-h") {
                    print(ConvertCommand.help)
                    return 0
                }
                return try ConvertCommand.parse(rest).run()
            case "decode":
                if rest.contains("--help") || rest.contains("-h") {
                    print(DecodeCommand.help)
                    return 0
                }
                return try DecodeCommand.parse(rest).run()
            default:
                throw UsageError("unknown command '\(command)' (see warden --help)")
            }
        } catch {
            printErr("warden: \(error.message)")
            return 2
        }
    }
}

/// Writes a line to stderr.
func printErr(_ s: String) {
    var bytes = Array((s + "\n").utf8)
    bytes.withUnsafeMutableBytes { buf in _ = write(2, buf.baseAddress, buf.count) }
}
