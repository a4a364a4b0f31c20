import Testing
import WardenExtAuthz
import WardenProtobuf

/// The per-check decoder `CheckRequestEssentials(serializedBytes:)` against the full decoder:
/// for every input both accept or both reject with the same error (kind and offset), and what
/// they accept gives the same essentials.
@Suite("CheckRequestEssentials: fast decoder vs full decoder")
struct CheckRequestEssentialsTests {
    typealias Outcome = Result<CheckRequestEssentials, ProtobufDecodeError>

    static func fast(_ bytes: [UInt8], maxDepth: Int = ProtobufReader.defaultMaxDepth) -> Outcome {
        do throws(ProtobufDecodeError) {
            return .success(try CheckRequestEssentials(serializedBytes: bytes, maxDepth: maxDepth))
        } catch {
            return .failure(error)
        }
    }

    static func full(_ bytes: [UInt8], maxDepth: Int = ProtobufReader.defaultMaxDepth) -> Outcome {
        do throws(ProtobufDecodeError) {
            return .success(CheckRequestEssentials(try CheckRequest(serializedBytes: bytes, maxDepth: maxDepth)))
        } catch {
            return .failure(error)
        }
    }

    /// Compares both decoders on `bytes`; returns whether the input was accepted.
    @discardableResult
    static func agree(_ bytes: [UInt8], maxDepth: Int = ProtobufReader.defaultMaxDepth, sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        let f = fast(bytes, maxDepth: maxDepth)
        let reference = full(bytes, maxDepth: maxDepth)
        #expect(f == reference, "input \(bytes.hex), maxDepth \(maxDepth)", sourceLocation: sourceLocation)
        if case .success = reference { return true }
        return false
    }

    // MARK: fixtures

    static let fixtures: [(String, [UInt8])] = [
        ("rich", Fixtures.richCheckRequest.serializedBytes()),
        ("header_map", Fixtures.rawHeadersCheckRequest.serializedBytes()),
        ("empty", []),
    ]

    @Test("the rich fixture's essentials")
    func richFixture() throws {
        let e = try CheckRequestEssentials(serializedBytes: Fixtures.richCheckRequest.serializedBytes())
        #expect(e.httpID == "16970825429458128283")
        #expect(e.method == "POST" && e.scheme == "https" && e.host == "orders.shop.svc.cluster.local")
        #expect(e.path == "/api/v1/orders?expand=items&q=caf%C3%A9")
        #expect(e.headers == Fixtures.manyHeaders)
        #expect(e.sourceAddress == "10.0.0.7" && e.sourcePort == 51234)
        #expect(e.sourcePrincipal == "spiffe://cluster.local/ns/frontend/sa/web")
        #expect(e.destinationAddress == "10.0.0.9" && e.destinationPort == 8080)
        #expect(e.sni == "orders.shop.svc")
        #expect(e.contextExtensions == ["tenant": "acme", "virtual_host": Fixtures.unicode])
        #expect(e == CheckRequestEssentials(Fixtures.richCheckRequest))
    }

    @Test("header_map is joined, pipe and internal addresses leave no socket address")
    func rawHeadersFixture() throws {
        let e = try CheckRequestEssentials(serializedBytes: Fixtures.rawHeadersCheckRequest.serializedBytes())
        #expect(e.headers == [":path": "/", "cookie": "\u{FFFD}\u{FFFD},b=2"])
        #expect(e.sourceAddress == "" && e.sourcePort == 0 && e.destinationAddress == "")
        #expect(e == CheckRequestEssentials(Fixtures.rawHeadersCheckRequest))
    }

    @Test("protoc's and xds-protos' encodings of the fixtures")
    func referenceEncodings() throws {
        for name in ["check-request-rich", "check-request-header-map", "check-request-headers-in-any-order", "check-request-from-a-newer-schema"] {
            #expect(Self.agree(try Golden.protoc(name)), "\(name).protoc.binpb")
        }
        for name in ["check-request-rich", "check-request-header-map", "check-request-headers-in-any-order"] {
            #expect(Self.agree(try Golden.xds(name)), "\(name).xds.binpb")
        }
        let built = try Golden.bytes("check-request-built-with-xds-protos.xds.binpb")
        #expect(Self.agree(built))
        let e = try CheckRequestEssentials(serializedBytes: built)
        #expect(e.headers["x-unicode"] == "ünï ✓ 🚀" && e.sourcePort == 44321 && e.sni == "orders.example")
    }

    @Test("every nesting bound gives the same result", arguments: 0...8)
    func nestingBounds(maxDepth: Int) {
        for (_, bytes) in Self.fixtures { Self.agree(bytes, maxDepth: maxDepth) }
        var value: ProtobufValue = "leaf"
        for _ in 0..<40 { value = ["k": value] }
        let deep = CheckRequest(attributes: AttributeContext(
            metadataContext: Metadata(filterMetadata: ["ns": ProtobufStruct(fields: ["deep": value])]))).serializedBytes()
        for bound in [maxDepth, 64, 100] { Self.agree(deep, maxDepth: bound) }
    }

    // MARK: merging and oneofs

    static func socket(_ address: String, _ port: UInt32) -> Address { Address(.socketAddress(SocketAddress(address: address, portValue: port))) }

    static let mergeCases: [(String, [CheckRequest])] = [
        ("socket then pipe", [
            CheckRequest(attributes: AttributeContext(source: .init(address: socket("10.0.0.1", 1)))),
            CheckRequest(attributes: AttributeContext(source: .init(address: Address(.pipe(Pipe(path: "/s")))))),
        ]),
        ("pipe then a socket with a port only", [
            CheckRequest(attributes: AttributeContext(source: .init(address: Address(.pipe(Pipe(path: "/s")))))),
            CheckRequest(attributes: AttributeContext(source: .init(address: Address(.socketAddress(SocketAddress(address: "", portValue: 9)))))),
        ]),
        ("socket then internal address then socket with address only", [
            CheckRequest(attributes: AttributeContext(destination: .init(address: socket("10.0.0.1", 1)))),
            CheckRequest(attributes: AttributeContext(destination: .init(address: Address(.envoyInternalAddress(EnvoyInternalAddress(serverListenerName: "l")))))),
            CheckRequest(attributes: AttributeContext(destination: .init(address: Address(.socketAddress(SocketAddress(address: "10.0.0.2")))))),
        ]),
        ("port value then named port", [
            CheckRequest(attributes: AttributeContext(source: .init(address: socket("10.0.0.1", 1)))),
            CheckRequest(attributes: AttributeContext(source: .init(address: Address(.socketAddress(
                SocketAddress(address: "", portSpecifier: .namedPort("http"))))))),
        ]),
        ("headers and scalars merge, later wins", [
            CheckRequest(attributes: AttributeContext(request: .init(http: .init(id: "1", method: "GET", headers: ["a": "1", "b": "2"], path: "/x")),
                                                      contextExtensions: ["k": "1"], tlsSession: .init(sni: "a"))),
            CheckRequest(attributes: AttributeContext(request: .init(http: .init(method: "", headers: ["b": "3"], host: "h")),
                                                      contextExtensions: ["k": "2", "l": "3"], tlsSession: .init(sni: ""))),
        ]),
        ("header_map twice appends", [
            CheckRequest(attributes: AttributeContext(request: .init(http: .init(method: "GET", headerMap: HeaderMap(headers: [HeaderValue(key: "A", value: "1")]))))),
            CheckRequest(attributes: AttributeContext(request: .init(http: .init(method: "", headerMap: HeaderMap(headers: [HeaderValue(key: "a", value: "2")]))))),
        ]),
        ("headers map beats header_map", [
            CheckRequest(attributes: AttributeContext(request: .init(http: .init(method: "GET", headerMap: HeaderMap(headers: [HeaderValue(key: "A", value: "1")]))))),
            CheckRequest(attributes: AttributeContext(request: .init(http: .init(method: "", headers: ["b": "2"])))),
        ]),
        ("a principal, then none", [
            CheckRequest(attributes: AttributeContext(source: .init(address: nil, principal: "spiffe://a"))),
            CheckRequest(attributes: AttributeContext(source: .init(address: nil, service: "s"))),
        ]),
    ]

    @Test("concatenated messages merge as protobuf says", arguments: mergeCases.indices)
    func merging(_ index: Int) throws {
        let (_, parts) = Self.mergeCases[index]
        let bytes = parts.flatMap { $0.serializedBytes() }
        #expect(Self.agree(bytes))
    }

    // MARK: randomized

    static let strings = ["", "a", "GET", "POST", "https", "htt", "get", "/p?q=1", "10.0.0.1", Fixtures.unicode, "spiffe://cluster.local/ns/a/sa/b",
                          String(repeating: "long-value-", count: 12), "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"]

    /// Header names in the decoder's table, and near misses.
    static let headerNames = [":authority", ":path", "authorization", "x-forwarded-proto", "x-forwarded-prot", "x-forwarded-protp",
                              "X-Request-Id", "x-request-id", "te", "tf", "GET", "http", "user-agent", "", "ü"]

    static func randomString(_ rng: inout SplitMix64) -> String {
        strings[Int.random(in: 0..<strings.count, using: &rng)]
    }

    static func randomMap(_ rng: inout SplitMix64, max: Int) -> [String: String] {
        var m: [String: String] = [:]
        for _ in 0..<Int.random(in: 0...max, using: &rng) {
            let key = Bool.random(using: &rng) ? headerNames[Int.random(in: 0..<headerNames.count, using: &rng)]
                : randomString(&rng) + String(Int.random(in: 0..<4, using: &rng))
            m[key] = randomString(&rng)
        }
        return m
    }

    static func randomAddress(_ rng: inout SplitMix64) -> Address? {
        switch Int.random(in: 0..<6, using: &rng) {
        case 0: return nil
        case 1: return Address(nil)
        case 2: return Address(.pipe(Pipe(path: randomString(&rng), mode: UInt32.random(in: 0...0o777, using: &rng))))
        case 3: return Address(.envoyInternalAddress(EnvoyInternalAddress(serverListenerName: Bool.random(using: &rng) ? randomString(&rng) : nil)))
        case 4: return Address(.socketAddress(SocketAddress(address: randomString(&rng), portSpecifier: .namedPort(randomString(&rng)))))
        default:
            return Address(.socketAddress(SocketAddress(protocol: .init(rawValue: Int32.random(in: -1...2, using: &rng)), address: randomString(&rng),
                                                        portSpecifier: .portValue(UInt32.random(in: 0...70000, using: &rng)),
                                                        resolverName: randomString(&rng), ipv4Compat: Bool.random(using: &rng))))
        }
    }

    static func randomPeer(_ rng: inout SplitMix64) -> AttributeContext.Peer? {
        guard Int.random(in: 0..<5, using: &rng) > 0 else { return nil }
        return .init(address: randomAddress(&rng), service: randomString(&rng), labels: randomMap(&rng, max: 2),
                     principal: randomString(&rng), certificate: randomString(&rng))
    }

    static func randomRequest(_ rng: inout SplitMix64) -> CheckRequest {
        var http: AttributeContext.HttpRequest?
        if Int.random(in: 0..<6, using: &rng) > 0 {
            var h = AttributeContext.HttpRequest(
                id: randomString(&rng), method: randomString(&rng), headers: randomMap(&rng, max: 12), path: randomString(&rng),
                host: randomString(&rng), scheme: randomString(&rng), query: randomString(&rng), fragment: randomString(&rng),
                size: Int64.random(in: -1...100_000, using: &rng), protocol: randomString(&rng), body: randomString(&rng),
                rawBody: Array(randomString(&rng).utf8) + [0xFF])
            if Int.random(in: 0..<4, using: &rng) == 0 {
                h.headerMap = HeaderMap(headers: (0..<Int.random(in: 0...4, using: &rng)).map { _ in
                    HeaderValue(key: randomString(&rng), value: randomString(&rng), rawValue: Bool.random(using: &rng) ? [0xC3, 0x28] : [])
                })
                if Bool.random(using: &rng) { h.headers = [:] }
            }
            http = h
        }
        let request: AttributeContext.Request? = Int.random(in: 0..<6, using: &rng) == 0 ? nil
            : .init(time: Bool.random(using: &rng) ? ProtobufTimestamp(seconds: Int64.random(in: 0...2_000_000_000, using: &rng), nanos: 5) : nil, http: http)
        let metadata: Metadata? = Int.random(in: 0..<3, using: &rng) == 0
            ? Metadata(filterMetadata: ["ns": ["k": .string(randomString(&rng)), "n": 1.5, "l": [true, nil]]]) : nil
        return CheckRequest(attributes: AttributeContext(
            source: randomPeer(&rng), destination: randomPeer(&rng), request: request, contextExtensions: randomMap(&rng, max: 3),
            metadataContext: metadata, tlsSession: Bool.random(using: &rng) ? .init(sni: randomString(&rng)) : nil,
            routeMetadataContext: Int.random(in: 0..<5, using: &rng) == 0 ? Metadata(filterMetadata: ["r": [:]]) : nil))
    }

    /// Mutations aimed at the checks: a tag's wire type changed, a string byte made invalid
    /// UTF-8, a length made too long, a cut; plus the generic byte mutations.
    static func mutate(_ input: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = input
        guard !bytes.isEmpty else { return RandomizedDecodingTests.mutate(bytes, &rng) }
        let at = Int.random(in: 0..<bytes.count, using: &rng)
        switch Int.random(in: 0..<6, using: &rng) {
        case 0: bytes[at] = (bytes[at] & ~7) | UInt8.random(in: 0...7, using: &rng)   // another wire type, if a tag
        case 1: bytes[at] = [0xFF, 0xC0, 0xED, 0xF4, 0x80, 0xE0][Int.random(in: 0..<6, using: &rng)]  // bad UTF-8, if in a string
        case 2: bytes[at] &+= UInt8.random(in: 1...3, using: &rng)                      // a length a little longer
        case 3: bytes = Array(bytes.prefix(at))                                         // truncated
        default: bytes = RandomizedDecodingTests.mutate(bytes, &rng)
        }
        return bytes
    }

    @Test("random well-formed requests, alone and concatenated")
    func randomWellFormed() {
        var rng = SplitMix64(state: 2024)
        var accepted = 0
        for _ in 0..<1500 {
            var bytes = Self.randomRequest(&rng).serializedBytes()
            if Int.random(in: 0..<3, using: &rng) == 0 { bytes += Self.randomRequest(&rng).serializedBytes() }
            if Self.agree(bytes) { accepted += 1 }
        }
        #expect(accepted == 1500)
    }

    @Test("mutated requests: same accept/reject, same error, same essentials", arguments: 0..<4)
    func randomMutated(seed: UInt64) {
        var rng = SplitMix64(state: 77 + seed)
        var accepted = 0
        var rejected = 0
        let seeds = Self.fixtures.map(\.1)
        for i in 0..<2500 {
            let base = i % 4 == 0 ? seeds[i / 4 % seeds.count] : Self.randomRequest(&rng).serializedBytes()
            var bytes = base
            for _ in 0..<Int.random(in: 1...3, using: &rng) { bytes = Self.mutate(bytes, &rng) }
            let maxDepth = Int.random(in: 0..<10, using: &rng) == 0 ? Int.random(in: 1...6, using: &rng) : ProtobufReader.defaultMaxDepth
            if Self.agree(bytes, maxDepth: maxDepth) { accepted += 1 } else { rejected += 1 }
        }
        #expect(accepted > 100 && rejected > 100)
    }

    @Test("random bytes")
    func randomBytes() {
        var rng = SplitMix64(state: 5)
        for _ in 0..<5000 {
            Self.agree((0..<Int.random(in: 0..<48, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
        }
    }

    // MARK: the reader's helpers

    @Test("readString(_:interning:) returns what readString(_:) returns, table hit or not")
    func interning() {
        let table = ProtobufReader.StringTable(["", "a", ":path", ":paths", "x-forwarded-proto", "x-forwarded-for", "é", "GET"])
        let inputs: [[UInt8]] = [[], Array("a".utf8), Array(":path".utf8), Array(":patH".utf8), Array(":paths".utf8), Array("x-forwarded-proto".utf8),
                                 Array("y-forwarded-proto".utf8), Array("x-forwarded-for".utf8), Array("é".utf8), [0xC3], [0xC3, 0x28],
                                 Array("GET".utf8), Array("GEt".utf8), Array(String(repeating: "z", count: 100).utf8), [0xFF, 0x61, 0x61]]
        for payload in inputs {
            let field = [0x12, UInt8(payload.count)] + payload   // field 2, even when empty
            var a = ProtobufReader(bytes: field)
            var b = ProtobufReader(bytes: field)
            let tagA = try! a.nextTag()!
            let tagB = try! b.nextTag()!
            let plain = Result { () throws(ProtobufDecodeError) in try a.readString(tagA) }
            let interned = Result { () throws(ProtobufDecodeError) in try b.readString(tagB, interning: table) }
            #expect(plain == interned, "\(payload.hex)")
            #expect(a.offset == b.offset)
        }
        func lookup(_ s: String) -> String? { table.string(for: Array(s.utf8)) }
        #expect(lookup(":path") == ":path" && lookup("x-forwarded-for") == "x-forwarded-for" && lookup("") == "")
        #expect(lookup(":patH") == nil && lookup("b") == nil && lookup(String(repeating: "x", count: 40)) == nil)
        // A difference in the first 8-byte word, in the second, in the tail: same length, same ends.
        #expect(lookup("x-forXarded-proto") == nil && lookup("x-forwardeX-proto") == nil && lookup("x-forwarded-prXto") == nil)
        #expect(lookup("x-forwarded-proto") == "x-forwarded-proto")
        let many = ProtobufReader.StringTable((0..<100).map { "h\($0)" })
        #expect((0..<100).allSatisfy { many.string(for: Array("h\($0)".utf8)) == "h\($0)" })
        #expect(many.string(for: Array("h100".utf8)) == nil)
    }

    /// `skipString` accepts exactly what `readString` accepts, with the same error.
    static func skipAgrees(_ payload: [UInt8]) -> Bool {
        let field = [0x0A, UInt8(payload.count)] + payload   // field 1; payloads are short
        var a = ProtobufReader(bytes: field)
        var b = ProtobufReader(bytes: field)
        let tagA = try! a.nextTag()!
        let tagB = try! b.nextTag()!
        let read: ProtobufDecodeError? = { () -> ProtobufDecodeError? in
            do throws(ProtobufDecodeError) { _ = try a.readString(tagA); return nil } catch { return error }
        }()
        let skipped: ProtobufDecodeError? = { () -> ProtobufDecodeError? in
            do throws(ProtobufDecodeError) { try b.skipString(tagB); return nil } catch { return error }
        }()
        return read == skipped && (read != nil || a.offset == b.offset)
    }

    @Test("skipString validates UTF-8 like readString: every 1- and 2-byte string, sampled 3- and 4-byte ones")
    func skipStringUTF8() {
        var mismatches = 0
        for a in 0...255 where !Self.skipAgrees([UInt8(a)]) { mismatches += 1 }
        for a in 0...255 { for b in 0...255 where !Self.skipAgrees([UInt8(a), UInt8(b)]) { mismatches += 1 } }
        // 3-byte leads with every second byte, and the boundary values as third byte.
        for a in 0xE0...0xEF { for b in 0...255 { for c in [0x00, 0x7F, 0x80, 0xBF, 0xC0, 0xFF] where !Self.skipAgrees([UInt8(a), UInt8(b), UInt8(c)]) { mismatches += 1 } } }
        for a in 0xF0...0xF7 { for b in 0x70...0xC0 { for c in [0x7F, 0x80, 0xBF, 0xC0] { for d in [0x7F, 0x80, 0xBF, 0xC0] {
            if !Self.skipAgrees([UInt8(a), UInt8(b), UInt8(c), UInt8(d)]) { mismatches += 1 }
        } } } }
        var rng = SplitMix64(state: 11)
        for _ in 0..<20_000 {
            let n = Int.random(in: 4...40, using: &rng)
            var s = (0..<n).map { _ in UInt8.random(in: 0x20...0x7E, using: &rng) }
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                s[Int.random(in: 0..<n, using: &rng)] = [0x80, 0xBF, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF, 0x9F, 0xA0, 0x8F, 0x90][Int.random(in: 0..<15, using: &rng)]
            }
            if !Self.skipAgrees(s) { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }
}
