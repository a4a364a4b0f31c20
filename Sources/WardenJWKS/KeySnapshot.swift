import WardenJWT

/// The keys of one source at one moment; an immutable value the request path can hold on to.
public struct KeySnapshot: Sendable {
    /// The usable keys.
    public let keys: JWKSet
    /// Store-wide counter that increases whenever a source's keys change (not on a refetch that
    /// returned the same document), so caches keyed by it drop entries verified with removed keys.
    public let generation: UInt64
    /// When these keys were last confirmed by the source (fetch, 304 revalidation or file read).
    public let fetchedAt: Double
    /// When they stop being fresh (`fetchedAt + cacheDuration`; infinity for inline keys).
    public let expiresAt: Double
    /// The source the keys came from.
    public let source: JWKSSource
}
