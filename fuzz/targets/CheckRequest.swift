// Fuzz target: protobuf decoding of envoy.service.auth.v3.CheckRequest.
// Property: decoding never crashes; a decoded message re-encodes to bytes that decode and re-encode to
// the same bytes (the writer and reader agree), so no input can smuggle fields past a round-trip.
// Bytes, not messages, are compared: a Struct number may be NaN, which is never equal to itself.
import WardenExtAuthz

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let request = try? CheckRequest(serializedBytes: bytes) else { return 0 }
    let again = request.serializedBytes()
    guard let reparsed = try? CheckRequest(serializedBytes: again) else {
        fatalError("re-encoded CheckRequest does not decode")
    }
    if reparsed.serializedBytes() != again { fatalError("CheckRequest round-trip changed the message") }
    return 0
}
