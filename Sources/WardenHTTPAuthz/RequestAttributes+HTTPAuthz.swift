import WardenPolicy

extension RequestAttributes {
    /// The original request a front-door request describes, with the connection facts the operator
    /// trusts the proxy to report (`trusted`); everything else about the connection stays empty.
    ///
    /// - Envoy `http_service`: the request's own method, the target after `/envoy`, `Host`, and
    ///   `X-Forwarded-Proto` (Envoy has already normalized the path).
    /// - Forward-auth: the `X-Forwarded-*` (or, at `/auth-request`, `X-Original-*`) headers, each at most
    ///   once; a path the documented Envoy config would normalize (dot segments, `//`, `\\`, escapes) is
    ///   refused, since proxies send the raw `$request_uri` and pass it to the app as it is.
    ///
    /// Headers reach the policies as Envoy would send them: lower-case, repeated ones joined with `,`,
    /// `host` as `:authority`, plus `:method`, `:path` and `:scheme`.
    public init(http request: HTTPAuthzRequest, endpoint: HTTPAuthzEndpoint,
                trusted: Set<TrustedHeader>) throws(HTTPAuthzRequestError) {
        self.init()
        var method: String, target: String, host: String, scheme: String?
        switch endpoint {
        case .envoy(let original):
            method = request.method
            target = original
            host = try Self.single("host", in: request) ?? ""
            scheme = try Self.single("x-forwarded-proto", in: request)
        case .forwardAuth, .authRequest:
            let names = endpoint == .forwardAuth ? ("x-forwarded-method", "x-forwarded-uri") : ("x-original-method", "x-original-uri")
            guard let m = try Self.single(names.0, in: request) else { throw .missingHeader(names.0) }
            guard let u = try Self.single(names.1, in: request) else { throw .missingHeader(names.1) }
            guard let h = try Self.single("x-forwarded-host", in: request) else { throw .missingHeader("x-forwarded-host") }
            method = m
            target = try Self.normalizedTarget(u)
            host = h
            scheme = try Self.single("x-forwarded-proto", in: request)
        }
        guard Self.isToken(method) else { throw .invalidMethod }
        guard target.utf8.first == UInt8(ascii: "/"), !target.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else { throw .invalidURI }
        guard !target.utf8.contains(UInt8(ascii: "#")) else { throw .fragmentInURI }
        guard !host.isEmpty, host.utf8.count <= 1024, !host.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "/") }) else {
            throw .invalidHost
        }
        let proto = scheme.map { $0.lowercased() }
        self.method = method
        self.path = target
        self.host = host
        self.scheme = proto == "https" ? "https" : "http"

        let plumbing = Set(trusted.map(\.headerName)).union(["host"])
        for field in request.headers where !plumbing.contains(field.name) {
            if let existing = headers[field.name] { headers[field.name] = existing + "," + field.value } else { headers[field.name] = field.value }
        }
        headers[":method"] = method
        headers[":path"] = target
        headers[":authority"] = host
        headers[":scheme"] = self.scheme

        // What the proxy was not trusted to report cannot be decided on (fail closed: `ConnectionFact`).
        // A trusted client address the proxy did not send is unreported too (every documented config
        // sends it); a trusted principal or SNI it did not send is a connection without one (Envoy adds
        // no header whose value is empty).
        unreportedFacts = [.destination]
        if !trusted.contains(.clientAddress) || request.values(TrustedHeader.clientAddress.headerName).isEmpty {
            unreportedFacts.insert(.sourceAddress)
        }
        if !trusted.contains(.clientPrincipal) { unreportedFacts.insert(.sourcePrincipal) }
        if !trusted.contains(.sni) { unreportedFacts.insert(.sni) }
        for header in trusted {
            guard let value = try Self.single(header.headerName, in: request) else { continue }
            switch header {
            case .clientAddress:
                guard let (ip, port) = Self.address(value) else { throw .invalidTrustedHeader(header.headerName) }
                sourceIP = ip
                sourcePort = port
            case .clientPrincipal:
                sourcePrincipal = value
            case .clientCert:
                sourceCertificate = value
            case .sni:
                sni = value
            }
        }
    }

    /// The one value of `name`; nil when absent, an error when repeated.
    private static func single(_ name: String, in request: HTTPAuthzRequest) throws(HTTPAuthzRequestError) -> String? {
        let values = request.values(name)
        if values.count > 1 { throw .repeatedHeader(name) }
        return values.first
    }

    /// RFC 9110 `token`: what a method is.
    static func isToken(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 64 && text.utf8.allSatisfy { b in
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
            default: "!#$%&'*+-.^_`|~".utf8.contains(b)
            }
        }
    }

    /// A forwarded URI, checked to be what the documented Envoy config would pass on unchanged: `%2F`/`%5C`
    /// refused (`escapedSlash`), and any path that `PathNormalizer` (Istio's BASE: dot segments, `\`,
    /// escaped unreserved characters) or slash merging would change refused (`nonNormalPath`) — the only
    /// change let through is the case of an escape's hex digits (`%c3%a9` is `%C3%A9`: the same bytes to
    /// every app). Forward-auth proxies send the raw URI and pass that same raw URI to the app, so deciding
    /// on a normalized `/public/x` for a raw `/orders/../public/x` would check another request than the app
    /// serves. The query is kept as sent; a `#` anywhere is refused (`fragmentInURI`).
    static func normalizedTarget(_ uri: String) throws(HTTPAuthzRequestError) -> String {
        guard uri.utf8.first == UInt8(ascii: "/") else { throw .invalidURI }
        let bytes = Array(uri.utf8)
        // Never cut at a `#`: what follows it would reach the app unchecked (RFC 9112 §3.2: no fragment).
        guard !bytes.contains(UInt8(ascii: "#")) else { throw .fragmentInURI }
        let cut = bytes.firstIndex(of: UInt8(ascii: "?")) ?? bytes.count
        let rawPath = bytes[..<cut]
        var upperHex = Array(rawPath)
        for i in rawPath.indices where rawPath[i] == UInt8(ascii: "%") && i + 2 < rawPath.endIndex {
            let hi = rawPath[i + 1], lo = rawPath[i + 2] | 0x20
            if hi == UInt8(ascii: "2") && lo == UInt8(ascii: "f") || hi == UInt8(ascii: "5") && lo == UInt8(ascii: "c") { throw .escapedSlash }
            for j in (i + 1)...(i + 2) where (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(upperHex[j - rawPath.startIndex]) {
                upperHex[j - rawPath.startIndex] -= 0x20
            }
        }
        guard let normal = PathNormalizer.normalize(String(decoding: rawPath, as: UTF8.self)) else { throw .invalidURI }
        var merged: [UInt8] = []
        merged.reserveCapacity(normal.utf8.count)
        for b in normal.utf8 where !(b == UInt8(ascii: "/") && merged.last == UInt8(ascii: "/")) { merged.append(b) }
        guard merged == upperHex else { throw .nonNormalPath }
        var out = String(decoding: merged, as: UTF8.self)
        out += String(decoding: bytes[cut...], as: UTF8.self)
        return out
    }

    /// `IP`, `IP:port` or `[IPv6]:port` → (IP text, port).
    static func address(_ text: String) -> (String, UInt32)? {
        if IPBlock.parseAddress(text) != nil { return (text, 0) }
        var host: Substring, portText: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            return nil
        }
        guard IPBlock.parseAddress(String(host)) != nil, !portText.isEmpty, portText.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
              let port = UInt32(portText), port <= 65535 else { return nil }
        return (String(host), port)
    }
}
