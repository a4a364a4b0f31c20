import Foundation
import WardenCrypto

/// Loads Wycheproof vector files from `<package>/Tests/Vectors/wycheproof` (a copy of shared/vectors/wycheproof) (or `$WARDEN_WYCHEPROOF`).
enum Wycheproof {
    static let directory: URL = {
        if let env = ProcessInfo.processInfo.environment["WARDEN_WYCHEPROOF"] { return URL(fileURLWithPath: env) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent("Tests/Vectors/wycheproof")
    }()

    struct Case: Sendable, CustomStringConvertible {
        let file: String
        let tcId: Int
        let comment: String
        let result: String
        let group: [String: any Sendable]
        let test: [String: any Sendable]
        var description: String { "\(file)#\(tcId) \(result) \(comment)" }
        func hex(_ key: String) -> [UInt8] { Wycheproof.hex(test[key] as? String ?? "") }
    }

    static func cases(_ file: String) -> [Case] {
        let url = directory.appendingPathComponent(file)
        guard let data = try? Data(contentsOf: url),
              let doc = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let groups = doc["testGroups"] as? [[String: Any]]
        else { fatalError("cannot load Wycheproof file \(url.path)") }
        var out: [Case] = []
        for g in groups {
            let group = sendable(g)
            for t in g["tests"] as? [[String: Any]] ?? [] {
                out.append(Case(file: file, tcId: t["tcId"] as? Int ?? -1, comment: t["comment"] as? String ?? "",
                                result: t["result"] as? String ?? "", group: group, test: sendable(t)))
            }
        }
        return out
    }

    private static func sendable(_ d: [String: Any]) -> [String: any Sendable] {
        var out: [String: any Sendable] = [:]
        for (k, v) in d where k != "tests" {
            switch v {
            case let s as String: out[k] = s
            case let n as Int: out[k] = n
            case let o as [String: Any]: out[k] = sendable(o)
            case let a as [Any]: out[k] = a.compactMap { $0 as? String }
            default: break
            }
        }
        return out
    }

    static func hex(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(s.count / 2)
        var it = s.utf8.makeIterator()
        func nibble(_ c: UInt8) -> UInt8 {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            case 0x41...0x46: return c - 0x41 + 10
            default: fatalError("bad hex")
            }
        }
        while let hi = it.next(), let lo = it.next() { out.append(nibble(hi) << 4 | nibble(lo)) }
        return out
    }
}

extension Wycheproof.Case {
    /// The test group's RSA public key (`publicKey.modulus`, `publicExponent`).
    func rsaPublicKey() throws -> PublicKey {
        let pk = group["publicKey"] as! [String: any Sendable]
        return try PublicKey.rsa(modulus: Wycheproof.hex(pk["modulus"] as! String), exponent: Wycheproof.hex(pk["publicExponent"] as! String))
    }

    /// The test group's EC curve (`publicKey.curve`).
    var curve: Curve {
        switch (group["publicKey"] as! [String: any Sendable])["curve"] as? String {
        case "secp384r1": .p384
        case "secp521r1": .p521
        default: .p256
        }
    }

    /// The test group's EC public key; wx/wy are minimal big-endian with an optional sign byte,
    /// left-padded here to the coordinate size.
    func ecPublicKey() throws -> PublicKey {
        let pk = group["publicKey"] as! [String: any Sendable]
        let curve = self.curve
        func coord(_ key: String) -> [UInt8] {
            let v = Array(Wycheproof.hex(pk[key] as! String).drop { $0 == 0 })
            return [UInt8](repeating: 0, count: curve.coordinateByteCount - v.count) + v
        }
        return try PublicKey.ec(curve: curve, x: coord("wx"), y: coord("wy"))
    }
}
