import WardenJWT
import WardenPolicy

/// Proof of possession for sender-constrained tokens (a `cnf` claim), checked on every request — a token
/// the cache answered for too, since the proof belongs to the connection, not the token.
///
/// - `x5t#S256` (RFC 8705 §3): the request's client certificate (Envoy's `source.certificate`) must have
///   that SHA-256 thumbprint; no certificate or another one is a 401 `invalid_token`. This holds whenever
///   the claim is present: a resource server that understands `cnf` must check it.
/// - `jkt` (RFC 9449): a token presented with the DPoP scheme needs a valid proof whose key is `cnf.jkt`
///   (`DPoPVerifier`); a DPoP-bound token presented as a bearer token is rejected (§7.1).
/// - Every member of `cnf` must hold: `x5t#S256` is checked whatever the scheme (a DPoP token bound to a
///   certificate too needs both), and a member Warden cannot check (`jwk`, `kid`, …, or a known one that is
///   not a string) rejects the token — never taken as a bearer token.
enum TokenBinding {
    /// Rejects the first verified token (in check order: the last extracted first) whose binding does not
    /// hold; sets `rejected` to its index. `replayVerdict`: the DPoP proof's replay verdict, asked of the
    /// store when nil (`DPoPVerifier.failure`).
    static func check(_ traces: inout [TokenTrace], rejected: inout Int?, tokens: [ExtractedToken], request: RequestAttributes,
                      now: Double, dpop: DPoPVerifier, freshNonce: inout String?, replayVerdict: inout ReplayVerdict?) {
        var thumbprint: String??  // computed once, only for a certificate-bound token
        for index in traces.indices.reversed() {
            guard let verified = traces[index].verified else { continue }
            let cnf = verified.confirmation
            if traces[index].location == .dpopAuthorization {
                // RFC 9449 §7.1: the DPoP scheme; the proof must hold and bind this token (cnf.jkt).
                if let e = dpop.failure(token: tokens[index].token, boundKey: cnf?.dpopKeyThumbprint, request: request, now: now,
                                          freshNonce: &freshNonce, replayVerdict: &replayVerdict) {
                    reject(&traces, index, .dpop(e), &rejected)
                    return
                }
            } else if cnf == nil {
                // A plain bearer token: fine, unless the issuer's TokenPolicy requires a bound one.
                guard traces[index].provider?.constraints?.senderConstrained == true else { continue }
                reject(&traces, index, .required, &rejected)
                return
            } else if cnf?.dpopKeyThumbprint != nil {
                reject(&traces, index, .dpopAsBearer, &rejected)
                return
            }
            guard let cnf else { continue }
            // Every member must hold: one Warden cannot check is a key it cannot confirm (fail closed).
            if !cnf.otherMembers.isEmpty {
                reject(&traces, index, .unsupported(cnf.otherMembers), &rejected)
                return
            }
            guard let expected = cnf.certificateThumbprint else { continue }
            if thumbprint == nil {
                let certificate = request.sourceCertificate
                thumbprint = .some(certificate.isEmpty ? nil : Confirmation.certificateThumbprint(pem: certificate))
            }
            let failure: BindingFailure?
            if let actual = thumbprint! {
                failure = actual.bytesEqual(expected) ? nil : .certificateMismatch(expected: expected, actual: actual)
            } else {
                failure = .noCertificate
            }
            guard let failure else { continue }
            reject(&traces, index, failure, &rejected)
            return
        }
    }

    private static func reject(_ traces: inout [TokenTrace], _ index: Int, _ failure: BindingFailure, _ rejected: inout Int?) {
        let t = traces[index]
        traces[index] = TokenTrace(location: t.location, byteCount: t.byteCount, jwt: t.jwt, provider: t.provider, keys: t.keys,
                                   outcome: .rejected(.bindingFailed(failure)))
        rejected = index
    }
}
