// Fuzz target: compact JWT parsing (segments, base64url, JOSE header JSON, payload JSON, claim types).
// Property: never crashes; a parsed token's segments are exactly the input's.
import WardenJWT

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let token = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let jwt = try? UnverifiedJWT.parse(token) else { return 0 }
    if !token.contains(String(jwt.payloadSegment)) { fatalError("payload segment not taken from the token") }
    if let exp = jwt.expiresAt, !(exp >= 0) { fatalError("negative or NaN exp accepted") }
    return 0
}
