import Foundation
import WardenJSON
import WardenJWKS
import WardenSync

/// Endpoints named by an issuer's OpenID Connect discovery document (`<issuer>/.well-known/openid-configuration`,
/// OIDC Discovery §4; RFC 8414 for `introspection_endpoint`): fetched when first needed, on the calling thread
/// (an introspection or exchange thread, never a check's), cached for an hour; failures are not cached.
final class EndpointDiscovery: Sendable {
    private let transport: any IntrospectionTransport
    private let clock: @Sendable () -> Double
    private let cache = Locked<[String: (url: String, until: Double)]>([:])
    static let lifetime = 3600.0

    init(transport: any IntrospectionTransport, clock: @escaping @Sendable () -> Double) {
        self.transport = transport
        self.clock = clock
    }

    /// The URL to call for `endpoint`: its own, or the discovered one.
    func url(for endpoint: IntrospectionEndpoint) throws(IntrospectionError) -> String {
        guard let (issuer, member) = endpoint.discovery else { return endpoint.url }
        let key = issuer + "\u{0}" + member
        let now = clock()
        if let hit = cache.withLock({ $0[key] }), hit.until > now { return hit.url }
        let base = issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer
        let document: FetchedDocument
        do throws(FetchError) {
            document = try transport.get(FetchRequest(url: base + "/.well-known/openid-configuration", timeout: endpoint.timeout, maxBytes: 65_536))
        } catch {
            throw .transport("discovery of \(member) from \(issuer): \(error)")
        }
        guard document.status == 200 else { throw .status(document.status) }
        guard case .object(let members)? = try? JSONParser.parse(document.body, limits: JSONLimits(maxDepth: 16, maxBytes: 65_537)) else {
            throw .malformed("the discovery document of \(issuer) is not a JSON object")
        }
        // OIDC Discovery §4.3: the document's issuer must be the one asked about.
        guard members["issuer"]?.stringValue?.bytesEqual(issuer) == true else {
            throw .malformed("the discovery document's issuer is not \(issuer)")
        }
        guard let url = members[member]?.stringValue, Self.acceptable(url) else {
            throw .malformed("the discovery document of \(issuer) has no acceptable \(member) (https, or http to a loopback address)")
        }
        cache.withLock { $0[key] = (url, now + Self.lifetime) }
        return url
    }

    /// `https`, or `http` to a loopback address; no userinfo, no fragment.
    static func acceptable(_ url: String) -> Bool {
        let lower = url.lowercased()
        let rest: Substring
        if lower.hasPrefix("https://") { rest = Substring(url.dropFirst(8)) }
        else if lower.hasPrefix("http://") {
            rest = Substring(url.dropFirst(7))
            let host = rest.prefix { $0 != "/" && $0 != ":" && $0 != "?" }
            guard host == "localhost" || host.hasPrefix("127.") || rest.hasPrefix("[::1]") else { return false }
        } else { return false }
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        return !authority.isEmpty && !authority.contains("@") && !url.contains("#")
            && !url.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F })
    }
}
