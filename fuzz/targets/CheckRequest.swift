// Fuzz target: protobuf decoding of envoy.service.auth.v3.CheckRequest.
// Properties:
// - decoding never crashes; a decoded message re-encodes to bytes that decode and re-encode to the same
//   bytes (the writer and reader agree), so no input can smuggle fields past a round-trip. Bytes, not
//   messages, are compared: a Struct number may be NaN, which is never equal to itself;
// - the per-check decoder (`CheckRequestEssentials`, the fields Warden reads) accepts exactly what the
//   full decoder accepts, fails at the same offset with the same kind of error, and yields the same
//   values as deriving them from the full message.
import WardenExtAuthz

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let full = Result { () throws(ProtobufDecodeError) in try CheckRequest(serializedBytes: bytes) }
    let fast = Result { () throws(ProtobufDecodeError) in try CheckRequestEssentials(serializedBytes: bytes) }
    switch (full, fast) {
    case (.success(let request), .success(let essentials)):
        if CheckRequestEssentials(request) != essentials { fatalError("the per-check decoder read other values") }
    case (.failure(let a), .failure(let b)):
        if a != b { fatalError("the decoders reject differently: \(a) vs \(b)") }
    default:
        fatalError("the decoders disagree on accepting the input: full \(full), per-check \(fast)")
    }
    guard case .success(let request) = full else { return 0 }
    let again = request.serializedBytes()
    guard let reparsed = try? CheckRequest(serializedBytes: again) else {
        fatalError("re-encoded CheckRequest does not decode")
    }
    if reparsed.serializedBytes() != again { fatalError("CheckRequest round-trip changed the message") }
    return 0
}
