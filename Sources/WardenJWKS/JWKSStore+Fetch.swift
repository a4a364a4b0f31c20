import Foundation
import WardenJSON
import WardenJWT

/// One fetch of one source: plan under the lock, I/O outside it, apply the result under the lock,
/// then persist, log and complete waiters outside it.
extension JWKSStore {
    struct FetchPlan {
        let source: JWKSSource
        let etag: String?
        let jwksURI: String?
        let rediscover: Bool
        let hasKeys: Bool
        /// Bound on each request of this fetch, seconds.
        let timeout: Double
    }

    enum FetchOutcome {
        case updated(JWKSet, document: JSONValue, etag: String?)
        case notModified(etag: String?)
    }

    /// Runs one fetch of `source`, whose `inFlight` flag the caller has set. Blocking.
    func runFetch(_ source: JWKSSource) {
        let plan = state.withLock { st -> FetchPlan? in
            guard let s = st.sources[source] else { return nil }
            return FetchPlan(source: source, etag: s.etag, jwksURI: s.jwksURI, rediscover: s.rediscover,
                             hasKeys: s.snapshot != nil, timeout: fetchTimeout(of: s))
        }
        guard let plan else { return }
        var logs: [String] = []
        let (result, jwksURI) = fetch(plan, logs: &logs)
        let now = clock()

        var persist: PersistedJWKS?
        let (waiters, snapshot) = state.withLock { st -> ([SourceState.Waiter], KeySnapshot?) in
            guard var s = st.sources[source] else { return ([], nil) }  // unregistered meanwhile
            s.inFlight = false
            if let jwksURI { s.jwksURI = jwksURI }
            let expiresAt = source.isInline ? Double.infinity : now + (s.cacheDuration ?? configuration.cacheDuration)
            switch result {
            case .success(.updated(let keys, let document, let etag)):
                let changed = s.document != document || s.snapshot == nil
                let generation = changed ? st.takeGeneration() : s.snapshot!.generation
                s.snapshot = KeySnapshot(keys: keys, generation: generation, fetchedAt: now, expiresAt: expiresAt, source: source)
                s.document = document
                s.etag = etag
                s.fetches.succeeded += 1
                if changed {
                    var line = "\(source): \(keys.keys.count) key(s), kids [\(keys.kids.sorted().joined(separator: ", "))], generation \(generation)"
                    if !keys.skipped.isEmpty { line += "; skipped: \(keys.skipped.joined(separator: "; "))" }
                    logs.append(line)
                }
            case .success(.notModified(let etag)):
                let old = s.snapshot!
                s.snapshot = KeySnapshot(keys: old.keys, generation: old.generation, fetchedAt: now, expiresAt: expiresAt, source: source)
                if let etag { s.etag = etag }
                s.fetches.notModified += 1
            case .failure(let error):
                s.fetches.failed += 1
                s.consecutiveFailures += 1
                s.lastError = error
                s.lastErrorAt = now
                if error == .notModifiedWithoutCache { s.etag = nil }
                let delay = configuration.backoff(failures: s.consecutiveFailures, unit: Double.random(in: 0..<1))
                s.nextAttempt = source.isInline ? .infinity : now + delay
                let keeping = servable(s, now: now).map { "serving last good keys fetched at \($0.fetchedAt)" } ?? "no keys to serve"
                let retry = source.isInline ? "" : "; retry in \(String(format: "%.1f", delay)) s"
                logs.append("\(source): fetch failed (\(s.consecutiveFailures) in a row): \(error); \(keeping)\(retry)")
            }
            if case .success = result {
                s.consecutiveFailures = 0
                s.fromPersistedCache = false
                s.nextAttempt = source.isInline ? .infinity : now + configuration.refreshAfter(cacheDuration: s.cacheDuration)
                if source.isRemote, persistence != nil, let document = s.document {
                    persist = PersistedJWKS(source: source.description, fetchedAt: now, etag: s.etag,
                                            jwksURI: s.jwksURI, document: document)
                }
            }
            let waiters = s.waiters
            s.waiters = []
            st.waiting -= waiters.count
            st.sources[source] = s
            return (waiters, servable(s, now: now))
        }

        if let persist, let persistence, case .failure(let error) = persistence.save(persist, for: source) {
            logs.append("\(source): \(error)")
        }
        for line in logs { configuration.logger(JWKSSource.redactedText(line)) }
        wakeup.signal()
        for waiter in waiters { waiter.completion(snapshot) }
    }

    /// The I/O of one fetch. Returns the discovered `jwks_uri` (if any) even when the JWKS GET fails.
    private func fetch(_ plan: FetchPlan, logs: inout [String]) -> (Result<FetchOutcome, JWKSError>, String?) {
        switch plan.source {
        case .inline(let text):
            return (parse(Array(text.utf8), for: plan.source), nil)
        case .file(let path):
            return (readFile(path, for: plan.source), nil)
        case .remote(let uri):
            return (getJWKS(uri, plan: plan), nil)
        case .discovery(let issuer):
            var uri = plan.jwksURI
            if plan.rediscover || uri == nil {
                switch discover(issuer: issuer, timeout: plan.timeout, logs: &logs) {
                case .success(let found):
                    uri = found
                case .failure(let error):
                    // A known jwks_uri still works when only the discovery endpoint is failing.
                    guard let known = uri else { return (.failure(error), nil) }
                    logs.append("\(plan.source): discovery failed (\(error)); using known jwks_uri \(known)")
                }
            }
            let sameURI = uri == plan.jwksURI
            let jwksPlan = FetchPlan(source: plan.source, etag: sameURI ? plan.etag : nil, jwksURI: uri,
                                     rediscover: false, hasKeys: plan.hasKeys, timeout: plan.timeout)
            return (getJWKS(uri!, plan: jwksPlan), uri)
        }
    }

    /// GET `<issuer>/.well-known/openid-configuration` → its http(s) `jwks_uri`.
    private func discover(issuer: String, timeout: Double, logs: inout [String]) -> Result<String, JWKSError> {
        let url = JWKSSource.discoveryURL(issuer: issuer)
        let document: FetchedDocument
        switch get(url, etag: nil, timeout: timeout) {
        case .success(let d): document = d
        case .failure(let e): return .failure(e)
        }
        guard document.status == 200 else { return .failure(.httpStatus(document.status)) }
        let value: JSONValue
        do {
            value = try JSONParser.parse(document.body, limits: JSONLimits(maxDepth: 32, maxBytes: configuration.maxDocumentBytes))
        } catch {
            return .failure(.discoveryInvalid(error.description))
        }
        guard let uri = value["jwks_uri"]?.stringValue else { return .failure(.discoveryInvalid("no jwks_uri")) }
        guard FetchError.isHTTP(uri) else { return .failure(.discoveryInvalid("jwks_uri is not http/https: \(uri)")) }
        // A discovery document fetched over https may not send Warden to plain http for the keys.
        if url.lowercased().hasPrefix("https://"), !uri.lowercased().hasPrefix("https://") {
            return .failure(.discoveryInvalid("jwks_uri \(uri) is not https, but the discovery document came over https"))
        }
        let advertised = value["issuer"]?.stringValue
        if advertised != issuer {
            logs.append("discovery:\(issuer): document names issuer \(advertised.map { "\"\($0)\"" } ?? "none"); tokens must carry the configured issuer exactly")
        }
        return .success(uri)
    }

    private func getJWKS(_ url: String, plan: FetchPlan) -> Result<FetchOutcome, JWKSError> {
        let etag = plan.hasKeys ? plan.etag : nil
        let document: FetchedDocument
        switch get(url, etag: etag, timeout: plan.timeout) {
        case .success(let d): document = d
        case .failure(let e): return .failure(e)
        }
        if document.status == 304, etag != nil { return .success(.notModified(etag: document.etag)) }
        if document.status == 304 { return .failure(.notModifiedWithoutCache) }
        guard document.status == 200 else { return .failure(.httpStatus(document.status)) }
        return parse(document.body, for: plan.source).map { outcome in
            guard case .updated(let keys, let json, _) = outcome else { return outcome }
            return .updated(keys, document: json, etag: document.etag)
        }
    }

    private func get(_ url: String, etag: String?, timeout: Double) -> Result<FetchedDocument, JWKSError> {
        guard FetchError.isHTTP(url) else { return .failure(.fetch(.unsupportedScheme(url))) }
        let request = FetchRequest(url: url, timeout: timeout,
                                   maxBytes: configuration.maxDocumentBytes, ifNoneMatch: etag)
        let document: FetchedDocument
        do { document = try fetcher.get(request) } catch { return .failure(.fetch(error)) }
        // Enforced here too, so any fetcher is held to the limit.
        guard document.body.count <= configuration.maxDocumentBytes else {
            return .failure(.fetch(.tooLarge(limit: configuration.maxDocumentBytes)))
        }
        return .success(document)
    }

    private func readFile(_ path: String, for source: JWKSSource) -> Result<FetchOutcome, JWKSError> {
        let limit = configuration.maxDocumentBytes
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size > limit {
            return .failure(.fetch(.tooLarge(limit: limit)))
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "not readable" : "no such file"
            return .failure(.fileUnreadable(path: path, reason: reason))
        }
        guard data.count <= limit else { return .failure(.fetch(.tooLarge(limit: limit))) }
        return parse([UInt8](data), for: source)
    }

    /// A JWKS document → its usable keys; one with none is a failure (the last good keys stay).
    private func parse(_ bytes: [UInt8], for source: JWKSSource) -> Result<FetchOutcome, JWKSError> {
        if bytes.count > configuration.maxDocumentBytes { return .failure(.fetch(.tooLarge(limit: configuration.maxDocumentBytes))) }
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes, limits: JSONLimits(maxDepth: 32, maxBytes: configuration.maxDocumentBytes))
        } catch {
            // PEM public keys (Envoy's PEM JWKS format) are no JSON: kept as one string document.
            if let text = String(validating: bytes, as: UTF8.self), text.contains("-----BEGIN PUBLIC KEY-----") {
                return keySet(.string(text), for: source).map { .updated($0, document: .string(text), etag: nil) }
            }
            return .failure(.malformedJWKS(error.description))
        }
        return keySet(document, for: source).map { .updated($0, document: document, etag: nil) }
    }

    /// The usable keys of a parsed document. HMAC (`oct`) keys only from operator-configured sources
    /// (inline, file): a public `jwks_uri` must never yield a symmetric key.
    func keySet(_ document: JSONValue, for source: JWKSSource) -> Result<JWKSet, JWKSError> {
        let options = JWKSet.Options(allowSymmetric: !source.isRemote,
                                     jsonLimits: JSONLimits(maxDepth: 8, maxBytes: configuration.maxDocumentBytes * 2))
        let keys: JWKSet
        let bytes: [UInt8]
        if case .string(let pem) = document { bytes = Array(pem.utf8) } else { bytes = Array(document.serialized.utf8) }
        do { keys = try JWKSet.parse(bytes, options: options) } catch {
            return .failure(.malformedJWKS(String(describing: error)))
        }
        guard !keys.keys.isEmpty else { return .failure(.noUsableKeys(skipped: keys.skipped)) }
        return .success(keys)
    }

    /// Serves the persisted copy of a remote source until the first fetch confirms or replaces it.
    func loadPersisted(_ source: JWKSSource, now: Double) {
        guard let persistence else { return }
        let entry: PersistedJWKS
        switch persistence.load(source, now: now) {
        case .success(nil): return
        case .success(let e?): entry = e
        case .failure(let error):
            configuration.logger(JWKSSource.redactedText("\(source): \(error)"))
            return
        }
        let keys: JWKSet
        switch keySet(entry.document, for: source) {
        case .success(let k): keys = k
        case .failure(let error):
            configuration.logger(JWKSSource.redactedText("\(source): ignoring persisted JWKS: \(error)"))
            return
        }
        let line = state.withLock { st -> String? in
            guard var s = st.sources[source], s.snapshot == nil else { return nil }
            let snapshot = KeySnapshot(keys: keys, generation: st.takeGeneration(), fetchedAt: entry.fetchedAt,
                                       expiresAt: entry.fetchedAt + (s.cacheDuration ?? configuration.cacheDuration), source: source)
            s.snapshot = snapshot
            s.document = entry.document
            s.etag = entry.etag
            s.jwksURI = s.jwksURI ?? entry.jwksURI
            s.fromPersistedCache = true
            let usable = servable(s, now: now) != nil
            st.sources[source] = s
            return "\(source): loaded persisted JWKS fetched \(Int(now - entry.fetchedAt)) s ago, kids [\(keys.kids.sorted().joined(separator: ", "))]"
                + (usable ? "" : " (older than maxStaleness: not served)")
        }
        if let line { configuration.logger(JWKSSource.redactedText(line)) }
    }
}

extension JWKSSource {
    var isInline: Bool {
        if case .inline = self { return true }
        return false
    }
}
