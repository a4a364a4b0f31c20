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
        let slash = text.lastIndex(of: "/")
        let iss = slash.map { String(text[..<$0]) } ?? text
        let sub = slash.map { String(text[text.index(after: $0)...]) } ?? ""
        if text == "*" {
            (issuer, subject) = (.presence, .presence)
        } else if text.hasPrefix("*") {
            if slash != nil {
                issuer = iss == "*" ? .presence : .suffix(String(iss.dropFirst()))
                subject = .exact(sub)
            } else {
                (issuer, subject) = (.presence, .suffix(String(text.dropFirst())))
            }
        } else if text.hasSuffix("*") {
            if slash != nil {
                issuer = .exact(iss)
                subject = sub == "*" ? .presence : .prefix(String(sub.dropLast()))
            } else {
                (issuer, subject) = (.prefix(String(text.dropLast())), .presence)
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
