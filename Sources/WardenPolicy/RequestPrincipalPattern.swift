import WardenJSON

/// A compiled `requestPrincipals` / `request.auth.principal` value, as istiod compiles it
/// (`pilot/pkg/security/authz/model/generator.go`, `requestPrincipalGenerator.extendedPrincipal`):
/// the value is split at its **last** `/` into an issuer and a subject pattern, each matched against
/// the token's `iss` and `sub` claims separately (both must be present strings):
///
/// | value | `iss` | `sub` |
/// |---|---|---|
/// | `*` | any non-empty | any non-empty |
/// | `*/alice`, `*example.com/alice` | any non-empty / suffix `example.com` | exactly `alice` |
/// | `*alice` (no `/`) | any non-empty | suffix `alice` |
/// | `https://idp/*`, `https://idp/al*` | exactly `https://idp` | any non-empty / prefix `al` |
/// | `idp*` (no `/`) | prefix `idp` | any non-empty |
/// | `https://idp/alice` | exactly `https://idp` | exactly `alice` |
///
/// So `https://idp/*` does not match a token from issuer `https://idp/tenant` (whose `iss/sub` text
/// starts with `https://idp/`), nor a token without `sub`.
public struct RequestPrincipalPattern: Sendable, Hashable, CustomStringConvertible {
    public let issuer: StringPattern
    public let subject: StringPattern
    /// The value as written in the policy.
    public let description: String

    public init(_ text: String) {
        description = text
        // Byte-wise, as istiod's `strings.LastIndex` / `HasPrefix` / `HasSuffix`: a combining mark after
        // the `/` or `*` must not hide it.
        let utf8 = text.utf8
        let slash = utf8.lastIndex(of: UInt8(ascii: "/"))
        let iss = slash.map { String(decoding: utf8[..<$0], as: UTF8.self) } ?? text
        let sub = slash.map { String(decoding: utf8[utf8.index(after: $0)...], as: UTF8.self) } ?? ""
        func dropFirst(_ s: String) -> String { String(decoding: s.utf8.dropFirst(), as: UTF8.self) }
        func dropLast(_ s: String) -> String { String(decoding: s.utf8.dropLast(), as: UTF8.self) }
        let star = UInt8(ascii: "*")
        if text.bytesEqual("*") {
            (issuer, subject) = (.presence, .presence)
        } else if utf8.first == star {
            if slash != nil {
                issuer = iss.bytesEqual("*") ? .presence : .suffix(dropFirst(iss))
                subject = .exact(sub)
            } else {
                (issuer, subject) = (.presence, .suffix(dropFirst(text)))
            }
        } else if utf8.last == star {
            if slash != nil {
                issuer = .exact(iss)
                subject = sub.bytesEqual("*") ? .presence : .prefix(dropLast(sub))
            } else {
                (issuer, subject) = (.prefix(dropLast(text)), .presence)
            }
        } else {
            (issuer, subject) = (.exact(iss), .exact(sub))
        }
    }

    /// Whether a token with these `iss` and `sub` claims (nil when absent or not a string) matches.
    public func matches(issuer iss: String?, subject sub: String?) -> Bool {
        guard let iss, let sub else { return false }
        return issuer.matches(iss) && subject.matches(sub)
    }
}
