import Foundation
import WardenCrypto

/// Client authentication at an OAuth endpoint (RFC 6749 §2.3.1, RFC 7523 §2.2): the form members and
/// headers `endpoint.clientAuth` asks for, appended to a request's.
enum ClientCredentials {
    /// - Parameter url: the endpoint's URL (discovered or configured): a client assertion's audience.
    static func apply(_ endpoint: IntrospectionEndpoint, url: String, form: inout String, headers: inout [String], now: Double) throws(IntrospectionError) {
        switch endpoint.clientAuth {
        case .basic, .post:
            guard let secret = endpoint.clientSecret else { throw .secret(endpoint.secretError ?? "no client secret") }
            if endpoint.clientAuth == .basic {
                let credentials = FormEncoding.encode(endpoint.clientID) + ":" + FormEncoding.encode(secret)
                headers.append("Authorization: Basic " + Data(credentials.utf8).base64EncodedString())
            } else {
                form += "&client_id=\(FormEncoding.encode(endpoint.clientID))&client_secret=\(FormEncoding.encode(secret))"
            }
        case .privateKeyJWT(let key, let alg):
            let assertion: String
            do throws(CryptoError) {
                assertion = try ClientAssertion.make(clientID: endpoint.clientID, audience: url, key: key, algorithm: alg, now: now)
            } catch {
                throw .secret("cannot sign the client assertion: \(error)")
            }
            form += "&client_id=\(FormEncoding.encode(endpoint.clientID))"
                + "&client_assertion_type=\(FormEncoding.encode(ClientAssertion.type))&client_assertion=\(assertion)"
        }
    }
}
