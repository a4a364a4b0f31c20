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

    private struct State {
        var tokens: [String: (token: String, expiresAt: Double?, until: Double)] = [:]
        var order: [String] = []
        var inFlight: [String: [Completion]] = [:]
        var hits = 0, calls = 0, failures = 0, refusals = 0, busy = 0
    }

    public let capacity: Int
    public let maxInFlight: Int
    private let transport: any IntrospectionTransport
    private let clock: @Sendable () -> Double
    private let state = Locked(State())

    public init(transport: any IntrospectionTransport, capacity: Int = 10_000, maxInFlight: Int = 64,
                clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.transport = transport
        self.capacity = max(1, capacity)
        self.maxInFlight = max(1, maxInFlight)
        self.clock = clock
    }

    /// Counters for /metrics: cache answers, calls, failures (no usable answer), refusals, busy.
    public var counters: (hits: Int, calls: Int, failures: Int, refusals: Int, busy: Int) {
        state.withLock { ($0.hits, $0.calls, $0.failures, $0.refusals, $0.busy) }
    }

    public func exchange(_ request: ExchangeRequest, at endpoint: IntrospectionEndpoint, completion: @escaping Completion) {
        if let why = endpoint.secretError { return completion(.failed(.secret(why))) }
        let key = Self.cacheKey(request, endpoint)
        let now = clock()
        enum Step { case answered(ExchangeOutcome), wait, call, refuse }
        let step = state.withLock { s -> Step in
            if let e = s.tokens[key], e.until > now {
                s.hits += 1
                return .answered(.exchanged(token: e.token, expiresAt: e.expiresAt, cached: true))
            }
            if var waiters = s.inFlight[key] {
                guard waiters.count < 1024 else { s.busy += 1; return .refuse }
                waiters.append(completion)
                s.inFlight[key] = waiters
                return .wait
            }
            guard s.inFlight.count < maxInFlight else { s.busy += 1; return .refuse }
            s.inFlight[key] = [completion]
            s.calls += 1
            return .call
        }
        switch step {
        case .answered(let o): completion(o)
        case .wait: break
        case .refuse: completion(.failed(.busy))
        case .call:
            let thread = Thread { [self] in
                let outcome = call(request, endpoint)
                finish(key, outcome, request)
            }
            thread.name = "warden-exchange"
            thread.start()
        }
    }

    private func finish(_ key: String, _ outcome: ExchangeOutcome, _ request: ExchangeRequest) {
        let now = clock()
        let waiters = state.withLock { s -> [Completion] in
            let waiters = s.inFlight.removeValue(forKey: key) ?? []
            switch outcome {
            case .exchanged(let token, let expiresAt, _):
                var until = (expiresAt ?? now + 60) - request.expiryMargin
                if let subject = request.subjectExpiresAt { until = min(until, subject) }
                if until > now {
                    if s.tokens[key] == nil {
                        if s.tokens.count >= capacity {
                            s.order.removeAll { k in
                                guard let e = s.tokens[k], e.until > now else { s.tokens[k] = nil; return true }
                                return false
                            }
                            if s.tokens.count >= capacity {
                                let drop = max(1, s.order.count / 2)
                                for k in s.order[..<drop] { s.tokens[k] = nil }
                                s.order.removeFirst(drop)
                            }
                        }
                        s.order.append(key)
                    }
                    s.tokens[key] = (token, expiresAt, until)
                }
            case .refused: s.refusals += 1
            case .failed: s.failures += 1
            }
            return waiters
        }
        for w in waiters { w(outcome) }
    }

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
        do throws(IntrospectionError) { try ClientCredentials.apply(endpoint, form: &form, headers: &headers, now: now) } catch {
            return .failed(error)
        }
        let document: FetchedDocument
        do throws(FetchError) {
            document = try transport.post(FetchRequest(url: endpoint.url, timeout: endpoint.timeout, maxBytes: 16_384),
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
        var text = "\(e.url)\u{0}\(e.clientID)\u{0}\(r.subjectToken)\u{0}\(r.audiences.joined(separator: "\u{1}"))"
        text += "\u{0}\(r.resources.joined(separator: "\u{1}"))\u{0}\(r.scope ?? "")\u{0}\(r.requestedTokenType ?? "")\u{0}\(r.actorTokenFile ?? "")"
        return Base64URL.encode(Digest.sha256.hash(Array(text.utf8)))
    }
}
