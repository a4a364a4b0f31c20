import Foundation
import WardenCrypto
import WardenJSON
import WardenJWKS
import WardenJWT
import WardenSync

/// What to ask a token endpoint for (RFC 8693 §2.1).
public struct ExchangeRequest: Sendable {
    public var subjectToken: String
    /// The subject token's `exp`: an exchanged token is never reused past it.
    public var subjectExpiresAt: Double?
    public var audiences: [String]
    public var resources: [String]
    public var scope: String?
    public var requestedTokenType: String?
    /// A file whose content is the `actor_token`, read when a call is made (a projected token rotates).
    public var actorTokenFile: String?
    public var actorTokenType: String
    /// Seconds before the exchanged token's expiry at which a cached one is no longer handed out.
    public var expiryMargin: Double

    public init(subjectToken: String, subjectExpiresAt: Double?, audiences: [String], resources: [String], scope: String?,
                requestedTokenType: String?, actorTokenFile: String?, actorTokenType: String, expiryMargin: Double) {
        self.subjectToken = subjectToken
        self.subjectExpiresAt = subjectExpiresAt
        self.audiences = audiences
        self.resources = resources
        self.scope = scope
        self.requestedTokenType = requestedTokenType
        self.actorTokenFile = actorTokenFile
        self.actorTokenType = actorTokenType
        self.expiryMargin = expiryMargin
    }
}

/// What a token exchange gave.
public enum ExchangeOutcome: Sendable {
    /// The issued token (validated as an RFC 6750 `b64token`), when it expires, and whether the cache answered.
    case exchanged(token: String, expiresAt: Double?, cached: Bool)
    /// The endpoint refused (RFC 8693 §2.2.2: `invalid_grant`, `invalid_target`, …) with its error.
    case refused(error: String, description: String?)
    case failed(IntrospectionError)
}

/// Exchanges subject tokens for tokens minted for one upstream (RFC 8693), with a bounded cache keyed by a
/// SHA-256 of endpoint, client, subject token, audiences, resources, scope, type and actor token; entries
/// live until the exchanged token's expiry minus a margin, never past the subject token's. Single flight per
/// key, at most `maxInFlight` calls (more are refused at once), failures and refusals not cached.
public final class TokenExchanger: Sendable {
    public typealias Completion = @Sendable (ExchangeOutcome) -> Void
    static let grantType = "urn:ietf:params:oauth:grant-type:token-exchange"
    static let accessTokenType = "urn:ietf:params:oauth:token-type:access_token"

    public var capacity: Int { calls.capacity }
    public var maxInFlight: Int { calls.maxInFlight }
    private let transport: any IntrospectionTransport
    private let clock: @Sendable () -> Double
    /// Kept: the exchanged token and its expiry.
    private let calls: SharedCalls<(token: String, expiresAt: Double?), ExchangeOutcome>
    private let outcomes = Locked((failures: 0, refusals: 0))
    private let discovery: EndpointDiscovery

    public init(transport: any IntrospectionTransport, capacity: Int = 10_000, maxInFlight: Int = 64,
                clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.transport = transport
        discovery = EndpointDiscovery(transport: transport, clock: clock)
        calls = SharedCalls(capacity: capacity, maxInFlight: maxInFlight, threadName: "warden-exchange")
        self.clock = clock
    }

    /// Counters for /metrics: cache answers, calls, failures (no usable answer), refusals, busy.
    public var counters: (hits: Int, calls: Int, failures: Int, refusals: Int, busy: Int) {
        let c = calls.counters, o = outcomes.withLock { $0 }
        return (c.hits, c.calls, o.failures, o.refusals, c.busy)
    }

    public func exchange(_ request: ExchangeRequest, at endpoint: IntrospectionEndpoint, completion: @escaping Completion) {
        if let why = endpoint.secretError { return completion(.failed(.secret(why))) }
        let now = clock()
        let step = calls.answer(Self.cacheKey(request, endpoint), now: now, cachedOnly: false, completion: completion) { [self] in
            let outcome = call(request, endpoint)
            switch outcome {
            case .exchanged(let token, let expiresAt, _):
                return (outcome, ((token, expiresAt), Self.reuseUntil(expiresAt: expiresAt, request: request, now: clock())))
            case .refused:
                outcomes.withLock { $0.refusals += 1 }
                return (outcome, nil)
            case .failed:
                outcomes.withLock { $0.failures += 1 }
                return (outcome, nil)
            }
        }
        switch step {
        case .cached(let kept): completion(.exchanged(token: kept.token, expiresAt: kept.expiresAt, cached: true))
        case .busy: completion(.failed(.busy))
        case .miss, .joined, .started: break
        }
    }

    /// Until when an exchanged token may be handed out: its expiry (60 s when unknown) less the margin,
    /// never past the subject token's expiry.
    public static func reuseUntil(expiresAt: Double?, request: ExchangeRequest, now: Double) -> Double {
        let until = (expiresAt ?? now + 60) - request.expiryMargin
        return request.subjectExpiresAt.map { min(until, $0) } ?? until
    }

    /// Counts an exchanged token handed out from a caller's own memo (the token cache entry).
    public func countCacheHit() { calls.countHit() }

    /// One POST (RFC 8693 §2.1) and its answer read (§2.2).
    private func call(_ request: ExchangeRequest, _ endpoint: IntrospectionEndpoint) -> ExchangeOutcome {
        var form = "grant_type=\(FormEncoding.encode(Self.grantType))"
            + "&subject_token=\(FormEncoding.encode(request.subjectToken))"
            + "&subject_token_type=\(FormEncoding.encode(Self.accessTokenType))"
        for a in request.audiences { form += "&audience=\(FormEncoding.encode(a))" }
        for r in request.resources { form += "&resource=\(FormEncoding.encode(r))" }
        if let scope = request.scope { form += "&scope=\(FormEncoding.encode(scope))" }
        if let t = request.requestedTokenType { form += "&requested_token_type=\(FormEncoding.encode(t))" }
        if let path = request.actorTokenFile {
            guard let bytes = FileBytes.read(path, limit: 16_384) else { return .failed(.secret("cannot read the actor token file \(path)")) }
            let actor = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !actor.isEmpty else { return .failed(.secret("the actor token file \(path) is empty")) }
            form += "&actor_token=\(FormEncoding.encode(actor))&actor_token_type=\(FormEncoding.encode(request.actorTokenType))"
        }
        var headers: [String] = []
        let now = clock()
        let url: String
        do throws(IntrospectionError) {
            url = try discovery.url(for: endpoint)
            try ClientCredentials.apply(endpoint, url: url, form: &form, headers: &headers, now: now)
        } catch {
            return .failed(error)
        }
        let document: FetchedDocument
        do throws(FetchError) {
            document = try transport.post(FetchRequest(url: url, timeout: endpoint.timeout, maxBytes: 16_384),
                                          form: Array(form.utf8), headers: headers)
        } catch {
            return .failed(.transport(error.description))
        }
        return Self.read(document, now: now)
    }

    /// An answer: 200 with `access_token` (a valid `b64token`), or 400/401/403 with an OAuth `error`.
    static func read(_ document: FetchedDocument, now: Double) -> ExchangeOutcome {
        let json = try? JSONParser.parse(document.body, limits: JSONLimits(maxDepth: 8, maxBytes: document.body.count + 1))
        guard case .object(let members)? = json else {
            if document.status != 200 { return .failed(.status(document.status)) }
            return .failed(.malformed("not a JSON object"))
        }
        guard document.status == 200 else {
            // RFC 6749 §5.2 / RFC 8693 §2.2.2: the STS said no (a client error); anything else is an outage.
            if [400, 401, 403].contains(document.status), let error = members["error"]?.stringValue {
                return .refused(error: String(error.prefix(64)), description: members["error_description"]?.stringValue.map { String($0.prefix(256)) })
            }
            return .failed(.status(document.status))
        }
        guard let token = members["access_token"]?.stringValue, isB64Token(token) else {
            return .failed(.malformed("no access_token that is a valid bearer token (RFC 6750 §2.1 b64token, at most 8 KiB)"))
        }
        var expiresAt: Double?
        if case .number(let seconds)? = members["expires_in"], seconds.isFinite, seconds > 0 { expiresAt = now + seconds }
        else if let jwt = try? UnverifiedJWT.parse(token) { expiresAt = jwt.expiresAt }
        return .exchanged(token: token, expiresAt: expiresAt, cached: false)
    }

    /// RFC 6750 §2.1: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
    static func isB64Token(_ token: String) -> Bool {
        let bytes = Array(token.utf8)
        guard !bytes.isEmpty, bytes.count <= 8192 else { return false }
        var i = 0
        while i < bytes.count, bytes[i] != UInt8(ascii: "=") {
            let c = bytes[i]
            let ok = (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39)
                || c == UInt8(ascii: "-") || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "~")
                || c == UInt8(ascii: "+") || c == UInt8(ascii: "/")
            guard ok else { return false }
            i += 1
        }
        guard i > 0 else { return false }
        return bytes[i...].allSatisfy { $0 == UInt8(ascii: "=") }
    }

    static func cacheKey(_ r: ExchangeRequest, _ e: IntrospectionEndpoint) -> String {
        var text = "\(e.label)\u{0}\(e.clientID)\u{0}\(r.subjectToken)\u{0}\(r.audiences.joined(separator: "\u{1}"))"
        text += "\u{0}\(r.resources.joined(separator: "\u{1}"))\u{0}\(r.scope ?? "")\u{0}\(r.requestedTokenType ?? "")\u{0}\(r.actorTokenFile ?? "")"
        return Base64URL.encode(Digest.sha256.hash(Array(text.utf8)))
    }
}
