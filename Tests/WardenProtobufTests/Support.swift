import Foundation
import WardenProtobuf

/// Golden encodings in Fixtures/wire, made by protoc and xds-protos from the `.txtpb` beside them
/// (Tests/IntegrationTests/swift_fixtures/wire.py writes them; its pytest keeps them fresh).
enum Golden {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/wire").path

    /// `NAME.protoc.binpb`: `protoc --encode` of NAME.txtpb.
    static func protoc(_ name: String) throws -> [UInt8] { try bytes(name + ".protoc.binpb") }

    /// `NAME.xds.binpb`: xds-protos' deterministic encoding of NAME.txtpb.
    static func xds(_ name: String) throws -> [UInt8] { try bytes(name + ".xds.binpb") }

    static func bytes(_ file: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory + "/" + file)))
    }

    /// The names (NAME of NAME.txtpb) of every golden case in the directory.
    static func names() throws -> Set<String> {
        Set(try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { $0.hasSuffix(".txtpb") }.map { String($0.dropLast(".txtpb".count)) })
    }
}

/// SplitMix64: a fixed seed gives the same sequence on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A message with one string field (`string name = 1;`), the shape of `grpc.health.v1.HealthCheckRequest`:
/// the codec tests' vehicle, so they need no Envoy message.
struct StringMessage: ProtobufMessage {
    var name = ""

    mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1: name = try reader.readString(tag)
        default: try reader.skip(tag)
        }
    }

    func encode(to writer: inout ProtobufWriter) {
        writer.writeString(name, field: 1)
    }
}

/// A message with one enum field (`Status status = 1;`), the shape of `grpc.health.v1.HealthCheckResponse`.
struct EnumMessage: ProtobufMessage {
    var status: Int32 = 0

    mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1: status = try reader.readEnum(tag)
        default: try reader.skip(tag)
        }
    }

    func encode(to writer: inout ProtobufWriter) {
        writer.writeEnum(status, field: 1)
    }
}

extension Array where Element == UInt8 {
    init(hex: String) {
        var bytes: [UInt8] = []
        var it = hex.filter { !$0.isWhitespace }.makeIterator()
        while let a = it.next(), let b = it.next() {
            bytes.append(UInt8(String([a, b]), radix: 16)!)
        }
        self = bytes
    }

    var hex: String { map { String(format: "%02x", $0) }.joined() }
}
