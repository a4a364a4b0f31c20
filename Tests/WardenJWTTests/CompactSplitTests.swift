import Testing
@testable import WardenJWT

/// Splitting scans the token eight bytes at a time: dots in every position of a word, and any number
/// of them, give the segment counts Envoy reports.
struct CompactSplitTests {
    /// The original String-index splitter: dot count capped at five, first two dot offsets.
    static func reference(_ token: [UInt8]) -> (dots: Int, d1: Int, d2: Int) {
        var dots: [Int] = []
        for (i, b) in token.enumerated() where b == UInt8(ascii: ".") {
            dots.append(i)
            if dots.count > 4 { break }
        }
        return (dots.count, dots.first ?? 0, dots.count > 1 ? dots[1] : 0)
    }

    static func split(_ token: [UInt8], allowEmptyPayload: Bool = false) -> Result<(Int, Int), JWTError> {
        token.withUnsafeBufferPointer { buf in
            do throws(JWTError) { return .success(try CompactJWS.split(buf, maxBytes: 8192, allowEmptyPayload: allowEmptyPayload)) } catch { return .failure(error) }
        }
    }

    @Test("one to seven dots anywhere in tokens of 1...40 bytes")
    func dotsEverywhere() {
        var rng = UInt64(12345)
        for length in 1...40 {
            for _ in 0..<200 {
                var token = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                rng = rng &* 6364136223846793005 &+ 1442695040888963407
                let dots = Int(rng >> 61)  // 0...7
                for k in 0..<dots {
                    token[Int((rng >> UInt64(8 * k)) & 0xFF) % length] = UInt8(ascii: ".")
                }
                let (n, d1, d2) = Self.reference(token)
                let emptyHeader = n >= 1 && d1 == 0
                let emptyPayload = n >= 2 && d1 + 1 == d2
                let emptySignature = n >= 2 && d2 + 1 == length
                let expected: Result<(Int, Int), JWTError>
                if n == 4 {
                    expected = .failure(.malformed(.encrypted))
                } else if n != 2 {
                    expected = .failure(.malformed(.notCompact(segments: n + 1)))
                } else if emptyHeader || emptyPayload || emptySignature {
                    expected = .failure(.malformed(.notCompact(segments: [emptyHeader, emptyPayload, emptySignature].filter { !$0 }.count)))
                } else {
                    expected = .success((d1, d2))
                }
                switch (Self.split(token), expected) {
                case let (.success(got), .success(want)): #expect(got == want, "\(String(decoding: token, as: UTF8.self))")
                case let (.failure(got), .failure(want)): #expect(got == want, "\(String(decoding: token, as: UTF8.self))")
                case let (got, want): Issue.record("\(String(decoding: token, as: UTF8.self)): \(got) vs \(want)")
                }
            }
        }
    }

    @Test(arguments: [
        ("a.b.c.d.e.f", JWTError.malformed(.notCompact(segments: 6))),
        ("a.b.c.d.e.f.g.h.i.j", .malformed(.notCompact(segments: 6))),
        ("aaaaaaaaaaaaaaaaaaaa.b.c.d.eeeeeeeeeeeeeeeee", .malformed(.encrypted)),
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaa", .malformed(.notCompact(segments: 1))),
        ("aaaaaaa.bbbbbbbb.", .malformed(.notCompact(segments: 2))),
        (".aaaaaaaaaaaaaaaa.b", .malformed(.notCompact(segments: 2))),
        ("aaaaaaaaaaaaaaaa..b", .malformed(.notCompact(segments: 2))),
        ("..", .malformed(.notCompact(segments: 0))),
    ])
    func segmentCounts(token: String, error: JWTError) {
        #expect(Self.split(Array(token.utf8)).failure == error)
        #expect(JWTVerifier.verify(token, requirements: FailureReasonTests.req, keys: Fixture.operatorKeys, now: FailureReasonTests.now).failure == error)
    }

    @Test func emptyPayloadAllowedForCompactJWS() {
        #expect(Self.split(Array("aaaaaaaaaa..b".utf8), allowEmptyPayload: true).success.map { [$0.0, $0.1] } == [10, 11])
    }

    @Test("the size limit is checked before anything else")
    func sizeFirst() {
        let token = String(repeating: ".", count: 9000)
        #expect(Self.split(Array(token.utf8)).failure == .tokenTooLarge(size: 9000, limit: 8192))
    }

    @Test("segment indices address the token's own characters, also after multi-byte characters")
    func payloadSegment() throws {
        let token = FailureReasonTests.hs()
        let jwt = try UnverifiedJWT.parse(token)
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        #expect(jwt.payloadSegment == parts[1])
        #expect(String(jwt.jws!.signingInput)! == parts[0] + "." + parts[1])
        // A non-ASCII byte in the header is not base64url: rejected with the header reason.
        #expect(throws: JWTError.malformed(.headerBase64)) { try UnverifiedJWT.parse("é" + token) }
    }
}

extension Result {
    var success: Success? { if case .success(let s) = self { return s } else { return nil } }
}
