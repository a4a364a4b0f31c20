import WardenJSON

/// A `String` as a `Set` element or `Dictionary` key that is equal to another only with the same UTF-8
/// bytes (a plain `String` key is equal to every canonically equivalent spelling: `"café"` precomposed
/// finds `"cafe\u{301}"`). Used wherever a value from the request or the token is looked up among
/// policy values: issuers, token locations, cookie names. See `StringProtocol+Bytewise.swift`.
public struct ExactKey: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let text: String

    public init(_ text: String) { self.text = text }
    public init(stringLiteral text: String) { self.text = text }

    public static func == (a: ExactKey, b: ExactKey) -> Bool { a.text.bytesEqual(b.text) }

    public func hash(into hasher: inout Hasher) {
        var text = self.text
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        hasher.combine(text.utf8.count)
    }

    public var description: String { text }
}

extension Dictionary where Key == String {
    /// The value stored under exactly `key`'s bytes. A `[String: V]` keeps one of several canonically
    /// equivalent keys (JSON objects reject the others as duplicates), so a key with other bytes than
    /// the one stored is absent — as it is in Envoy's maps of `std::string`.
    @inlinable
    public func exactValue(forKey key: String) -> Value? {
        guard let i = index(forKey: key), self[i].key.bytesEqual(key) else { return nil }
        return self[i].value
    }
}
