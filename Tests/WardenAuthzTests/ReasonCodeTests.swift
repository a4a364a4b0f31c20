import Foundation
import Testing
import WardenAuthz
import WardenJWT
import WardenPolicy

/// The reason codes are one enum: the metric label, the log field and the README's table come from it.
@Suite struct ReasonCodeTests {
    static let readme: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return (try? String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)) ?? ""
    }()

    @Test func labelsAreDistinctSnakeCase() {
        let labels = ReasonCode.allCases.map(\.rawValue)
        #expect(Set(labels).count == labels.count)
        #expect(labels.allSatisfy { $0.allSatisfy { $0.isLowercase || $0 == "_" } })
        #expect(ReasonCode.allCases.enumerated().allSatisfy { $0.offset == $0.element.index })
    }

    /// Every code is documented in the README, and the README names no code the enum lacks.
    @Test func readmeListsExactlyTheCodes() throws {
        try #require(!Self.readme.isEmpty, "README.md not found")
        for code in ReasonCode.allCases {
            let documented = Self.readme.contains("`\(code.rawValue)`")
            #expect(documented, "README lacks `\(code.rawValue)`")
        }
        // Envoy's own identifiers that start the same way are not reason codes.
        let known = Set(ReasonCode.allCases.map(\.rawValue) + ["jwt_authn", "jwt_payload", "jwt_cache_config", "jwt_cache_size"])
        let pattern = try Regex("`(jwt_[a-z_]+)`")
        for match in Self.readme.matches(of: pattern) {
            let name = String(Self.readme[match.range].dropFirst().dropLast())
            let produced = known.contains(name)
            #expect(produced, "README names `\(name)`, which no check produces")
        }
    }

    /// Each JWT error a check can meet maps to a `jwt_` code with the same status class.
    @Test(arguments: [JWTError.malformed(.headerJSON("x")), .tokenTooLarge(size: 9, limit: 8), .unsupportedAlgorithm("none"),
                      .issuerNotConfigured("x"), .issuerMismatch(expected: "a", actual: "b"), .expired(exp: 0, now: 1),
                      .notYetValid(nbf: 1, now: 0), .missingExpiration, .lifetimeTooLong(lifetime: nil, limit: 1),
                      .audienceMismatch(got: [], allowed: ["a"]), .jwksUnavailable("x"), .unknownKid(nil), .badSignature,
                      .lenientEncoding, .mixedIssuers(location: "cookie session", issuer: "b", rule: "a")])
    func jwtErrorsMapToJWTCodes(_ error: JWTError) {
        #expect(error.reasonCode.rawValue.hasPrefix("jwt_"))
        #expect(!error.reasonCode.isAllowed)
    }
}
