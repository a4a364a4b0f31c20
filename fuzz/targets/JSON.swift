// Fuzz target: the JSON parser under JWT headers/payloads and JWKS documents.
// Property: never crashes; an accepted document serializes to JSON that parses back to the same value.
import WardenJSON

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let limits = JSONLimits(maxDepth: 32, maxBytes: 1 << 20)
    guard let value = try? JSONParser.parse(bytes, limits: limits) else { return 0 }
    // Serialized claims reach headers (claim_to_headers) and logs: they must be valid JSON for the same value.
    guard let again = try? JSONParser.parse(Array(value.serialized.utf8), limits: JSONLimits(maxDepth: 32, maxBytes: 4 << 20)) else {
        fatalError("serialized JSON does not parse: \(value.serialized.debugDescription)")
    }
    if again != value { fatalError("JSON round-trip changed the value: \(value) vs \(again)") }
    return 0
}
