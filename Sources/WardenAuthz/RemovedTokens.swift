import WardenPolicy

/// The token locations earlier Envoy `jwt_authn` filters removed from the request, so later token steps (the
/// next jwt_authn documents, the Istio step) do not see them — as in one Envoy filter chain, where a provider
/// without `forward: true` removes the token it verified before the next filter runs.
///
/// Envoy `source/extensions/filters/http/jwt_authn/authenticator.cc` (`handleGoodJwt`: `if
/// (!provider.forward()) curr_token_->removeJwt(headers)`) and `extractor.cc`: a header location removes the
/// whole header (every prefix read from it), a query parameter location removes the parameter from the path,
/// a cookie location removes nothing. A token that failed (under `allow_missing_or_failed`) is not removed.
struct RemovedTokens: Sendable {
    private var headers: Set<ExactKey> = []
    private var queryParameters: Set<ExactKey> = []

    init() {}

    /// What `steps` removed: their verified tokens whose provider does not forward them.
    init(_ steps: [JwtAuthnStep]) {
        for step in steps {
            for t in step.tokens where t.verified != nil && !(t.rule?.forwardOriginalToken ?? false) {
                switch t.location {
                case .header(let name, _): headers.insert(ExactKey(name))
                case .queryParameter(let p): queryParameters.insert(ExactKey(p))
                case .cookie: break
                }
            }
        }
    }

    var isEmpty: Bool { headers.isEmpty && queryParameters.isEmpty }

    /// Whether `token` was read from a location an earlier filter removed.
    func hides(_ token: ExtractedToken) -> Bool {
        switch token.location {
        case .header(let name, _): return headers.contains(ExactKey(name))
        case .queryParameter(let p): return queryParameters.contains(ExactKey(p))
        case .cookie: return false
        }
    }

    /// `request` with the removed query parameters taken out of its path, as the next filter gets it: a later
    /// document's challenge names this URI in its realm, as Envoy's does (never the removed token).
    func applied(to request: RequestAttributes) -> RequestAttributes {
        guard !queryParameters.isEmpty, let query = QueryString.query(of: request.path) else { return request }
        let kept = query.bytesSplit(separator: UInt8(ascii: "&")).filter { pair in
            let key = pair.utf8.firstIndex(of: UInt8(ascii: "=")).map { Substring(pair.utf8[..<$0]) } ?? pair
            return !pair.isEmpty && !queryParameters.contains(ExactKey(QueryString.decode(key)))
        }
        let utf8 = request.path.utf8
        let question = utf8.firstIndex(of: UInt8(ascii: "?"))!
        let fragment = utf8[question...].firstIndex(of: UInt8(ascii: "#")).map { String(request.path[$0...]) } ?? ""
        var out = request
        out.path = String(request.path[..<question]) + (kept.isEmpty ? "" : "?" + kept.joined(separator: "&")) + fragment
        return out
    }

    /// `tokens` without the ones earlier filters removed.
    func visible(_ tokens: [ExtractedToken]) -> [ExtractedToken] {
        isEmpty ? tokens : tokens.filter { !hides($0) }
    }
}
