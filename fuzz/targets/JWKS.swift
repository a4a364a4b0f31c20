// Fuzz target: JWKS document parsing (JSON, JWK members, RSA/EC/OKP key import through OpenSSL).
// Property: never crashes; every accepted key has a unique fingerprint entry and a remote set
// (default options) never yields a symmetric key.
import WardenJWT

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let set = try? JWKSet.parse(bytes) else { return 0 }
    for key in set.keys where key.kty == "oct" { fatalError("remote JWKS yielded a symmetric key") }
    if set.fingerprints.count > set.keys.count { fatalError("more fingerprints than keys") }
    return 0
}
