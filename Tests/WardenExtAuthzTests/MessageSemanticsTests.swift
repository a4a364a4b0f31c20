import Testing
import WardenExtAuthz
import WardenProtobuf

/// Protobuf rules as the Envoy messages apply them: maps, merging, presence, oneofs, int32 sign extension,
/// length prefixes of nested messages.
@Suite("Envoy message semantics")
struct MessageSemanticsTests {
    @Test("google.rpc.Status.code reads a 10-byte sign-extended int32", arguments: [
        (Int32(-1), "08ffffffffffffffffff01"), (Int32.min, "0880808080f8ffffffff01"), (5, "0805"),
    ])
    func negativeStatusCode(value: Int32, hex: String) throws {
        #expect(try RPCStatus(serializedBytes: [UInt8](hex: hex)).code == value)
        #expect(RPCStatus(code: value).serializedBytes().hex == hex)
    }

    @Test("nested message lengths of 1, 2 and 3 bytes")
    func nestedLengthPrefix() throws {
        for size in [0, 127, 128, 16_383, 16_384, 70_000] {
            let body = String(repeating: "a", count: size)
            let status = RPCStatus(code: 3, message: body)
            let response = CheckResponse(status: status)
            let bytes = response.serializedBytes()
            #expect(try CheckResponse(serializedBytes: bytes) == response)
            var w = ProtobufWriter()
            w.writeTag(1, .lengthDelimited)
            w.writeRawVarint(UInt64(status.serializedBytes().count))
            w.writeRawBytes(status.serializedBytes())
            #expect(bytes == w.bytes)
        }
    }

    @Test("a later duplicate map key wins")
    func duplicateMapKey() throws {
        // HttpRequest.headers entries {a: 1}, {a: 2}
        let raw = [UInt8](hex: "1a060a01611201" + "31" + "1a060a01611201" + "32")
        let http = try AttributeContext.HttpRequest(serializedBytes: raw)
        #expect(http.headers == ["a": "2"])
    }

    @Test("map entries with missing key or value take the defaults")
    func mapEntryDefaults() throws {
        let raw = [UInt8](hex: "1a00" + "1a03120178" + "1a030a0179")
        let http = try AttributeContext.HttpRequest(serializedBytes: raw)
        #expect(http.headers == ["": "x", "y": ""])
    }

    @Test("a singular message field that occurs twice is merged")
    func repeatedSingularMessageMerges() throws {
        let first = CheckRequest(attributes: AttributeContext(tlsSession: .init(sni: "a.example")))
        let second = CheckRequest(attributes: AttributeContext(contextExtensions: ["k": "v"]))
        let merged = try CheckRequest(serializedBytes: first.serializedBytes() + second.serializedBytes())
        #expect(merged.attributes.tlsSession.sni == "a.example")
        #expect(merged.attributes.contextExtensions == ["k": "v"])
    }

    @Test("message presence: an empty present message is kept, an absent one is not written")
    func presence() throws {
        var response = CheckResponse()
        #expect(response.serializedBytes().isEmpty)
        #expect(response.$status == nil)
        #expect(response.status.code == 0)
        response.status = RPCStatus(code: 0)
        #expect(response.serializedBytes().hex == "0a00")
        let decoded = try CheckResponse(serializedBytes: [0x0a, 0x00])
        #expect(decoded.$status != nil)
        #expect(decoded == response)
    }

    @Test("a oneof member is written even when default-valued")
    func oneofDefaultWritten() throws {
        let port0 = SocketAddress(address: "", portValue: 0)
        #expect(port0.serializedBytes().hex == "1800")
        #expect(try SocketAddress(serializedBytes: [0x18, 0x00]).portValue == 0)
    }

    @Test("unknown fields around the health check service are skipped")
    func unknownFieldsSkipped() throws {
        let raw = [UInt8](hex: "b006" + "9601" + "0a03" + "616263" + "cb06" + "0801" + "cc06")
        #expect(try HealthCheckRequest(serializedBytes: raw) == HealthCheckRequest(service: "abc"))
    }
}
