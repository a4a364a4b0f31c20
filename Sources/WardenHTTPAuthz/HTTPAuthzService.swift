import Dispatch
import WardenAuthz
import WardenPolicy
import WardenSync

/// The HTTP front door as plain values in, plain values out: picks the endpoint by path, turns the
/// request into `RequestAttributes`, hands them to the same `CheckService` as the gRPC path, and renders
/// its decision for the proxy. No sockets: the HTTP server (or a test) passes the request and sends back
/// what this answers.
public struct HTTPAuthzService: Sendable {
    public let service: CheckService
    /// Connection facts read from proxy-set headers (`--http-trusted-headers`).
    public let trusted: Set<TrustedHeader>

    public init(service: CheckService, trusted: Set<TrustedHeader> = []) {
        self.service = service
        self.trusted = trusted
    }

    /// Decides one front-door request; `completion` runs exactly once, maybe on another thread, with the
    /// answer and, for a request that was checked, the check's result.
    public func check(_ request: HTTPAuthzRequest, deadline: UInt64? = nil, cancellation: Cancellation? = nil,
                      completion: @escaping @Sendable (HTTPAuthzResponse, CheckResult?) -> Void) {
        let receivedAt = DispatchTime.now().uptimeNanoseconds
        guard let endpoint = HTTPAuthzEndpoint(target: request.target) else { return completion(.notFound, nil) }
        guard service.admits(deadline: deadline, now: receivedAt) else { return completion(.unavailable, nil) }
        let attributes: RequestAttributes
        do throws(HTTPAuthzRequestError) {
            attributes = try RequestAttributes(http: request, endpoint: endpoint, trusted: trusted)
        } catch {
            service.metrics.recordInvalidRequest()
            return completion(.badRequest(error), nil)
        }
        service.check(attributes, receivedAt: receivedAt, deadline: deadline, cancellation: cancellation,
                      frontDoor: endpoint.frontDoor) { result in
            completion(HTTPAuthzResponse(result.decision, endpoint: endpoint, record: result.record, request: attributes), result)
        }
    }
}
