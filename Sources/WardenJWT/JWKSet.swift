import WardenCrypto
import WardenJSON

// API CONTRACT (owned by the JWT work; WardenJWKS codes against these signatures):
//   JWKSet.parse(_ bytes: [UInt8]) throws(JWTError) -> JWKSet
//   JWKSet.keys: [JWK], JWKSet.skipped: [String], JWKSet.kids: Set<String>
//   JWK.kid: String?, JWK.kty: String, JWK.alg: String?

/// A parsed JWKS document: the usable keys and, for every key that was left out, why.
///
/// Unusable keys never fail the whole set; they are skipped with a reason (log them). Skipped:
/// unknown `kty`; `use` other than `sig`; `key_ops` without `verify`; an `alg` that is unknown or does not
/// fit the key type/curve; private key material; RSA moduli under `minimumRSABits` (default 2048, as
/// Wycheproof and NIST require; Envoy would take 1024) or over `maximumRSABits` (default 8192, bounds
/// verify cost); RSA exponents that are even or 1; moduli with the ROCA fingerprint (CVE-2017-15361);
/// EC points off the curve or coordinates not exactly the curve size; OKP curves other than Ed25519;
/// `oct` keys unless the set is operator-configured (`allowSymmetric`), empty, shorter than their
/// declared HS* digest, or mixed into a set that also holds public keys; keys sharing a `kid` with
/// different material (ambiguous).
public struct JWKSet: Sendable {
    /// Parsing options.
    public struct Options: Sendable, Equatable {
        /// Accept `kty: oct` (HMAC) keys. Only for operator-configured sets (inline or file),
        /// never for a remote `jwks_uri`: a public JWKS must never yield HMAC keys.
        public var allowSymmetric: Bool
        public var minimumRSABits: Int
        public var maximumRSABits: Int
        /// Bounds for the JSON document.
        public var jsonLimits: JSONLimits

        public init(allowSymmetric: Bool = false, minimumRSABits: Int = 2048, maximumRSABits: Int = 8192,
                    jsonLimits: JSONLimits = JSONLimits(maxDepth: 8, maxBytes: 1 << 20)) {
            self.allowSymmetric = allowSymmetric
            self.minimumRSABits = minimumRSABits
            self.maximumRSABits = maximumRSABits
            self.jsonLimits = jsonLimits
        }
    }

    public let keys: [JWK]
    public let skipped: [String]
    /// Fingerprints of `keys`, for the verified-token cache.
    public let fingerprints: Set<KeyFingerprint>

    public var kids: Set<String> { Set(keys.compactMap(\.kid)) }

    /// A set built from keys the operator supplied directly (PEM files, inline secrets).
    public init(keys: [JWK], skipped: [String] = []) {
        self.keys = keys
        self.skipped = skipped
        self.fingerprints = Set(keys.map(\.fingerprint))
    }

    /// Parses a remote JWKS document (`{"keys":[…]}`); symmetric keys are skipped.
    ///
    /// - Throws: `.malformedJWKS` when the document is not JSON or has no `keys` array.
    public static func parse(_ bytes: [UInt8]) throws(JWTError) -> JWKSet {
        try parse(bytes, options: Options())
    }

    /// Parses a JWKS; `allowSymmetric` only for operator-configured (inline/file) sets.
    public static func parse(_ bytes: [UInt8], allowSymmetric: Bool) throws(JWTError) -> JWKSet {
        try parse(bytes, options: Options(allowSymmetric: allowSymmetric))
    }

    /// Parses a JWKS with explicit options.
    ///
    /// The formats Envoy's jwt_verify_lib reads are accepted too: PEM public keys (`-----BEGIN PUBLIC KEY-----`
    /// blocks, keys without kid), an object mapping kids to X.509 certificates in PEM (the format Google
    /// publishes at …/oauth2/v1/certs: each certificate is only a container for its key), and SPIFFE
    /// bundles (keys with `use: "jwt-svid"` verify JWT-SVIDs; `x509-svid` keys are skipped).
    public static func parse(_ bytes: [UInt8], options: Options) throws(JWTError) -> JWKSet {
        if !bytes.contains(UInt8(ascii: "{")), let text = String(validating: bytes, as: UTF8.self), text.contains("-----BEGIN PUBLIC KEY-----") {
            return try parsePEM(text, options: options)
        }
        let doc: JSONValue
        do { doc = try JSONParser.parse(bytes, limits: options.jsonLimits) } catch { throw .malformedJWKS("not JSON: \(error.description)") }
        guard case .object(let members) = doc else { throw .malformedJWKS("the document is not a JSON object") }
        guard let entry = doc["keys"] else {
            if !members.isEmpty, members.values.allSatisfy({ $0.stringValue?.contains("-----BEGIN CERTIFICATE-----") == true }) {
                return try parseX509Map(members, options: options)
            }
            throw .malformedJWKS("no \"keys\" member")
        }
        guard let list = entry.arrayValue else { throw .malformedJWKS("\"keys\" is not an array") }

        var parsed: [(index: Int, key: JWK)] = []
        var skipped: [String] = []
        var sawAsymmetric = false
        for (i, value) in list.enumerated() {
            switch JWKParser.parse(value, options: options) {
            case .success(let key):
                parsed.append((i, key))
                if !key.isSymmetric { sawAsymmetric = true }
            case .failure(let why):
                skipped.append("key \(i)\(label(value)): \(why.reason)")
                if let kty = value["kty"]?.stringValue, kty != "oct" { sawAsymmetric = true }
            }
        }
        // A set mixing HMAC secrets with public keys is almost certainly a public JWKS pasted next to
        // a secret; using the secret would let anyone who knows the public set's layout confuse algorithms.
        if sawAsymmetric && parsed.contains(where: { $0.key.isSymmetric }) {
            for p in parsed where p.key.isSymmetric {
                skipped.append("key \(p.index)\(label(list[p.index])): symmetric key in a set that also holds public keys (mixed key set)")
            }
            parsed.removeAll { $0.key.isSymmetric }
        }
        // The same kid for different material is ambiguous: drop all of them. Exact duplicates collapse.
        // Entries meant for signing (no `use` or `use: sig`) that name a kid, usable or not: a usable key
        // whose kid is also claimed by an entry Warden could not parse is just as ambiguous.
        var declared: [String: Int] = [:]
        for value in list where value["use"] == nil || value["use"] == .string("sig") {
            if let kid = value["kid"]?.stringValue { declared[kid, default: 0] += 1 }
        }
        var byKid: [String: [Int]] = [:]
        for (n, p) in parsed.enumerated() { if let kid = p.key.kid { byKid[kid, default: []].append(n) } }
        var drop = Set<Int>()
        for (kid, idx) in byKid where idx.count > 1 || declared[kid, default: 0] > idx.count {
            let distinct = Set(idx.map { parsed[$0].key.fingerprint })
            if distinct.count > 1 || declared[kid, default: 0] > idx.count {
                for n in idx {
                    drop.insert(n)
                    skipped.append("key \(parsed[n].index) (kid \(JWTError.quote(kid))): another key has the same kid (ambiguous)")
                }
            } else {
                for n in idx.dropFirst() { drop.insert(n) }
            }
        }
        let keys = parsed.enumerated().filter { !drop.contains($0.offset) }.map(\.element.key)
        return JWKSet(keys: keys, skipped: skipped)
    }

    /// `-----BEGIN PUBLIC KEY-----` blocks, in order; keys have no kid (a token's kid then selects none,
    /// and a token without kid is tried against each), as Envoy's PEM JWKS.
    static func parsePEM(_ text: String, options: Options) throws(JWTError) -> JWKSet {
        var keys: [JWK] = []
        var skipped: [String] = []
        let end = "-----END PUBLIC KEY-----"
        var rest = Substring(text)
        var index = 0
        while let start = rest.firstRange(of: "-----BEGIN PUBLIC KEY-----"), let stop = rest[start.upperBound...].firstRange(of: end) {
            let block = String(rest[start.lowerBound..<stop.upperBound])
            do throws(CryptoError) {
                let key = try PublicKey(pem: block)
                if let problem = rsaProblem(key, options: options) {
                    skipped.append("PEM key \(index): \(problem)")
                } else {
                    keys.append(JWK(publicKey: key))
                }
            } catch {
                skipped.append("PEM key \(index): \(error)")
            }
            rest = rest[stop.upperBound...]
            index += 1
        }
        if keys.isEmpty && skipped.isEmpty { throw .malformedJWKS("no PEM public key block") }
        return JWKSet(keys: keys, skipped: skipped)
    }

    /// `{"<kid>": "-----BEGIN CERTIFICATE-----…", …}`: each certificate's public key under its kid.
    static func parseX509Map(_ members: [String: JSONValue], options: Options) throws(JWTError) -> JWKSet {
        var keys: [JWK] = []
        var skipped: [String] = []
        for (kid, value) in members.sorted(by: { $0.key < $1.key }) {
            do throws(CryptoError) {
                let key = try PublicKey(certificatePEM: value.stringValue ?? "")
                if let problem = rsaProblem(key, options: options) {
                    skipped.append("certificate \(JWTError.quote(kid)): \(problem)")
                } else {
                    keys.append(JWK(publicKey: key, kid: kid))
                }
            } catch {
                skipped.append("certificate \(JWTError.quote(kid)): \(error)")
            }
        }
        return JWKSet(keys: keys, skipped: skipped)
    }

    /// Why an RSA key from a PEM block or certificate is refused (the same bounds and ROCA check as a
    /// JWK's; `PublicKey` itself checked the exponent), or nil.
    static func rsaProblem(_ key: PublicKey, options: Options) -> String? {
        guard case .rsa(let bits) = key.kind else { return nil }
        if bits < options.minimumRSABits || bits > options.maximumRSABits {
            return "RSA modulus has \(bits) bits (allowed \(options.minimumRSABits)…\(options.maximumRSABits))"
        }
        if let n = key.rsaComponents?.modulus, ROCA.isVulnerable(modulus: n) {
            return "RSA modulus has the ROCA fingerprint (CVE-2017-15361)"
        }
        return nil
    }

    private static func label(_ v: JSONValue) -> String {
        if let kid = v["kid"]?.stringValue { return " (kid \(JWTError.quote(kid)))" }
        return ""
    }
}

struct SkipReason: Error {
    let reason: String
    init(_ r: String) { reason = r }
}

enum JWKParser {
    static func parse(_ v: JSONValue, options: JWKSet.Options) -> Result<JWK, SkipReason> {
        Result { () throws(SkipReason) -> JWK in try build(v, options: options) }
    }

    private static func string(_ v: JSONValue, _ name: String, required: Bool) throws(SkipReason) -> String? {
        guard let m = v[name] else {
            if required { throw SkipReason("no \"\(name)\"") }
            return nil
        }
        guard let s = m.stringValue else { throw SkipReason("\"\(name)\" is not a string") }
        return s
    }

    private static func bytes(_ v: JSONValue, _ name: String) throws(SkipReason) -> [UInt8] {
        let s = try string(v, name, required: true)!
        guard let b = Base64URL.decode(s) else { throw SkipReason("\"\(name)\" is not strict base64url") }
        return b
    }

    static func build(_ v: JSONValue, options: JWKSet.Options) throws(SkipReason) -> JWK {
        guard case .object(let members) = v else { throw SkipReason("not a JSON object") }
        let kty = try string(v, "kty", required: true)!
        let kid = try string(v, "kid", required: false)
        let alg = try string(v, "alg", required: false)
        // `jwt-svid`: a SPIFFE bundle's key for JWT-SVIDs, a signature key (Envoy accepts it too).
        if let use = try string(v, "use", required: false), use != "sig", use != "jwt-svid" {
            throw SkipReason("\"use\" is \(JWTError.quote(use)), not \"sig\" (or a SPIFFE bundle's \"jwt-svid\")")
        }
        if let ops = v["key_ops"] {
            guard let list = ops.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else { throw SkipReason("\"key_ops\" is not an array of strings") }
            guard list.contains(.string("verify")) else { throw SkipReason("\"key_ops\" does not include \"verify\"") }
        }
        var algorithm: JWTAlgorithm? = nil
        if let alg {
            guard let a = JWTAlgorithm(rawValue: alg) else { throw SkipReason("\"alg\" \(JWTError.quote(alg)) is not a supported signature algorithm") }
            guard a.keyType == kty else { throw SkipReason("\"alg\" \(alg) does not fit kty \(JWTError.quote(kty))") }
            algorithm = a
        }
        switch kty {
        case "RSA":
            for p in ["d", "p", "q", "dp", "dq", "qi", "oth"] where members[p] != nil { throw SkipReason("holds private key material (\"\(p)\")") }
            let n = Array(try bytes(v, "n").drop { $0 == 0 })
            let e = try bytes(v, "e")
            let bits = n.isEmpty ? 0 : (n.count - 1) * 8 + (8 - n[0].leadingZeroBitCount)
            guard bits >= options.minimumRSABits else { throw SkipReason("RSA modulus has \(bits) bits; the minimum is \(options.minimumRSABits)") }
            guard bits <= options.maximumRSABits else { throw SkipReason("RSA modulus has \(bits) bits; the maximum is \(options.maximumRSABits)") }
            if ROCA.isVulnerable(modulus: n) { throw SkipReason("RSA modulus has the ROCA fingerprint (CVE-2017-15361)") }
            let key: PublicKey
            do { key = try PublicKey.rsa(modulus: n, exponent: e) } catch { throw SkipReason(error.description) }
            return JWK(kid: kid, kty: kty, alg: alg, crv: nil, material: .publicKey(key), materialBytes: n + [0xFF] + e)
        case "EC":
            if members["d"] != nil { throw SkipReason("holds private key material (\"d\")") }
            let crvName = try string(v, "crv", required: true)!
            guard let curve = Curve(rawValue: crvName) else { throw SkipReason("EC curve \(JWTError.quote(crvName)) is not supported (P-256, P-384, P-521)") }
            if let algorithm, algorithm.curve != curve { throw SkipReason("\"alg\" \(algorithm.rawValue) does not fit crv \(crvName)") }
            let x = try bytes(v, "x"), y = try bytes(v, "y")
            let key: PublicKey
            do { key = try PublicKey.ec(curve: curve, x: x, y: y) } catch { throw SkipReason(error.description) }
            return JWK(kid: kid, kty: kty, alg: alg, crv: crvName, material: .publicKey(key), materialBytes: x + y)
        case "OKP":
            if members["d"] != nil { throw SkipReason("holds private key material (\"d\")") }
            let crvName = try string(v, "crv", required: true)!
            guard crvName == "Ed25519" else { throw SkipReason("OKP curve \(JWTError.quote(crvName)) is not supported (Ed25519)") }
            let x = try bytes(v, "x")
            let key: PublicKey
            do { key = try PublicKey.ed25519(x) } catch { throw SkipReason(error.description) }
            return JWK(kid: kid, kty: kty, alg: alg, crv: crvName, material: .publicKey(key), materialBytes: x)
        case "oct":
            guard options.allowSymmetric else {
                throw SkipReason("symmetric (oct) keys are accepted only from operator-configured key sets, never from a remote JWKS")
            }
            let k = try bytes(v, "k")
            guard !k.isEmpty else { throw SkipReason("empty \"k\"") }
            if let algorithm, let d = algorithm.digest, k.count < d.byteCount {
                throw SkipReason("\"k\" has \(k.count) bytes; \(algorithm.rawValue) needs at least \(d.byteCount)")
            }
            return JWK(kid: kid, kty: kty, alg: alg, crv: nil, material: .secret(HMACKey(k)), materialBytes: Digest.sha256.hash(k))
        default:
            throw SkipReason("kty \(JWTError.quote(kty)) is not supported (RSA, EC, OKP, oct)")
        }
    }
}

/// Detects RSA moduli generated by the vulnerable Infineon library (ROCA, CVE-2017-15361):
/// such a modulus is, modulo each small prime p below, inside the subgroup generated by 65537.
enum ROCA {
    static let primes: [Int] = [3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73,
                                79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167]
    /// For each prime, the residues reachable as powers of 65537.
    static let subgroups: [Set<Int>] = primes.map { p in
        var s = Set<Int>()
        var x = 1
        let g = 65537 % p
        repeat { s.insert(x); x = x * g % p } while !s.contains(x)
        return s
    }

    static func isVulnerable(modulus n: [UInt8]) -> Bool {
        for (i, p) in primes.enumerated() {
            var r = 0
            for b in n { r = (r * 256 + Int(b)) % p }
            if !subgroups[i].contains(r) { return false }
        }
        return true
    }
}
