internal import CWardenShims

/// An X.509 certificate as the mTLS peer of a request (`warden explain --peer-certificate`).
public enum PeerCertificate {
    /// The identity Envoy's ext_authz puts in `source.principal` for this certificate (PEM): its first
    /// URI SAN (a SPIFFE id under Istio), else its first DNS SAN, else its subject (RFC 2253).
    /// - Throws: `CryptoError` when the text holds no readable certificate.
    public static func principal(pem: String) throws(CryptoError) -> String {
        OpenSSLErrorQueue.clear()
        var out = [CChar](repeating: 0, count: 4096)
        var pem = pem
        let written = pem.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { warden_x509_peer_identity($0.baseAddress, $0.count, &out, out.count) }
        }
        guard written >= 0 else { throw OpenSSLErrorQueue.error("reading the peer certificate") }
        return String(decoding: out.prefix(Int(written)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
