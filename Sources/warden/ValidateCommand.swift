import Foundation
import WardenJWKS
import WardenPolicy

/// `warden validate --policy PATH…`: loads the policies as serve would and reports every error
/// (`file:line: field: message`) and risky configuration.
struct ValidateCommand {
    static let help = """
    Usage: warden validate --policy PATH [--policy PATH…] [--root-namespace NS] [--strict | --fail-on CODE,…]

    Parses and validates Istio RequestAuthentication and AuthorizationPolicy YAML as `warden serve`
    loads it. Errors are printed as file:line: field: message. Warnings flag valid but risky
    configurations, each with a stable code (warning[CODE]: file:line: field: message):
    \(PolicyWarning.Code.allCases.sorted().map(\.rawValue).joined(separator: ", ")).
    Hints say what Envoy must be configured with (metadata_context_namespaces for
    experimental.envoy.filters.* conditions); they never fail a run.

      --strict           any warning fails the run
      --fail-on CODE,…   warnings with these codes fail the run (repeatable)

    Exit status: 0 valid (warnings allowed unless --strict / --fail-on), 1 invalid or failed on a
    warning, 2 usage error.
    """

    var policyPaths: [String] = []
    var rootNamespace = "istio-system"
    var strict = false
    var failOn: Set<PolicyWarning.Code> = []

    static func parse(_ args: [String]) throws(UsageError) -> ValidateCommand {
        var c = ValidateCommand()
        var reader = ArgumentReader(args)
        while let flag = try reader.nextFlag() {
            switch flag {
            case "--policy": c.policyPaths.append(try reader.value(for: flag))
            case "--root-namespace": c.rootNamespace = try reader.value(for: flag)
            case "--strict": c.strict = true
            case "--fail-on":
                for raw in try reader.value(for: flag).split(separator: ",") {
                    let name = raw.trimmingCharacters(in: .whitespaces)
                    guard let code = PolicyWarning.Code(rawValue: name) else {
                        throw UsageError("unknown warning code '\(name)' for --fail-on; codes: "
                                         + PolicyWarning.Code.allCases.sorted().map(\.rawValue).joined(separator: ", "))
                    }
                    c.failOn.insert(code)
                }
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
        let lint = PolicyLint(policies: policies, rootNamespace: rootNamespace)
        let warnings = lint.warnings()
        for w in warnings { print(JWKSSource.redactedText(w.description)) }  // a jwksUri's credentials are not printed
        for h in lint.hints() { print(h.description) }
        // A SecurityPolicy's required JWT is listed with its RequestAuthentication; a jwt_authn document on its own.
        let jwtAuthn = policies.jwtAuthnFilters.filter { $0.onlyWith == nil }.count
        print("valid: \(policies.files.count) file(s), \(policies.requestAuthentications.count) RequestAuthentication(s), "
              + "\(policies.authorizationPolicies.count) AuthorizationPolicy(ies)"
              + (jwtAuthn > 0 ? ", \(jwtAuthn) jwt_authn document(s)" : "") + "; \(warnings.count) warning(s)")
        // Behind nginx, Caddy, Traefik or Envoy http_service only the headers their config lists are Warden's: a
        // header left out there reaches the app as the client sent it (README "Front doors").
        let outputs = policies.outputHeaderNames
        if !outputs.isEmpty {
            print("info: output headers: \(outputs.joined(separator: ", ")) (list each in your front door's config, "
                  + "or a client's own copy reaches the app)")
        }
        let failing = warnings.filter { strict || failOn.contains($0.code) }
        if !failing.isEmpty {
            let codes = Set(failing.map(\.code)).sorted().map(\.rawValue).joined(separator: ", ")
            print("failed: \(failing.count) warning(s) with code(s) \(codes) (" + (strict ? "--strict" : "--fail-on") + ")")
            return 1
        }
        return 0
    }
}
