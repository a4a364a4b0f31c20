import Foundation
import WardenJSON

/// The last good JWKS of one source as kept in the cache directory, so a restart during an IdP
/// outage still has keys. One JSON file per source:
/// `{"source":…,"fetched_at":…,"etag":…,"jwks_uri":…,"jwks":{"keys":[…]}}`.
struct PersistedJWKS: Equatable {
    var source: String
    var fetchedAt: Double
    var etag: String?
    var jwksURI: String?
    var document: JSONValue
}

/// Reads and writes `PersistedJWKS` files; writes are atomic (temporary file, fsync, rename).
///
/// The directory is trusted only when no one else can write to it (owned by this user or root, no
/// group/other write bit): a file planted there would be served as an issuer's keys. Files are created
/// with `O_EXCL | O_NOFOLLOW` (a planted symlink is never followed), read only when they are regular
/// files, and a copy cannot extend its own life: a `fetched_at` in the future is refused.
struct JWKSPersistence: Sendable {
    let directory: String
    let maxBytes: Int
    /// How far `fetched_at` may be ahead of now (clock adjustments between runs).
    static let futureTolerance = 60.0

    /// Why the directory cannot be trusted, or nil.
    func unsafeDirectory() -> String? {
        var st = stat()
        guard lstat(directory, &st) == 0 else { return nil }  // missing: created below with 0700
        if (st.st_mode & S_IFMT) != S_IFDIR { return "not a directory (a symlink or file)" }
        if st.st_uid != geteuid() && st.st_uid != 0 { return "owned by uid \(st.st_uid), not by this user or root" }
        if st.st_mode & (S_IWGRP | S_IWOTH) != 0 { return "writable by group or others (mode \(String(st.st_mode & 0o777, radix: 8)))" }
        return nil
    }

    /// `jwks-<FNV-1a 64 of the source description>.json`: stable across runs, safe as a file name.
    func path(for source: JWKSSource) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in source.description.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return directory + "/jwks-" + String(repeating: "0", count: 16 - hex.count) + hex + ".json"
    }

    func load(_ source: JWKSSource, now: Double) -> Result<PersistedJWKS?, JWKSPersistenceError> {
        let path = path(for: source)
        var st = stat()
        guard lstat(path, &st) == 0 else { return .success(nil) }
        if let why = unsafeDirectory() { return .failure(.unsafe(directory, why)) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { return .failure(.corrupt(path, "not a regular file")) }
        guard let data = FileManager.default.contents(atPath: path) else { return .failure(.unreadable(path)) }
        let value: JSONValue
        do { value = try JSONParser.parse([UInt8](data), limits: JSONLimits(maxDepth: 32, maxBytes: maxBytes)) } catch {
            return .failure(.corrupt(path, error.description))
        }
        guard let name = value["source"]?.stringValue, let fetchedAt = value["fetched_at"]?.numberValue,
              let document = value["jwks"], document.objectValue != nil
        else { return .failure(.corrupt(path, "missing source, fetched_at or jwks")) }
        // A hash collision or a hand-copied file must not serve another issuer's keys.
        guard name == source.description else { return .failure(.corrupt(path, "belongs to \(name)")) }
        guard fetchedAt.isFinite, fetchedAt <= now + Self.futureTolerance else {
            return .failure(.corrupt(path, "fetched_at \(fetchedAt) is in the future"))
        }
        return .success(PersistedJWKS(source: name, fetchedAt: fetchedAt, etag: value["etag"]?.stringValue,
                                      jwksURI: value["jwks_uri"]?.stringValue, document: document))
    }

    func save(_ entry: PersistedJWKS, for source: JWKSSource) -> Result<Void, JWKSPersistenceError> {
        var object: [String: JSONValue] = [
            "source": .string(entry.source), "fetched_at": .number(entry.fetchedAt), "jwks": entry.document,
        ]
        if let etag = entry.etag { object["etag"] = .string(etag) }
        if let uri = entry.jwksURI { object["jwks_uri"] = .string(uri) }
        let bytes = Array(JSONValue.object(object).serialized.utf8)

        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            return .failure(.unwritable(directory, "\(error)"))
        }
        if let why = unsafeDirectory() { return .failure(.unsafe(directory, why)) }
        let target = path(for: source)
        let temporary = target + ".tmp.\(getpid()).\(UInt32.random(in: .min ... .max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return .failure(.unwritable(temporary, String(cString: strerror(errno)))) }
        var written = 0
        let ok = bytes.withUnsafeBytes { raw -> Bool in
            while written < raw.count {
                let n = write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 { if errno == EINTR { continue }; return false }
                written += n
            }
            return fsync(fd) == 0
        }
        let reason = ok ? "" : String(cString: strerror(errno))
        close(fd)
        guard ok, rename(temporary, target) == 0 else {
            let why = ok ? String(cString: strerror(errno)) : reason
            unlink(temporary)
            return .failure(.unwritable(target, why))
        }
        return .success(())
    }
}

enum JWKSPersistenceError: Error, CustomStringConvertible {
    case unreadable(String)
    case corrupt(String, String)
    case unwritable(String, String)
    case unsafe(String, String)

    var description: String {
        switch self {
        case .unreadable(let p): return "cannot read persisted JWKS \(p)"
        case .corrupt(let p, let why): return "ignoring persisted JWKS \(p): \(why)"
        case .unwritable(let p, let why): return "cannot persist JWKS to \(p): \(why)"
        case .unsafe(let p, let why): return "not using the JWKS cache directory \(p): \(why)"
        }
    }
}
