// Fuzz target: protobuf decoding of envoy.service.auth.v3.CheckRequest.
// Properties:
// - decoding never crashes; a decoded message re-encodes to bytes that decode and re-encode to the same
//   bytes (the writer and reader agree), so no input can smuggle fields past a round-trip. Bytes, not
//   messages, are compared: a Struct number may be NaN, which is never equal to itself;
// - the per-check decoder (`CheckRequestEssentials`, the fields Warden reads) accepts exactly what the
//   full decoder accepts, fails at the same offset with the same kind of error, and yields the same
//   values as deriving them from the full message. Metadata values are compared by their bits: a NaN number
//   is the same value as itself here (Double's `==` says it is not, which is no disagreement).
import WardenExtAuthz
import WardenProtobuf

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let full = Result { () throws(ProtobufDecodeError) in try CheckRequest(serializedBytes: bytes) }
    let fast = Result { () throws(ProtobufDecodeError) in try CheckRequestEssentials(serializedBytes: bytes) }
    switch (full, fast) {
    case (.success(let request), .success(let essentials)):
        if !same(CheckRequestEssentials(request), essentials) { fatalError("the per-check decoder read other values") }
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

/// Equal essentials, with metadata numbers compared by bit pattern (NaN included).
private func same(_ a: CheckRequestEssentials, _ b: CheckRequestEssentials) -> Bool {
    var (x, y) = (a, b)
    (x.metadataContext, y.metadataContext) = ([:], [:])
    guard x == y, a.metadataContext.count == b.metadataContext.count else { return false }
    return a.metadataContext.allSatisfy { key, value in b.metadataContext[key].map { same(value, $0) } ?? false }
}

private func same(_ a: ProtobufStruct, _ b: ProtobufStruct) -> Bool {
    a.fields.count == b.fields.count
        && a.fields.allSatisfy { key, value in b.fields[key].map { same(value, $0) } ?? false }
}

private func same(_ a: ProtobufValue, _ b: ProtobufValue) -> Bool {
    switch (a, b) {
    case (.number(let x), .number(let y)): return x.bitPattern == y.bitPattern
    case (.structValue(let x), .structValue(let y)): return same(x, y)
    case (.listValue(let x), .listValue(let y)): return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
    default: return a == b
    }
}
