import Foundation
import WardenCrypto
import WardenJSON
@testable import WardenJWT

enum Fixture {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var wycheproof: URL {
        if let env = ProcessInfo.processInfo.environment["WARDEN_WYCHEPROOF"] { return URL(fileURLWithPath: env) }
        return packageRoot.appendingPathComponent("Tests/Vectors/wycheproof")
    }

    static func json(_ url: URL) -> [String: Any] {
        guard let data = try? Data(contentsOf: url), let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            fatalError("cannot read \(url.path)")
        }
        return obj
    }

    static func jsonBytes(_ obj: Any) -> [UInt8] {
        [UInt8](try! JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]))
    }

    static func b64(_ s: String) -> String { Base64URL.encode(Array(s.utf8)) }

    /// An HS* token signed in Swift (for crafted cases): header and payload are given as JSON text.
    static func hmacToken(header: String, payload: String, secret: [UInt8], alg: JWTAlgorithm = .HS256) -> String {
        let input = b64(header) + "." + b64(payload)
        let mac = HMACKey(secret).authenticationCode(for: Array(input.utf8), digest: alg.digest!)
        return input + "." + Base64URL.encode(mac)
    }

    static let secret: [UInt8] = Array(0..<32)
    static let operatorKeys = JWKSet(keys: [JWK(secret: secret, kid: "k1")])
}
