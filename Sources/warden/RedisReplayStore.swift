import WardenAuthz
import WardenCrypto
import WardenRedis

/// DPoP proof ids remembered in Redis, shared by every replica (`--dpop-replay-redis`): `SET NX PX`
/// under a hash of the id, for the rest of its window. Redis unreachable, slow (past the client's timeout)
/// or answering an error → `.unavailable`, which fails closed unless `--dpop-replay-unavailable local`.
struct RedisReplayStore: ReplayStore {
    let client: RedisClient

    func firstUse(of key: String, expires: Double, now: Double) -> ReplayVerdict {
        // Bounded key size whatever the proof's jti: hex SHA-256 of "jkt jti".
        let digest = Digest.sha256.hash(Array(key.utf8)).map { String($0, radix: 16).leftPadded(to: 2) }.joined()
        let ttl = Int(((expires - now) * 1000).rounded(.up))
        do throws(RedisError) {
            return try client.setIfAbsent("warden:dpop:" + digest, ttlMilliseconds: max(1, ttl)) ? .first : .replay
        } catch {
            return .unavailable(error.description)
        }
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
