import WardenAuthz
import WardenSync

/// Encoded allow answers by the `AnswerKey` the Check path hands out: a repeated cached token answers
/// with the bytes encoded the first time (encoding an allow with its `jwt_payload` metadata was ~11k
/// instructions of a ~110k cached check; bench/callgrind.py). Direct-mapped and bounded: `slots`
/// answers of at most `maxAnswerBytes` each (32 MiB in all at worst, a few MB with usual tokens); a
/// collision replaces the older answer.
final class EncodedAnswers: Sendable {
    private let table: Locked<[(key: AnswerKey, bytes: [UInt8])?]>
    private let mask: Int

    /// - Parameter slots: rounded up to a power of two.
    init(slots: Int = 1024) {
        var n = 1
        while n < slots { n <<= 1 }
        table = Locked(Array(repeating: nil, count: n))
        mask = n - 1
    }

    func bytes(for key: AnswerKey) -> [UInt8]? {
        table.withLock { t in
            guard let e = t[key.slot & mask], e.key == key else { return nil }
            return e.bytes
        }
    }

    /// Largest answer kept (a payload header and metadata twice the token's size, for an 8 KiB token).
    static let maxAnswerBytes = 32 << 10

    func remember(_ bytes: [UInt8], for key: AnswerKey) {
        guard bytes.count <= Self.maxAnswerBytes else { return }
        let old = table.withLock { t -> (key: AnswerKey, bytes: [UInt8])? in
            defer { t[key.slot & mask] = (key, bytes) }
            return t[key.slot & mask]
        }
        _ = old  // released after the lock
    }
}
