import WardenJWKS
import WardenJWT
import WardenPolicy

/// Verifies every token a request carries, as Envoy's jwt_authn does under Istio: no token passes with
/// no identity; every token present must be valid; a token's issuer must be one the location was
/// configured for. Keys come from the store without waiting when warm; a cold source or an unknown
/// `kid` defers the answer to the store's completion instead of blocking the caller's thread.
struct Authenticator: Sendable {
    let keyStore: JWKSStore
    let tokenCache: VerifiedTokenCache?
    let options: AuthzOptions
    /// Parsed + verified results of repeated tokens; present only with `tokenCache`.
    let recent: RecentTokens?

    init(keyStore: JWKSStore, tokenCache: VerifiedTokenCache?, options: AuthzOptions) {
        self.keyStore = keyStore
        self.tokenCache = tokenCache
        self.options = options
        recent = tokenCache.map { RecentTokens(maxEntryAge: $0.maxEntryAge) }
    }

    typealias Completion = @Sendable (Result<[VerifiedToken], AuthenticationFailure>) -> Void

    /// Verifies `tokens` (in extraction order) in Envoy's order, which decides the error reported when
    /// several are invalid: the authenticator pops its tokens from the back, so the last one extracted is
    /// checked first and the first failure is the answer; `Jwt issuer is not configured` is reported only
    /// when no other token failed (Envoy's any-of aggregation prefers every other error to it). The
    /// verified tokens come back in extraction order.
    func authenticate(_ tokens: [ExtractedToken], scope: CompiledScope, now: Double, completion: @escaping Completion) {
        if tokens.count == 1 {
            return verify(tokens[0], scope: scope, now: now) { completion($0.map { [$0] }) }
        }
        verifyAll(tokens.reversed()[...], verified: [], unknownIssuer: nil, scope: scope, now: now) { result in
            completion(result.map { $0.reversed() })
        }
    }

    private func verifyAll(_ rest: ArraySlice<ExtractedToken>, verified: [VerifiedToken], unknownIssuer: AuthenticationFailure?,
                           scope: CompiledScope, now: Double, completion: @escaping Completion) {
        guard let token = rest.first else {
            return completion(unknownIssuer.map { .failure($0) } ?? .success(verified))
        }
        verify(token, scope: scope, now: now) { result in
            switch result {
            case .failure(let f) where f.error.isUnknownIssuer:
                self.verifyAll(rest.dropFirst(), verified: verified, unknownIssuer: unknownIssuer ?? f, scope: scope, now: now,
                               completion: completion)
            case .failure(let f): completion(.failure(f))
            case .success(let v):
                self.verifyAll(rest.dropFirst(), verified: verified + [v], unknownIssuer: unknownIssuer, scope: scope, now: now,
                               completion: completion)
            }
        }
    }

    private func verify(_ token: ExtractedToken, scope: CompiledScope, now: Double,
                        completion: @escaping @Sendable (Result<VerifiedToken, AuthenticationFailure>) -> Void) {
        @Sendable func fail(_ e: JWTError) { completion(.failure(AuthenticationFailure(error: e, location: token.location))) }
        let remembered = recent?.lookup(token.token, now: now)
        let jwt: UnverifiedJWT
        if let remembered {
            jwt = remembered.jwt
        } else {
            do { jwt = try UnverifiedJWT.parse(token.token, maxBytes: options.maxTokenBytes) } catch { return fail(error) }
        }
        let issuer = jwt.issuer ?? ""
        guard scope.extractor.issuers(at: token.location).contains(issuer), let provider = scope.providers[issuer] else {
            // Envoy's body either way; the reason names a trailing-slash or http/https near miss.
            return fail(JWTError.unconfiguredIssuer(jwt.issuer, configured: scope.providers.keys))
        }
        do { try jwt.checkClaims(provider.requirements, now: now) } catch { return fail(error) }

        let finish: @Sendable (KeySnapshot, Bool) -> Void = { snapshot, mayRefetch in
            if let remembered, let recent, recent.usable(remembered, for: snapshot) {
                return completion(.success(VerifiedToken(extracted: token, provider: provider, jwt: remembered.verified,
                                                         encodedClaims: remembered.encodedMetadata,
                                                         identity: remembered.identity, remembered: remembered)))
            }
            switch JWTVerifier.verifySignature(of: jwt, token: token.token, keys: snapshot.keys, now: now, cache: tokenCache) {
            case .success(let v):
                recent?.remember(token.token, jwt: jwt, verified: v, snapshot: snapshot, now: now)
                completion(.success(VerifiedToken(extracted: token, provider: provider, jwt: v)))
            case .failure(.unknownKid) where mayRefetch && provider.source.canRefetch:
                // A kid we do not know may be a rotation: one rate-limited, coalesced refetch.
                keyStore.refetchForUnknownKid(provider.source, kid: jwt.header.kid) { fresh in
                    guard let fresh, fresh.generation != snapshot.generation else {
                        return fail(.unknownKid(jwt.header.kid))
                    }
                    switch JWTVerifier.verifySignature(of: jwt, token: token.token, keys: fresh.keys, now: now, cache: tokenCache) {
                    case .success(let v): completion(.success(VerifiedToken(extracted: token, provider: provider, jwt: v)))
                    case .failure(let e): fail(e)
                    }
                }
            case .failure(let e):
                fail(e)
            }
        }
        if let snapshot = keyStore.snapshot(for: provider.source) {
            finish(snapshot, true)
        } else {
            keyStore.keys(for: provider.source) { snapshot in
                guard let snapshot else {
                    let why = keyStore.status(for: provider.source)?.lastError?.description ?? "no keys fetched yet"
                    return fail(.jwksUnavailable(why))
                }
                finish(snapshot, true)
            }
        }
    }
}

extension JWTError {
    /// `Jwt issuer is not configured` (Envoy's `JwtUnknownIssuer`), whatever the precise cause.
    var isUnknownIssuer: Bool {
        switch self {
        case .issuerNotConfigured, .issuerMismatch: return true
        default: return false
        }
    }
}

extension JWKSSource {
    /// Whether a refetch can bring new keys: remote and discovery sources, and files (re-read);
    /// inline keys are fixed until the policies reload.
    var canRefetch: Bool {
        switch self {
        case .remote, .discovery, .file: return true
        case .inline: return false
        }
    }
}
