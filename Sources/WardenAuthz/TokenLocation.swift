import WardenJSON
import WardenPolicy

/// Where a JWT may be carried, as Envoy's jwt_authn extractor knows it.
public enum TokenLocation: Sendable, Hashable, CustomStringConvertible {
    /// A header (lower-case name) whose value contains `prefix` (case-sensitive) before the token;
    /// an empty prefix takes the whole value.
    case header(name: String, prefix: String)
    case queryParameter(String)
    case cookie(String)

    /// `Authorization: Bearer <token>` and `?access_token=`: used when a rule names no location.
    public static let defaults: [TokenLocation] = [.header(name: "authorization", prefix: "Bearer "), .queryParameter("access_token")]
    /// `Authorization: Bearer …`, Istio's default header location.
    public static let bearerAuthorization = TokenLocation.header(name: "authorization", prefix: "Bearer ")
    /// `Authorization: DPoP …` (RFC 9449 §7.1): read wherever `Authorization: Bearer` is, for the same issuers.
    public static let dpopAuthorization = TokenLocation.header(name: "authorization", prefix: "DPoP ")

    /// Equal only with the same bytes (as Envoy's extractor compares names and prefixes): two rules naming
    /// canonically equivalent but different cookies name two locations.
    public static func == (a: TokenLocation, b: TokenLocation) -> Bool {
        switch (a, b) {
        case (.header(let n1, let p1), .header(let n2, let p2)): return n1.bytesEqual(n2) && p1.bytesEqual(p2)
        case (.queryParameter(let x), .queryParameter(let y)), (.cookie(let x), .cookie(let y)): return x.bytesEqual(y)
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .header(let name, let prefix):
            hasher.combine(0)
            hasher.combine(ExactKey(name))
            hasher.combine(ExactKey(prefix))
        case .queryParameter(let p):
            hasher.combine(1)
            hasher.combine(ExactKey(p))
        case .cookie(let c):
            hasher.combine(2)
            hasher.combine(ExactKey(c))
        }
    }

    public var description: String {
        switch self {
        case .header(let name, let prefix): return prefix.isEmpty ? "header \(name)" : "header \(name) (prefix \"\(prefix)\")"
        case .queryParameter(let p): return "query parameter \(p)"
        case .cookie(let c): return "cookie \(c)"
        }
    }
}

/// A token found in a request, with the location it came from.
public struct ExtractedToken: Sendable, Equatable {
    public var token: String
    public var location: TokenLocation
    /// The location carries two or more different tokens (`session=A; session=B`,
    /// `?access_token=A&access_token=B`): applications disagree on which one wins, so it is rejected.
    public var ambiguous = false

    public init(token: String, location: TokenLocation, ambiguous: Bool = false) {
        self.token = token
        self.location = location
        self.ambiguous = ambiguous
    }
}
