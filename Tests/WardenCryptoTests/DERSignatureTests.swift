import Testing
@testable import WardenCrypto

/// JOSE raw `R || S` → DER `ECDSA-Sig-Value`, byte for byte.
struct DERSignatureTests {
    struct Case: Sendable, CustomStringConvertible {
        let name: String
        let size: Int
        let r: [UInt8]
        let s: [UInt8]
        let der: [UInt8]?
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(name: "small values, leading zeros dropped", size: 32,
             r: [UInt8](repeating: 0, count: 31) + [0x01], s: [UInt8](repeating: 0, count: 30) + [0x01, 0x02],
             der: [0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x02, 0x01, 0x02]),
        Case(name: "zero is one 0x00 byte", size: 32,
             r: [UInt8](repeating: 0, count: 32), s: [UInt8](repeating: 0, count: 31) + [0x7F],
             der: [0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x7F]),
        Case(name: "high bit gets a 0x00 prefix", size: 32,
             r: [0x80] + [UInt8](repeating: 0, count: 31), s: [UInt8](repeating: 0, count: 31) + [0x80],
             der: [0x30, 0x27, 0x02, 0x21, 0x00, 0x80] + [UInt8](repeating: 0, count: 31) + [0x02, 0x02, 0x00, 0x80]),
        Case(name: "P-521 full width: long-form sequence length", size: 66,
             r: [UInt8](repeating: 0xFF, count: 66), s: [0x01] + [UInt8](repeating: 0x00, count: 65),
             der: [0x30, 0x81, 0x89, 0x02, 0x43, 0x00] + [UInt8](repeating: 0xFF, count: 66)
                 + [0x02, 0x42, 0x01] + [UInt8](repeating: 0, count: 65)),
        Case(name: "wrong raw length", size: 32, r: [UInt8](repeating: 1, count: 32), s: [1], der: nil),
    ]

    @Test(arguments: cases)
    func encodes(_ c: Case) {
        let raw = c.r + c.s
        let der: [UInt8]? = raw.withUnsafeBufferPointer { raw in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: PublicKey.maxDERSignatureLength) { out in
                PublicKey.derSignature(fromRaw: raw, coordinateSize: c.size, into: out).map { Array(out[..<$0]) }
            }
        }
        #expect(der == c.der)
    }
}
