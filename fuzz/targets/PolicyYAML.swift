// Fuzz target: Istio policy YAML loading (libyaml events → YAMLNode → RequestAuthentication /
// AuthorizationPolicy decoding and validation). Property: never crashes; bounded by YAMLLimits.
import WardenPolicy
import WardenYAML

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let limits = YAMLLimits(maxBytes: 1 << 20, maxNodes: 100_000, maxDepth: 64, maxDocuments: 1000)
    _ = try? PolicySet.parse(yaml: text, file: "fuzz.yaml", limits: limits)
    return 0
}
