/// `envoy.type.v3.StatusCode`: HTTP status codes; the raw value is the HTTP number.
/// An open enum: any number (e.g. 418) can be carried with `HttpStatusCode(rawValue:)`.
/// `empty` (0) is invalid for Envoy, which then falls back to 403.
public struct HttpStatusCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public var description: String { String(rawValue) }

    public static let empty = HttpStatusCode(rawValue: 0)
    public static let `continue` = HttpStatusCode(rawValue: 100)
    public static let ok = HttpStatusCode(rawValue: 200)
    public static let created = HttpStatusCode(rawValue: 201)
    public static let accepted = HttpStatusCode(rawValue: 202)
    public static let nonAuthoritativeInformation = HttpStatusCode(rawValue: 203)
    public static let noContent = HttpStatusCode(rawValue: 204)
    public static let resetContent = HttpStatusCode(rawValue: 205)
    public static let partialContent = HttpStatusCode(rawValue: 206)
    public static let multiStatus = HttpStatusCode(rawValue: 207)
    public static let alreadyReported = HttpStatusCode(rawValue: 208)
    public static let imUsed = HttpStatusCode(rawValue: 226)
    public static let multipleChoices = HttpStatusCode(rawValue: 300)
    public static let movedPermanently = HttpStatusCode(rawValue: 301)
    public static let found = HttpStatusCode(rawValue: 302)
    public static let seeOther = HttpStatusCode(rawValue: 303)
    public static let notModified = HttpStatusCode(rawValue: 304)
    public static let useProxy = HttpStatusCode(rawValue: 305)
    public static let temporaryRedirect = HttpStatusCode(rawValue: 307)
    public static let permanentRedirect = HttpStatusCode(rawValue: 308)
    public static let badRequest = HttpStatusCode(rawValue: 400)
    public static let unauthorized = HttpStatusCode(rawValue: 401)
    public static let paymentRequired = HttpStatusCode(rawValue: 402)
    public static let forbidden = HttpStatusCode(rawValue: 403)
    public static let notFound = HttpStatusCode(rawValue: 404)
    public static let methodNotAllowed = HttpStatusCode(rawValue: 405)
    public static let notAcceptable = HttpStatusCode(rawValue: 406)
    public static let proxyAuthenticationRequired = HttpStatusCode(rawValue: 407)
    public static let requestTimeout = HttpStatusCode(rawValue: 408)
    public static let conflict = HttpStatusCode(rawValue: 409)
    public static let gone = HttpStatusCode(rawValue: 410)
    public static let lengthRequired = HttpStatusCode(rawValue: 411)
    public static let preconditionFailed = HttpStatusCode(rawValue: 412)
    public static let payloadTooLarge = HttpStatusCode(rawValue: 413)
    public static let uriTooLong = HttpStatusCode(rawValue: 414)
    public static let unsupportedMediaType = HttpStatusCode(rawValue: 415)
    public static let rangeNotSatisfiable = HttpStatusCode(rawValue: 416)
    public static let expectationFailed = HttpStatusCode(rawValue: 417)
    public static let misdirectedRequest = HttpStatusCode(rawValue: 421)
    public static let unprocessableEntity = HttpStatusCode(rawValue: 422)
    public static let locked = HttpStatusCode(rawValue: 423)
    public static let failedDependency = HttpStatusCode(rawValue: 424)
    public static let upgradeRequired = HttpStatusCode(rawValue: 426)
    public static let preconditionRequired = HttpStatusCode(rawValue: 428)
    public static let tooManyRequests = HttpStatusCode(rawValue: 429)
    public static let requestHeaderFieldsTooLarge = HttpStatusCode(rawValue: 431)
    public static let internalServerError = HttpStatusCode(rawValue: 500)
    public static let notImplemented = HttpStatusCode(rawValue: 501)
    public static let badGateway = HttpStatusCode(rawValue: 502)
    public static let serviceUnavailable = HttpStatusCode(rawValue: 503)
    public static let gatewayTimeout = HttpStatusCode(rawValue: 504)
    public static let httpVersionNotSupported = HttpStatusCode(rawValue: 505)
    public static let variantAlsoNegotiates = HttpStatusCode(rawValue: 506)
    public static let insufficientStorage = HttpStatusCode(rawValue: 507)
    public static let loopDetected = HttpStatusCode(rawValue: 508)
    public static let notExtended = HttpStatusCode(rawValue: 510)
    public static let networkAuthenticationRequired = HttpStatusCode(rawValue: 511)
}

/// `envoy.type.v3.HttpStatus`: the HTTP status of a denied response.
public struct HttpStatus: ProtobufMessage, Hashable {
    /// `code = 1`.
    public var code: HttpStatusCode

    public init() { code = .empty }
    public init(code: HttpStatusCode) { self.code = code }

    public mutating func decodeField(_ tag: ProtobufTag, from reader: inout ProtobufReader) throws(ProtobufDecodeError) {
        switch tag.fieldNumber {
        case 1: code = HttpStatusCode(rawValue: try reader.readEnum(tag))
        default: try reader.skip(tag)
        }
    }

    public func encode(to writer: inout ProtobufWriter) {
        writer.writeEnum(code.rawValue, field: 1)
    }
}
