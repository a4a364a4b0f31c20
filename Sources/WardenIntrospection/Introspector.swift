import Foundation
import WardenCrypto
import WardenJSON
import WardenJWKS
import WardenJWT
import WardenSync

/// The HTTP POST an `Introspector` needs; `CurlFetcher` is the real one.
public protocol IntrospectionTransport: Sendable {
    func post(_ request: FetchRequest, form: [UInt8], headers: [String]) throws(FetchError) -> FetchedDocument
    /// A GET (discovery documents).
    func get(_ request: FetchRequest) throws(FetchError) -> FetchedDocument
}

extension IntrospectionTransport {
    /// A transport that only POSTs cannot discover endpoints.
    public func get(_ request: FetchRequest) throws(FetchError) -> FetchedDocument {
        throw .transfer(code: -1, message: "this transport does not fetch documents")
    }
}

extension CurlFetcher: IntrospectionTransport {}

/// Asks RFC 7662 introspection endpoints about opaque tokens, with a bounded cache of their answers.
///
/// - Cache: keyed by SHA-256 of endpoint, client and token (the token itself is never kept), active answers
///   until `min(exp, cacheDuration)`, inactive ones for `negativeCacheDuration`; failures are not cached, so
///   answers already cached keep serving through an outage until they expire. Bounded by `capacity`.
/// - Single flight: concurrent checks of one token share one call; at most `maxInFlight` distinct calls run
///   at once (each on its own thread: libcurl blocks), more are refused at once (`.busy`), never queued.
/// - The caller bounds its own wait (its deadline); a call it stopped waiting for still fills the cache.
public final class Introspector: Sendable {
    public typealias Completion = @Sendable (IntrospectionOutcome) -> Void

    private enum Answer: Sendable {
        case active([String: JSONValue], [UInt8])
        case inactive
    }

    public var capacity: Int { calls.capacity }
    public var maxInFlight: Int { calls.maxInFlight }
    /// Largest answer body accepted.
    public let maxAnswerBytes: Int
    private let transport: any IntrospectionTransport
    private let clock: @Sendable () -> Double
    private let calls: SharedCalls<Answer, IntrospectionOutcome>
    private let failures = Locked(0)
    private let discovery: EndpointDiscovery

    public init(transport: any IntrospectionTransport, capacity: Int = 10_000, maxInFlight: Int = 64, maxAnswerBytes: Int = 16_384,
                clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.transport = transport
        discovery = EndpointDiscovery(transport: transport, clock: clock)
        calls = SharedCalls(capacity: capacity, maxInFlight: maxInFlight, threadName: "warden-introspect")
        self.maxAnswerBytes = maxAnswerBytes
        self.clock = clock
    }

    /// How long the calls to the endpoints took.
    public var latency: SharedCallLatency { calls.latency }

    /// Counters for /metrics: answers from the cache, calls made, calls that failed, calls refused as busy.
    public var counters: (hits: Int, misses: Int, failures: Int, refused: Int) {
        let c = calls.counters
        return (c.hits, c.calls, failures.withLock { $0 }, c.busy)
    }

    /// Completes with the endpoint's answer for `token`: at once from the cache, else after one call
    /// (shared with concurrent checks of the same token), on the calling thread or the call's thread.
    /// Active answers are kept until `min(exp, cacheDuration)`, inactive ones `negativeCacheDuration`;
    /// failures are not kept.
    /// - Parameter cachedOnly: answer from the cache or fail, never call (a dry-run check never waits).
    public func introspect(_ token: String, at endpoint: IntrospectionEndpoint, cachedOnly: Bool = false, completion: @escaping Completion) {
        if let why = endpoint.secretError { return completion(.failed(.secret(why))) }
        let now = clock()
        let step = calls.answer(Self.cacheKey(token, endpoint), now: now, cachedOnly: cachedOnly, completion: completion) { [self] in
            let outcome = call(token, endpoint)
            switch outcome {
            case .active(let claims, let body, _):
                var until = now + endpoint.cacheDuration
                if case .number(let exp)? = claims["exp"] { until = min(until, exp) }
                return (outcome, (.active(claims, body), until))
            case .inactive:
                return (outcome, endpoint.negativeCacheDuration > 0 ? (.inactive, now + endpoint.negativeCacheDuration) : nil)
            case .failed:
                failures.withLock { $0 += 1 }
                return (outcome, nil)
            }
        }
        switch step {
        case .cached(.active(let claims, let body)): completion(.active(claims: claims, answer: body, cached: true))
        case .cached(.inactive): completion(.inactive(cached: true))
        case .miss: completion(.failed(.transport("no cached answer, and this check does not call the endpoint (dry run)")))
        case .busy: completion(.failed(.busy))
        case .joined, .started: break
        }
    }

    /// One POST to the endpoint (RFC 7662 §2.1) and its answer read (§2.2).
    private func call(_ token: String, _ endpoint: IntrospectionEndpoint) -> IntrospectionOutcome {
        var form = "token=\(FormEncoding.encode(token))&token_type_hint=access_token"
        var headers: [String] = []
        let url: String
        do throws(IntrospectionError) {
            url = try discovery.url(for: endpoint)
            try ClientCredentials.apply(endpoint, url: url, form: &form, headers: &headers, now: clock())
        } catch {
            return .failed(error)
        }
        let request = FetchRequest(url: url, timeout: endpoint.timeout, maxBytes: maxAnswerBytes)
        let document: FetchedDocument
        do throws(FetchError) {
            document = try transport.post(request, form: Array(form.utf8), headers: headers)
        } catch {
            return .failed(.transport(error.description))
        }
        guard document.status == 200 else { return .failed(.status(document.status)) }
        return Self.read(document.body)
    }

    /// An answer body: a JSON object whose `active` is a boolean (RFC 7662 §2.2: REQUIRED).
    static func read(_ body: [UInt8]) -> IntrospectionOutcome {
        let json: JSONValue
        do throws(JSONError) { json = try JSONParser.parse(body, limits: JSONLimits(maxDepth: 16, maxBytes: body.count + 1)) } catch {
            return .failed(.malformed("not JSON: \(error)"))
        }
        guard case .object(var members) = json else { return .failed(.malformed("not a JSON object")) }
        guard case .bool(let active)? = members["active"] else { return .failed(.malformed("no boolean \"active\" member")) }
        guard active else { return .inactive(cached: false) }
        members["active"] = nil
        return .active(claims: members, answer: body, cached: false)
    }

    /// SHA-256 over endpoint, client id and token, base64url: the token is never a key in memory.
    static func cacheKey(_ token: String, _ endpoint: IntrospectionEndpoint) -> String {
        Base64URL.encode(Digest.sha256.hash(Array("\(endpoint.label)\u{0}\(endpoint.clientID)\u{0}\(token)".utf8)))
    }
}

/// `application/x-www-form-urlencoded` values (RFC 6749 Appendix B): everything but unreserved characters
/// percent-encoded.
enum FormEncoding {
    static func encode(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for b in text.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(b >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(b & 15)]))
            }
        }
        return out
    }
}
