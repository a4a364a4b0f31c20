import Foundation
import Testing
import WardenAuthz
import WardenJSON
import WardenJWT
import WardenPolicy

/// Two self-signed P-256 client certificates and their `x5t#S256` (computed with
/// `openssl x509 -outform DER | openssl dgst -sha256 -binary | base64url`).
let clientA = """
-----BEGIN CERTIFICATE-----
MIIBezCCASGgAwIBAgIUKI8m7XNhGhR9YeGqB4u4isTfiIAwCgYIKoZIzj0EAwIw
EzERMA8GA1UEAwwIY2xpZW50LWEwHhcNMjYxMjA0MjExMDEyWhcNMzYxMjAxMjEx
MDEyWjATMREwDwYDVQQDDAhjbGllbnQtYTBZMBMGByqGSM49AgEGCCqGSM49AwEH
A0IABHcPoCN43kXDldrRD6u9kMWCtjZmmG4MZtuRx+CE6URGupw6vicEM3NNI/WO
BZDzusIO9hXAtrNoLV+YfE0jhv+jUzBRMB0GA1UdDgQWBBRxEbeCtvn2d8Mha//M
Y6a7Uu0X6TAfBgNVHSMEGDAWgBRxEbeCtvn2d8Mha//MY6a7Uu0X6TAPBgNVHRMB
Af8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIDoGwlF9RcUv9wr7qWnrSrPpwfQU
qs3u49NauIVLlaZXAiEAjiGZi1vQZ/T1odZ6BX0/WYvkkl51saZq3LMsV54oNIs=
-----END CERTIFICATE-----
"""
let clientAThumbprint = "RmXVtlBCa5W0d4WM6PivJj7ODBF52OiLwZBQJyUkwoc"
let clientB = """
-----BEGIN CERTIFICATE-----
MIIBfDCCASGgAwIBAgIUEF92NyL6VLnWb4Z/e811o/qgSjcwCgYIKoZIzj0EAwIw
EzERMA8GA1UEAwwIY2xpZW50LWIwHhcNMjYxMjA0MjExMDEyWhcNMzYxMjAxMjEx
MDEyWjATMREwDwYDVQQDDAhjbGllbnQtYjBZMBMGByqGSM49AgEGCCqGSM49AwEH
A0IABOTIjJne4hBJy9iBwENZtvK2Ks+xMS0fDadH1gbgGKR1H64PwLldeaoU0BSo
epXs1QgKOfaiEkqOnfL1HJDo8OyjUzBRMB0GA1UdDgQWBBQ7I7YjHVeGDv/7alCA
huj4VxU9qDAfBgNVHSMEGDAWgBQ7I7YjHVeGDv/7alCAhuj4VxU9qDAPBgNVHRMB
Af8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQDz7Zadb4gMULN+4n/GbOhtvk0c
BWHVgD2NOCer4ZdM3AIhAMd+BSIhiXlVL8CUVEbW32Oa2gvdVr9sEB7BbgCu/DCr
-----END CERTIFICATE-----
"""

/// Envoy's `source.certificate`: the PEM, URL-encoded.
func urlEncoded(_ pem: String) -> String {
    pem.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~")))!
}

/// Sender-constrained tokens (RFC 8705 §3, RFC 9449 §7.1): the proof of possession is checked on every
/// request, the token cache's answer included.
@Suite("Token binding (cnf)")
struct TokenBindingTests {
    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var cnf: JSONValue?
        var certificate: String
        var status: Int
        var reason: ReasonCode
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(name: "plain bearer token, no certificate", cnf: nil, certificate: "", status: 200, reason: .allowed),
        Row(name: "bound, the bound certificate (URL-encoded PEM, as Envoy sends it)",
            cnf: .object(["x5t#S256": .string(clientAThumbprint)]), certificate: urlEncoded(clientA), status: 200, reason: .allowed),
        Row(name: "bound, the bound certificate as plain PEM",
            cnf: .object(["x5t#S256": .string(clientAThumbprint)]), certificate: clientA, status: 200, reason: .allowed),
        Row(name: "bound, no certificate", cnf: .object(["x5t#S256": .string(clientAThumbprint)]), certificate: "",
            status: 401, reason: .jwtCertificateBinding),
        Row(name: "bound, another certificate", cnf: .object(["x5t#S256": .string(clientAThumbprint)]),
            certificate: urlEncoded(clientB), status: 401, reason: .jwtCertificateBinding),
        Row(name: "bound, garbage instead of a certificate", cnf: .object(["x5t#S256": .string(clientAThumbprint)]),
            certificate: "not-a-pem", status: 401, reason: .jwtCertificateBinding),
        Row(name: "DPoP-bound, presented as Bearer", cnf: .object(["jkt": .string("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")]),
            certificate: urlEncoded(clientA), status: 401, reason: .jwtDPoPBoundAsBearer),
        Row(name: "unknown confirmation method", cnf: .object(["jwk": .object(["kty": .string("EC")])]),
            certificate: urlEncoded(clientA), status: 401, reason: .jwtUnsupportedConfirmation),
        Row(name: "cnf that is not an object", cnf: .string("x"), certificate: urlEncoded(clientA), status: 401,
            reason: .jwtUnsupportedConfirmation),
    ]

    @Test(arguments: rows)
    func binding(_ row: Row) throws {
        let service = pipeline(try policies(), tokenCache: (100, 1 << 20))
        let t = token(row.cnf.map { ["cnf": $0] } ?? [:])
        // Twice: the second answer comes from the token cache and must check the binding again.
        for _ in 0..<2 {
            var r = request(headers: ["authorization": "Bearer \(t)"])
            r.sourceCertificate = row.certificate
            let result = service.decide(r)
            #expect(result.decision.httpStatus == row.status)
            #expect(result.reasonCode == row.reason)
            if row.status == 401 {
                #expect(result.decision.deny?.headers.contains { $0.name == "www-authenticate" && $0.value.contains("error=\"invalid_token\"") } == true)
            }
        }
    }

    @Test func aCachedBoundTokenFromAnotherClientIsRejected() throws {
        let service = pipeline(try policies(), tokenCache: (100, 1 << 20))
        let t = token(["cnf": .object(["x5t#S256": .string(clientAThumbprint)])])
        var owner = request(headers: ["authorization": "Bearer \(t)"])
        owner.sourceCertificate = urlEncoded(clientA)
        #expect(service.decide(owner).decision.isAllowed)
        var thief = owner
        thief.sourceCertificate = urlEncoded(clientB)
        let stolen = service.decide(thief)
        #expect(stolen.decision.httpStatus == 401)
        #expect(stolen.decision.deny?.body == "Jwt is bound to another client certificate")
        #expect(stolen.record.reason.contains("RFC 8705"))
        #expect(service.decide(owner).decision.isAllowed)
    }

    @Test func thumbprintOfPEMAndURLEncodedPEM() {
        #expect(Confirmation.certificateThumbprint(pem: clientA) == clientAThumbprint)
        #expect(Confirmation.certificateThumbprint(pem: urlEncoded(clientA)) == clientAThumbprint)
        #expect(Confirmation.certificateThumbprint(pem: clientB) != clientAThumbprint)
        #expect(Confirmation.certificateThumbprint(pem: "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----") == nil)
        #expect(Confirmation.certificateThumbprint(pem: "") == nil)
    }
}
