import Foundation
import WardenJWT

/// `--dpop-nonce-key-file`: the secret every replica mints and checks DPoP server nonces with. The whole
/// file, byte for byte, is the key (a trailing newline is part of it): 32 bytes at least, e.g.
/// `head -c 32 /dev/urandom`. Read once at start; a different file on each replica makes every other
/// replica's nonces `jwt_dpop_nonce_invalid`.
enum DPoPNonceKeyFile {
    static func load(_ path: String, lifetime: Double) throws(UsageError) -> DPoPNonces {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UsageError("cannot read --dpop-nonce-key-file \(path)")
        }
        guard data.count >= DPoPNonces.minimumKeyBytes, data.count <= DPoPNonces.maximumKeyBytes,
              let nonces = DPoPNonces(key: [UInt8](data), lifetime: lifetime)
        else {
            throw UsageError("--dpop-nonce-key-file \(path) holds \(data.count) bytes: a nonce key needs "
                             + "\(DPoPNonces.minimumKeyBytes) to \(DPoPNonces.maximumKeyBytes) bytes (e.g. head -c 32 /dev/urandom)")
        }
        return nonces
    }

    static let defaultLifetime = 300.0

    /// Parses `--dpop-nonce-lifetime`: 10 s to 24 h.
    static func lifetime(_ reader: inout ArgumentReader, _ flag: String) throws(UsageError) -> Double {
        let d = try reader.seconds(for: flag)
        if d < 10 || d > 86400 { throw UsageError("invalid value for --dpop-nonce-lifetime: 10s to 24h") }
        return d
    }
}
