import WardenPolicy

/// `warden convert --to istio FILE…`: prints the Istio equivalent of Envoy Gateway SecurityPolicy and Envoy
/// jwt_authn documents.
struct ConvertCommand {
    static let help = """
    Usage: warden convert --to istio [--gateway NAME] FILE|DIR [FILE|DIR…]

    Loads the files as `warden serve --policy` would and prints, for each resource compiled from another
    dialect (Envoy Gateway SecurityPolicy, Envoy jwt_authn), the Istio RequestAuthentication/AuthorizationPolicy document it
    compiled to (as JSON, which YAML readers accept), separated by `---`. What has no exact Istio equivalent
    is listed on stderr, one `# no Istio equivalent:` line each. Exit status: 0 converted with no gap, 3 converted
    with gaps, 1 invalid input, 2 usage error.

    An Istio policy cannot target an HTTPRoute/GRPCRoute: a SecurityPolicy's documents for one are printed only
    with --gateway NAME (the route's Gateway, which they then target: a gap, as Istio applies them to every
    route of that Gateway).
    """

    var paths: [String] = []
    var gateway: String?

    static func parse(_ args: [String]) throws(UsageError) -> ConvertCommand {
        var c = ConvertCommand()
        var target: String?
        var i = 0
        while i < args.count {
            let arg = args[i]
            if arg == "--to" {
                guard i + 1 < args.count else { throw UsageError("--to needs a value") }
                target = args[i + 1]
                i += 2
            } else if arg == "--gateway" {
                guard i + 1 < args.count, !args[i + 1].isEmpty, !args[i + 1].hasPrefix("-") else { throw UsageError("--gateway needs a Gateway name") }
                c.gateway = args[i + 1]
                i += 2
            } else if arg.hasPrefix("-") {
                throw UsageError("unknown flag \(arg) (see warden convert --help)")
            } else {
                c.paths.append(arg)
                i += 1
            }
        }
        guard target == "istio" else { throw UsageError("convert needs --to istio (the only target)") }
        if c.paths.isEmpty { throw UsageError("missing FILE (a SecurityPolicy or jwt_authn YAML file, or a directory)") }
        return c
    }

    func run() -> Int32 {
        let policies: PolicySet
        do throws(PolicyLoadFailure) {
            policies = try PolicySource(paths: paths).load()
        } catch {
            for e in error.errors { printErr("error: \(e)") }
            return 1
        }
        let conversion = IstioConversion(policies, routeGateway: gateway)
        print(conversion.documents.joined(separator: "\n---\n"))
        for gap in conversion.gaps { printErr("# no Istio equivalent: \(gap)") }
        return conversion.gaps.isEmpty ? 0 : 3
    }
}
