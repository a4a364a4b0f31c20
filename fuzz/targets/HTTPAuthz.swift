// Fuzz target: the HTTP front door's request mapping (the proxy's request → RequestAttributes).
// Input: the first line is the request target, every further line `name: value` (names lower-cased).
// Properties (a violation lets a client choose what is checked, so it aborts):
// - never crashes;
// - an accepted request has an origin-form path (starts with "/", no bytes ≤ 0x20 or 0x7F), a non-empty
//   host, no `#`, and `:path`/`:authority`/`:method` equal to the checked path, host and method;
// - at /forward-auth the checked request comes from the X-Forwarded-* headers only, at /auth-request from
//   X-Original-* only: changing the other endpoint's headers never changes the result;
// - a forwarded path has no "//", no %2F or %5C, is checked as sent (only an escape's hex digits may change
//   case: a path normalization would change is refused, never resolved; a `#` is refused, never cut off), and
//   normalizing it again changes nothing.
import WardenHTTPAuthz
import WardenPolicy

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    guard !lines.isEmpty else { return 0 }
    let target = lines.removeFirst()
    let headers = lines.compactMap { line -> (name: String, value: String)? in
        guard let colon = line.firstIndex(of: ":") else { return nil }
        return (line[..<colon].lowercased(), String(line[line.index(after: colon)...].drop { $0 == " " }))
    }
    guard let endpoint = HTTPAuthzEndpoint(target: target) else { return 0 }
    let request = HTTPAuthzRequest(method: "GET", target: target, headers: headers)
    let trusted = Set(TrustedHeader.allCases)
    guard let r = try? RequestAttributes(http: request, endpoint: endpoint, trusted: trusted) else { return 0 }

    guard r.path.utf8.first == UInt8(ascii: "/"), !r.path.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
        fatalError("not an origin-form path: \(r.path.debugDescription)")
    }
    // RFC 9112 §3.2: a request target has no fragment; one is refused, never cut off.
    if r.path.utf8.contains(UInt8(ascii: "#")) { fatalError("a path with '#' accepted: \(r.path.debugDescription)") }
    if r.host.isEmpty { fatalError("empty host accepted") }
    if r.headers[":path"] != r.path || r.headers[":authority"] != r.host || r.headers[":method"] != r.method {
        fatalError("pseudo-headers disagree with the checked request")
    }
    let other: String?
    switch endpoint {
    case .forwardAuth: other = "x-original-"
    case .authRequest: other = "x-forwarded-uri"
    case .envoy: other = nil
    }
    guard let other else { return 0 }
    let path = r.path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
    if path.contains("//") { fatalError("slashes not merged: \(path.debugDescription)") }
    let lower = path.lowercased()
    if lower.contains("%2f") || lower.contains("%5c") { fatalError("escaped slash accepted: \(path.debugDescription)") }
    // The other endpoint's headers: dropped, or replaced by another value, the result is the same.
    let stripped = HTTPAuthzRequest(method: "GET", target: target, headers: headers.filter { !$0.name.hasPrefix(other) })
    let spoofed = HTTPAuthzRequest(method: "GET", target: target,
                                   headers: stripped.headers + [("x-original-uri", "/spoofed"), ("x-original-method", "DELETE"),
                                                                ("x-forwarded-uri", "/spoofed")].filter { $0.0.hasPrefix(other) })
    for variant in [stripped, spoofed] {
        // (They stay ordinary request headers, so only the checked request is compared.)
        guard let again = try? RequestAttributes(http: variant, endpoint: endpoint, trusted: trusted),
              [again.method, again.path, again.host, again.scheme] == [r.method, r.path, r.host, r.scheme] else {
            fatalError("the other endpoint's headers changed the checked request at \(target.debugDescription)")
        }
    }
    let uriHeader = endpoint == .forwardAuth ? "x-forwarded-uri" : "x-original-uri"
    // The proxy passes the raw URI to the app: what is checked must be that whole URI (a `#` is refused, never cut).
    let sent = headers.first { $0.name == uriHeader }?.value ?? ""
    if sent.utf8.contains(UInt8(ascii: "#")) { fatalError("a forwarded URI with '#' accepted: \(sent.debugDescription)") }
    if sent.lowercased() != r.path.lowercased() {
        fatalError("forwarded path resolved instead of refused: \(sent.debugDescription) → \(r.path.debugDescription)")
    }
    // Normalizing the normalized path again changes nothing.
    let renormalized = HTTPAuthzRequest(method: "GET", target: target,
                                        headers: stripped.headers.filter { $0.name != uriHeader } + [(uriHeader, r.path)])
    guard let twice = try? RequestAttributes(http: renormalized, endpoint: endpoint, trusted: trusted), twice.path == r.path else {
        fatalError("not idempotent: \(r.path.debugDescription)")
    }
    return 0
}
