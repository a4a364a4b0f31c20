import Foundation
import WardenJSON
import WardenPolicy

/// What `warden explain` is told: the same policy and scope flags as `serve`, plus one request.
struct ExplainOptions {
    var policyPaths: [String] = []
    var namespace = "default"
    var workloadLabels: [String: String] = [:]
    var rootNamespace = "istio-system"
    var targets: [String] = []
    /// `--target none`, as `serve`: no targetRefs resource applies (stated, so they may be skipped).
    var noTargets = false
    var method = "GET"
    var path = "/"
    var host = "example.com"
    var scheme = "http"
    var headers: [(String, String)] = []
    var sourcePrincipal = ""
    var peerCertificate: String?
    var sourceIP = ""
    var sourcePort: UInt32 = 0
    var destinationIP = ""
    var destinationPort: UInt32 = 0
    var sni = ""
    var contextExtensions: [String: String] = [:]
    /// `--metadata NAMESPACE=JSON`: `metadata_context.filter_metadata` as Envoy would send it.
    var metadata: [String: [String: JSONValue]] = [:]
    var jwksFile: String?
    var fetch = false
    var now: Double?
    var clockSkew = 60.0
    var requireExpiration = false
    var maxTokenBytes = 8192
    var numTrustedProxies = 0
    var debugHeaders = false
    var dpopNonceKeyFile: String?
    var dpopNonceLifetime: Double?

    static let help = """
    Usage: warden explain --policy PATH [--namespace NS] [--workload-labels k=v,…] [--root-namespace NS]
                          --method M --path P [--host H] [--header 'name: value']… [--jwks FILE | --fetch]
                          [--source-ip IP[:PORT]] [--source-principal ID | --peer-certificate PEM]
                          [--destination-ip IP] [--destination-port N] [--sni NAME]
                          [--context-extension k=v]… [--metadata NAMESPACE=JSON]… [--now UNIX]

    Decides one request offline, once, through the same Check path as `warden serve`, and renders what
    that check recorded as the 401/403 flowchart (✓ passed, ✗ the check it stopped at, · information,
    ! hint): token found → decoded header and payload (unverified) → issuer → exp/nbf → audience → kid →
    signature → AuthorizationPolicy → final status and the headers Envoy would get. Checks after the
    first failure are shown as not checked, as Warden does not run them.

    Request:
      --method M                 HTTP method (default: GET)
      --path P                   path with query (default: /)
      --host H                   :authority (default: example.com)
      --scheme S                 http or https (default: http; used in the WWW-Authenticate realm)
      --header 'name: value'     a request header (repeatable), e.g. 'authorization: Bearer eyJ…' or
                                 'x-forwarded-for: 203.0.113.7' (remote.ip, with --num-trusted-proxies)

    Connection (what Envoy knows and sends in the CheckRequest):
      --source-ip IP[:PORT]      connection peer address (source.ip, ipBlocks; remote.ip without x-forwarded-for)
      --source-principal ID      mTLS peer identity, e.g. spiffe://cluster.local/ns/x/sa/y (principals,
                                 namespaces, source.principal/namespace/serviceAccount, trustDomains)
      --peer-certificate PEM     the mTLS peer's certificate: its identity as Envoy reports it (first URI
                                 SAN, else DNS SAN, else subject) becomes the source principal, and
                                 certificate-bound tokens (cnf x5t#S256) are checked against it
      --destination-ip IP        listener address (destination.ip)
      --destination-port N       listener port (ports, destination.port)
      --sni NAME                 TLS server name (connection.sni)
      --context-extension k=v    ext_authz context_extensions (repeatable): selects the workload scope
                                 as in serve (namespace, workload labels)
      --metadata NAMESPACE=JSON  a metadata_context namespace Envoy sends, e.g.
                                 'envoy.filters.http.header_to_metadata={"tier":"gold"}' (repeatable;
                                 experimental.envoy.filters.* conditions)

    Keys (for jwksUri / discovery rules; inline jwks are always used):
      --jwks FILE                a JWKS document used for every remote issuer
      --fetch                    fetch the issuers' JWKS over the network as serve would
      (neither: remote issuers have no keys, and the walk says so)

    Policies and verification (as serve): --policy PATH (repeatable), --namespace, --workload-labels,
      --root-namespace, --target KIND/NAME|none, --clock-skew SECONDS, --require-expiration,
      --max-token-bytes N, --num-trusted-proxies N, --debug-headers,
      --dpop-nonce-key-file FILE, --dpop-nonce-lifetime D (DPoP server nonces, as serve)
      --now UNIX                 evaluate exp/nbf at this time (default: now)

    Exit status: 0 allowed, 1 denied, 2 usage or policy error.
    """

    static func parse(_ args: [String]) throws(UsageError) -> ExplainOptions {
        var o = ExplainOptions()
        var reader = ArgumentReader(args)
        while let flag = try reader.nextFlag() {
            switch flag {
            case "--policy": o.policyPaths.append(try reader.value(for: flag))
            case "--namespace": o.namespace = try reader.value(for: flag)
            case "--workload-labels": o.workloadLabels.merge(try ServeOptions.parseLabels(try reader.value(for: flag), flag)) { $1 }
            case "--root-namespace": o.rootNamespace = try reader.value(for: flag)
            case "--target":
                let t = try reader.value(for: flag)
                if t == "none" {
                    o.noTargets = true
                } else {
                    guard TargetRef(flag: t) != nil else { throw UsageError("invalid value '\(t)' for --target: expected KIND/NAME, KIND/NAMESPACE/NAME or none") }
                    o.targets.append(t)
                }
            case "--method": o.method = try reader.value(for: flag)
            case "--path": o.path = try reader.value(for: flag)
            case "--host": o.host = try reader.value(for: flag)
            case "--scheme": o.scheme = try reader.value(for: flag)
            case "--header":
                let raw = try reader.value(for: flag)
                guard let colon = raw.dropFirst().firstIndex(of: ":") else {
                    throw UsageError("invalid value for --header: expected 'name: value'")
                }
                let name = raw[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
                let value = raw[raw.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                guard !name.isEmpty else { throw UsageError("invalid value for --header: empty name") }
                o.headers.append((name, value))
            case "--source-principal": o.sourcePrincipal = try reader.value(for: flag)
            case "--peer-certificate": o.peerCertificate = try reader.value(for: flag)
            case "--source-ip":
                let raw = try reader.value(for: flag)
                (o.sourceIP, o.sourcePort) = try address(raw, flag)
            case "--destination-ip":
                let raw = try reader.value(for: flag)
                guard IPBlock(raw) != nil, !raw.contains("/") else { throw UsageError("invalid value '\(raw)' for --destination-ip: expected an IP address") }
                o.destinationIP = raw
            case "--destination-port": o.destinationPort = UInt32(try reader.int(for: flag, in: 0...65535))
            case "--sni": o.sni = try reader.value(for: flag)
            case "--context-extension":
                o.contextExtensions.merge(try ServeOptions.parseLabels(try reader.value(for: flag), flag)) { $1 }
            case "--metadata":
                let raw = try reader.value(for: flag)
                guard let eq = raw.firstIndex(of: "="), eq != raw.startIndex,
                      case .object(let fields)? = try? JSONParser.parse(String(raw[raw.index(after: eq)...])) else {
                    throw UsageError("invalid value for --metadata: expected NAMESPACE={json object}")
                }
                o.metadata[String(raw[..<eq]), default: [:]].merge(fields) { $1 }
            case "--jwks": o.jwksFile = try reader.value(for: flag)
            case "--fetch": o.fetch = true
            case "--now":
                let raw = try reader.value(for: flag)
                guard let t = Double(raw), t >= 0 else { throw UsageError("invalid value '\(raw)' for --now: expected Unix seconds") }
                o.now = t
            case "--clock-skew": o.clockSkew = try reader.seconds(for: flag)
            case "--require-expiration": o.requireExpiration = true
            case "--max-token-bytes": o.maxTokenBytes = try reader.int(for: flag, in: 256...(1 << 20))
            case "--num-trusted-proxies": o.numTrustedProxies = try reader.int(for: flag, in: 0...64)
            case "--debug-headers": o.debugHeaders = true
            case "--dpop-nonce-key-file": o.dpopNonceKeyFile = try reader.value(for: flag)
            case "--dpop-nonce-lifetime": o.dpopNonceLifetime = try DPoPNonceKeyFile.lifetime(&reader, flag)
            default: throw UsageError("unknown flag \(flag) (see warden explain --help)")
            }
        }
        if o.policyPaths.isEmpty { throw UsageError("missing --policy PATH (a file or directory of Istio YAML)") }
        if o.noTargets && !o.targets.isEmpty { throw UsageError("--target none cannot be combined with other --target values") }
        if o.jwksFile != nil && o.fetch { throw UsageError("--jwks and --fetch are alternatives: give one") }
        if o.peerCertificate != nil && !o.sourcePrincipal.isEmpty {
            throw UsageError("--source-principal and --peer-certificate are alternatives: give one")
        }
        return o
    }

    /// `IP` or `IP:PORT` (`[v6]:PORT` for IPv6 with a port).
    private static func address(_ raw: String, _ flag: String) throws(UsageError) -> (String, UInt32) {
        var host = raw, port: UInt32 = 0
        if raw.hasPrefix("["), let close = raw.firstIndex(of: "]") {
            host = String(raw[raw.index(after: raw.startIndex)..<close])
            let rest = raw[raw.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let p = UInt32(rest.dropFirst()), p <= 65535 else {
                    throw UsageError("invalid value '\(raw)' for \(flag): expected IP or IP:PORT")
                }
                port = p
            }
        } else if raw.filter({ $0 == ":" }).count == 1, let colon = raw.firstIndex(of: ":") {
            guard let p = UInt32(raw[raw.index(after: colon)...]), p <= 65535 else {
                throw UsageError("invalid value '\(raw)' for \(flag): expected IP or IP:PORT")
            }
            host = String(raw[..<colon])
            port = p
        }
        guard IPBlock(host) != nil, !host.contains("/") else { throw UsageError("invalid value '\(raw)' for \(flag): expected IP or IP:PORT") }
        return (host, port)
    }

    var scope: WorkloadScope {
        WorkloadScope(namespace: namespace, labels: workloadLabels, rootNamespace: rootNamespace,
                      targets: targets.compactMap(TargetRef.init(flag:)))
    }
}
