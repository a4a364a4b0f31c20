import Testing
import WardenProtobuf

/// Codec-level regressions from `fuzz/targets/CheckRequest.swift` (libFuzzer); the CheckRequest inputs
/// themselves are in WardenExtAuthzTests/FuzzRegressionTests.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    /// A NaN number keeps its exact bits (sign and payload) through decode and encode.
    @Test(arguments: [UInt64(0xFFFF_FFFF_0000_0000), 0x7FF8_0000_0000_0001, 0xFFF8_0000_0000_0000])
    func nanNumberKeepsItsBits(_ bits: UInt64) throws {
        // Value{number_value (field 2, fixed64)}
        let wire: [UInt8] = [0x11] + (0..<8).map { UInt8(truncatingIfNeeded: bits >> ($0 * 8)) }
        let value = try ProtobufValue(serializedBytes: wire)
        guard case .number(let n) = value else { Issue.record("decoded \(value), not a number"); return }
        #expect(n.isNaN)
        #expect(n.bitPattern == bits)
        #expect(value.serializedBytes() == wire)
    }
}
