/// A gRPC status code (the `grpc-status` trailer). Raw values are the wire values.
public struct GRPCStatusCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: Int32

    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    public static let ok = GRPCStatusCode(rawValue: 0)
    public static let cancelled = GRPCStatusCode(rawValue: 1)
    public static let unknown = GRPCStatusCode(rawValue: 2)
    public static let invalidArgument = GRPCStatusCode(rawValue: 3)
    public static let deadlineExceeded = GRPCStatusCode(rawValue: 4)
    public static let notFound = GRPCStatusCode(rawValue: 5)
    public static let alreadyExists = GRPCStatusCode(rawValue: 6)
    public static let permissionDenied = GRPCStatusCode(rawValue: 7)
    public static let resourceExhausted = GRPCStatusCode(rawValue: 8)
    public static let failedPrecondition = GRPCStatusCode(rawValue: 9)
    public static let aborted = GRPCStatusCode(rawValue: 10)
    public static let outOfRange = GRPCStatusCode(rawValue: 11)
    public static let unimplemented = GRPCStatusCode(rawValue: 12)
    public static let internalError = GRPCStatusCode(rawValue: 13)
    public static let unavailable = GRPCStatusCode(rawValue: 14)
    public static let dataLoss = GRPCStatusCode(rawValue: 15)
    public static let unauthenticated = GRPCStatusCode(rawValue: 16)

    private static let names = [
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
        "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
        "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    ]

    /// The canonical upper-case name (`"INVALID_ARGUMENT"`), or `"CODE(n)"` for a value outside the standard set.
    public var description: String {
        rawValue >= 0 && Int(rawValue) < Self.names.count ? Self.names[Int(rawValue)] : "CODE(\(rawValue))"
    }
}
