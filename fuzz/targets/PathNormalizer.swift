// Fuzz target: request-path normalization (Istio BASE / Envoy normalize_path).
// Properties (a violation is a policy bypass, so it aborts):
// - never crashes;
// - the result of a path starting with "/" or "\" starts with "/", has no "." or ".." segment,
//   no "\" and no "?" or "#";
// - normalization is idempotent (what the evaluator matches is a fixed point).
import WardenPolicy

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let raw = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let out = PathNormalizer.normalize(raw) else { return 0 }
    guard raw.utf8.first == UInt8(ascii: "/") || raw.utf8.first == UInt8(ascii: "\\") else { return 0 }
    // A query/fragment cut before the first byte leaves nothing to check.
    guard out.utf8.first == UInt8(ascii: "/") else { fatalError("normalized path does not start with '/': \(out.debugDescription)") }
    if out.utf8.contains(UInt8(ascii: "\\")) { fatalError("backslash survived: \(out.debugDescription)") }
    if out.utf8.contains(UInt8(ascii: "?")) || out.utf8.contains(UInt8(ascii: "#")) { fatalError("query survived: \(out.debugDescription)") }
    let segments = out.split(separator: "/", omittingEmptySubsequences: false)
    if segments.contains(".") || segments.contains("..") { fatalError("dot segment survived: \(out.debugDescription) from \(raw.debugDescription)") }
    guard let twice = PathNormalizer.normalize(out) else { fatalError("normalized path rejected on second pass: \(out.debugDescription)") }
    if twice != out { fatalError("not idempotent: \(raw.debugDescription) → \(out.debugDescription) → \(twice.debugDescription)") }
    return 0
}
