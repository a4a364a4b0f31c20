/// An IPv4 or IPv6 address or CIDR block (`10.0.0.0/8`, `2001:db8::/32`, `1.2.3.4`).
public struct IPBlock: Sendable, Hashable, CustomStringConvertible {
    /// 16 bytes; IPv4 is stored in its own family, not mapped.
    public let address: [UInt8]
    public let isIPv6: Bool
    public let prefixLength: Int

    /// Parses an address or CIDR; nil when malformed.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = parts.first, let addr = IPBlock.parseAddress(String(first)) else { return nil }
        let bits = addr.count * 8
        var length = bits
        if parts.count == 2 {
            guard let l = Int(parts[1]), l >= 0, l <= bits, !parts[1].hasPrefix("+") else { return nil }
            length = l
        }
        address = addr
        isIPv6 = addr.count == 16
        prefixLength = length
    }

    /// True when `ip` (textual address, optionally with a zone or brackets) is inside the block.
    public func contains(_ ip: String) -> Bool {
        guard let other = IPBlock.parseAddress(ip) else { return false }
        return contains(bytes: other)
    }

    func contains(bytes: [UInt8]) -> Bool {
        var other = bytes
        if other.count == 16 && !isIPv6 {
            // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address.
            guard other[0..<10].allSatisfy({ $0 == 0 }), other[10] == 0xff, other[11] == 0xff else { return false }
            other = Array(other[12..<16])
        }
        guard other.count == address.count else { return false }
        var remaining = prefixLength
        var i = 0
        while remaining > 0 {
            let mask: UInt8 = remaining >= 8 ? 0xff : UInt8(truncatingIfNeeded: 0xff << (8 - remaining))
            if other[i] & mask != address[i] & mask { return false }
            remaining -= 8
            i += 1
        }
        return true
    }

    public var description: String {
        let text: String
        if isIPv6 {
            text = stride(from: 0, to: 16, by: 2).map { String(UInt16(address[$0]) << 8 | UInt16(address[$0 + 1]), radix: 16) }.joined(separator: ":")
        } else {
            text = address.map(String.init).joined(separator: ".")
        }
        return "\(text)/\(prefixLength)"
    }

    /// Parses a textual IPv4/IPv6 address into 4 or 16 bytes.
    public static func parseAddress(_ raw: String) -> [UInt8]? {
        var text = Substring(raw)
        if text.hasPrefix("[") && text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        if let percent = text.firstIndex(of: "%") { text = text[..<percent] }
        if text.contains(":") { return parseIPv6(text) }
        return parseIPv4(text)
    }

    static func parseIPv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy({ $0.isASCII && $0.isNumber }), let v = UInt8(p) else { return nil }
            if p.count > 1 && p.hasPrefix("0") { return nil }
            out.append(v)
        }
        return out
    }

    static func parseIPv6(_ text: Substring) -> [UInt8]? {
        var groups: [UInt16] = []
        var tail: [UInt16] = []
        var seenDoubleColon = false
        let halves = text.split(separator: "::", omittingEmptySubsequences: false).map(String.init)
        guard halves.count <= 2 else { return nil }
        func parseGroups(_ s: String, allowIPv4Tail: Bool) -> [UInt16]? {
            if s.isEmpty { return [] }
            var result: [UInt16] = []
            let items = s.split(separator: ":", omittingEmptySubsequences: false)
            for (i, item) in items.enumerated() {
                if allowIPv4Tail && i == items.count - 1 && item.contains(".") {
                    guard let v4 = parseIPv4(item) else { return nil }
                    result.append(UInt16(v4[0]) << 8 | UInt16(v4[1]))
                    result.append(UInt16(v4[2]) << 8 | UInt16(v4[3]))
                    continue
                }
                guard !item.isEmpty, item.count <= 4, let v = UInt16(item, radix: 16) else { return nil }
                result.append(v)
            }
            return result
        }
        if halves.count == 2 {
            seenDoubleColon = true
            guard let a = parseGroups(halves[0], allowIPv4Tail: false), let b = parseGroups(halves[1], allowIPv4Tail: true) else { return nil }
            groups = a
            tail = b
            guard groups.count + tail.count <= 7 else { return nil }
        } else {
            guard let a = parseGroups(halves[0], allowIPv4Tail: true), a.count == 8 else { return nil }
            groups = a
        }
        if seenDoubleColon {
            groups += Array(repeating: 0, count: 8 - groups.count - tail.count) + tail
        }
        var out: [UInt8] = []
        for g in groups {
            out.append(UInt8(g >> 8))
            out.append(UInt8(g & 0xff))
        }
        return out
    }
}
