import WardenAuthz
import WardenRedis

/// DPoP proof ids remembered in Redis, shared by every replica (`--dpop-replay-redis`): `SET NX PX`
/// under the proof's replay key (a digest), for the rest of its window. Redis unreachable, slow (past the client's timeout)
/// or answering an error → `.unavailable`, which fails closed unless `--dpop-replay-unavailable local`.
struct RedisReplayStore: ReplayStore {
    let client: RedisClient

    func firstUse(of key: String, expires: Double, now: Double) -> ReplayVerdict {
        // `key` is a fixed-size digest of the proof's jkt and jti (`DPoPProof.replayKey`).
        let ttl = Int(((expires - now) * 1000).rounded(.up))
        do throws(RedisError) {
            return try client.setIfAbsent("warden:dpop:" + key, ttlMilliseconds: max(1, ttl)) ? .first : .replay
        } catch {
            return .unavailable(error.description)
        }
    }
}
