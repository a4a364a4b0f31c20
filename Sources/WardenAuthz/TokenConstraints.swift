import WardenJSON
import WardenJWT
import WardenPolicy

/// The TokenPolicy rules in scope for one issuer, merged so every rule holds: a token's `typ` must be in
/// each rule's list, its lifetime under the smallest maximum, every required claim present (with an allowed
/// value), `sub` matching every `subjects`, and a `cnf` when any rule wants sender-constrained tokens.
/// Checked on every request after the claims Envoy checks (a cached token too: the policy may have changed).
struct TokenConstraints: Sendable {
    let typ: [[String]]
    let maxLifetime: Double?
    let requiredClaims: [RequiredClaim]
    let subjects: [SubjectMatcher]
    let senderConstrained: Bool

    /// nil when no rule applies.
    init?(rules: [TokenRule]) {
        guard !rules.isEmpty else { return nil }
        typ = rules.map(\.typ).filter { !$0.isEmpty }
        maxLifetime = rules.compactMap { $0.maxLifetime.map(Self.seconds) }.min()
        requiredClaims = rules.flatMap(\.requiredClaims)
        subjects = rules.compactMap(\.subjects)
        senderConstrained = rules.contains(where: \.senderConstrained)
    }

    /// `typ`, then required claims, then `subjects` (the lifetime is in the provider's requirements).
    func check(_ jwt: UnverifiedJWT) throws(JWTError) {
        // `typ` is a JOSE header; an introspected opaque token has none (RFC 9068 profiles JWTs only).
        for allowed in typ where jwt.introspectedBy == nil && !allowed.contains(where: { Self.sameMediaType($0, jwt.header.typ) }) {
            throw .typeNotAllowed(got: jwt.header.typ, allowed: allowed)
        }
        for claim in requiredClaims {
            guard let value = Self.claim(claim.name, in: jwt.claims) else {
                throw .requiredClaim(name: claim.name, present: false, values: claim.values)
            }
            if !claim.values.isEmpty && !Self.matches(value, claim.values) {
                throw .requiredClaim(name: claim.name, present: true, values: claim.values)
            }
        }
        for matcher in subjects where !(jwt.subject.map(matcher.matches) ?? false) {
            throw .subjectNotAllowed(jwt.subject)
        }
    }

    /// RFC 7515 §4.1.9: `typ` is a media type, case-insensitive, `application/` may be omitted.
    /// ASCII case-insensitive (RFC 9110 §8.3.1), never Unicode case folding.
    static func sameMediaType(_ a: String, _ b: String?) -> Bool {
        guard let b else { return false }
        func normal(_ s: String) -> Substring {
            s.bytesHavePrefixIgnoringASCIICase("application/") ? Substring(s.utf8.dropFirst(12)) : Substring(s)
        }
        return normal(a).bytesEqualIgnoringASCIICase(normal(b))
    }

    /// The claim at a dotted path (`a.b`: member `b` of object `a`); a member named with the dot wins.
    static func claim(_ name: String, in claims: [String: JSONValue]) -> JSONValue? {
        if let direct = claims.exactValue(forKey: name), direct != .null { return direct }
        var current: JSONValue = .object(claims)
        for part in name.split(separator: ".", omittingEmptySubsequences: false) {
            guard case .object(let members) = current, let next = members.exactValue(forKey: String(part)) else { return nil }
            current = next
        }
        return current == .null ? nil : current
    }

    /// A string, number or boolean equal (by bytes, numbers and booleans by their JSON text) to one of
    /// `values`; a list when one element is.
    static func matches(_ value: JSONValue, _ values: [String]) -> Bool {
        switch value {
        case .string(let s): return values.contains { $0.bytesEqual(s) }
        case .bool(let b): return values.contains(b ? "true" : "false")
        case .number: return values.contains(value.serialized)
        case .array(let items): return items.contains { matches($0, values) }
        case .null, .object: return false
        }
    }

    private static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
