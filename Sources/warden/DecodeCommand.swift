import Foundation
import WardenJSON
import WardenJWT

/// `warden decode TOKEN`: header and payload of a JWT, pretty-printed, without any verification.
struct DecodeCommand {
    static let help = """
    Usage: warden decode [--now UNIX] TOKEN|-

    Prints the header and payload of a JWT (a leading "Bearer " is ignored; - reads it from stdin),
    with exp/nbf/iat as UTC dates. NOTHING IS VERIFIED: not the signature, not the issuer, not the
    times. Use `warden explain` to see what Warden would decide.
    """

    let token: String
    let now: Double

    static func parse(_ args: [String]) throws(UsageError) -> DecodeCommand {
        var token: String?
        var now = Date().timeIntervalSince1970
        var i = 0
        while i < args.count {
            let a = args[i]
            if a == "--now" || a.hasPrefix("--now=") {
                let raw: String
                if a == "--now" {
                    guard i + 1 < args.count else { throw UsageError("flag --now needs a value") }
                    raw = args[i + 1]
                    i += 1
                } else {
                    raw = String(a.dropFirst(6))
                }
                guard let t = Double(raw), t >= 0 else { throw UsageError("invalid value '\(raw)' for --now: expected Unix seconds") }
                now = t
            } else if a.hasPrefix("--") {
                throw UsageError("unknown flag \(a) (see warden decode --help)")
            } else {
                guard token == nil else { throw UsageError("decode takes one token") }
                token = a
            }
            i += 1
        }
        guard var t = token else { throw UsageError("missing TOKEN (see warden decode --help)") }
        if t == "-" { t = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) }
        t = t.trimmingCharacters(in: .whitespacesAndNewlines)
        if t.lowercased().hasPrefix("bearer ") { t = String(t.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
        return DecodeCommand(token: t, now: now)
    }

    func run() -> Int32 {
        print("NOT VERIFIED — decoded only: signature, issuer, audience and times have not been checked.")
        let segments = token.split(separator: ".", omittingEmptySubsequences: false)
        if segments.count == 5 {
            print("This is a JWE (encrypted JWT, 5 segments): only its header is readable.")
        } else if segments.count != 3 {
            printErr("warden: not a compact JWT: \(segments.count) dot-separated segment(s), expected 3")
            return 1
        }
        var ok = true
        let names = segments.count == 5 ? ["header"] : ["header", "payload"]
        for (index, name) in names.enumerated() {
            let segment = segments[index]
            guard let bytes = Base64URL.decode(segment.utf8) else {
                print("\(name): not base64url (\(segment.utf8.count) characters)")
                ok = false
                continue
            }
            guard let json = try? JSONParser.parse(bytes) else {
                print("\(name): not JSON: \(String(decoding: bytes.prefix(200), as: UTF8.self))")
                ok = false
                continue
            }
            print("\(name):")
            print(JSONPretty.render(json, indent: "", note: name == "payload" ? JSONPretty.timeClaimNote(now: now) : { _, _ in nil }))
        }
        if segments.count == 3 {
            let sig = Base64URL.decode(segments[2].utf8)
            print("signature: " + (sig.map { "\($0.count) bytes (not checked)" } ?? "not base64url"))
        }
        return ok ? 0 : 1
    }
}
