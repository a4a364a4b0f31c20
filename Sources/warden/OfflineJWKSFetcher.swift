import WardenJSON
import WardenIntrospection
import WardenJWKS

/// The key fetcher `warden explain` uses without `--fetch`: every JWKS URL answers with the `--jwks`
/// file (and every discovery URL with a document pointing at it), or, without a file, fails as offline.
struct OfflineJWKSFetcher: JWKSFetcher {
    static let discoverySuffix = "/.well-known/openid-configuration"
    static let offlineJWKSURL = "http://warden-explain.invalid/jwks.json"
    let jwks: [UInt8]?

    func get(_ request: FetchRequest) throws(FetchError) -> FetchedDocument {
        guard let jwks else {
            throw .couldNotConnect("explain works offline; pass --jwks FILE (the issuer's JWKS) or --fetch")
        }
        if request.url.hasSuffix(Self.discoverySuffix) {
            let issuer = String(request.url.dropLast(Self.discoverySuffix.count))
            let doc = JSONValue.object(["issuer": .string(issuer), "jwks_uri": .string(Self.offlineJWKSURL)])
            return FetchedDocument(status: 200, body: Array(doc.serialized.utf8))
        }
        return FetchedDocument(status: 200, body: jwks)
    }
}

/// Without `--fetch`, `warden explain` does not ask introspection endpoints either: an opaque token is
/// explained as far as "introspection failed (offline)".
struct OfflineIntrospection: IntrospectionTransport {
    func post(_ request: FetchRequest, form: [UInt8], headers: [String]) throws(FetchError) -> FetchedDocument {
        throw .couldNotConnect("explain works offline; pass --fetch to ask the introspection endpoint")
    }
}
