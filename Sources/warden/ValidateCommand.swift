import WardenPolicy

/// `warden validate --policy PATH…`: loads the policies as serve would and reports every error
/// (`file:line: field: message`) and risky configuration.
struct ValidateCommand {
    static let help = """
    Usage: warden validate --policy PATH [--policy PATH…] [--root-namespace NS] [--strict]

    Parses and validates Istio RequestAuthentication and AuthorizationPolicy YAML as `warden serve`
    loads it. Errors are printed as file:line: field: message; warnings flag risky configurations:
    a RequestAuthentication no AuthorizationPolicy backs ("blocks nothing"), ALLOW policies on
    request.auth without audiences, issuers and jwksUris without https. Hints say what Envoy must be
    configured with (metadata_context_namespaces for experimental.envoy.filters.* conditions).

    Exit status: 0 valid (warnings allowed; --strict makes them fail), 1 invalid, 2 usage error.
    """

    var policyPaths: [String] = []
    var rootNamespace = "istio-system"
    var strict = false

    static func parse(_ args: [String]) throws(UsageError) -> ValidateCommand {
        var c = ValidateCommand()
        var reader = ArgumentReader(args)
        while let flag = try reader.nextFlag() {
            switch flag {
            case "--policy": c.policyPaths.append(try reader.value(for: flag))
            case "--root-namespace": c.rootNamespace = try reader.value(for: flag)
            case "--strict": c.strict = true
            default: throw UsageError("unknown flag \(flag) (see warden validate --help)")
            }
        }
        if c.policyPaths.isEmpty { throw UsageError("missing --policy PATH (a file or directory of Istio YAML)") }
        return c
    }

    func run() -> Int32 {
        let policies: PolicySet
        do throws(PolicyLoadFailure) {
            policies = try PolicySource(paths: policyPaths).load()
        } catch {
            for e in error.errors { print("error: \(e)") }
            print("invalid: \(error.errors.count) error(s)")
            return 1
        }
        let notes = policies.notes.filter { $0.level == .warning }
        for n in notes { print("warning: \(n.location): \(n.message)") }
        let linter = PolicyLinter(policies: policies, rootNamespace: rootNamespace)
        let warnings = linter.warnings()
        for w in warnings { print(w.description) }
        for h in linter.hints() { print(h.description) }
        let count = notes.count + warnings.count
        print("valid: \(policies.files.count) file(s), \(policies.requestAuthentications.count) RequestAuthentication(s), "
              + "\(policies.authorizationPolicies.count) AuthorizationPolicy(ies); \(count) warning(s)")
        return strict && count > 0 ? 1 : 0
    }
}
