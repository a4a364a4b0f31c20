import Dispatch
import WardenAuthz
import WardenPolicy
import WardenSync

/// Envoy's `envoy.service.auth.v3.Authorization/Check` as bytes in, bytes out: decodes the CheckRequest,
/// hands the request attributes to the `CheckService`, encodes its decision. No sockets: the gRPC server
/// (or a test) passes the message body and sends back what this answers.
public struct ExtAuthzService: Sendable {
    /// What to send back on the RPC.
    public enum Answer: Sendable, Equatable {
        /// A serialized `CheckResponse`.
        case response([UInt8])
        /// The request did not decode: INVALID_ARGUMENT with this message.
        case invalidArgument(String)
        /// Shed under overload (it arrived too close to its deadline to be answered in time):
        /// UNAVAILABLE with this message. Envoy then applies its failure mode (fail closed by default).
        case unavailable(String)
    }

    public let service: CheckService
    private let answers = EncodedAnswers()

    public init(service: CheckService) {
        self.service = service
    }

    /// Decides one serialized CheckRequest; `completion` runs exactly once (see `CheckService.check`),
    /// with the answer and, for a decoded request, the check's result.
    /// - Parameters:
    ///   - deadline: the caller's deadline (monotonic nanoseconds; gRPC's `grpc-timeout`), if any. A request
    ///     that arrives too close to it is shed (`CheckService.admits`) before it is decoded.
    ///   - cancellation: fires when the caller cancels the call (see `CheckService.check`).
    public func check(_ bytes: [UInt8], deadline: UInt64? = nil, cancellation: Cancellation? = nil,
                      callTraceHeaders: [String: String] = [:],
                      completion: @escaping @Sendable (Answer, CheckResult?) -> Void) {
        let receivedAt = DispatchTime.now().uptimeNanoseconds
        guard service.admits(deadline: deadline, now: receivedAt) else {
            return completion(.unavailable("overloaded: the check reached Warden too close to its deadline"), nil)
        }
        // Straight from the bytes to the fields Warden reads; rejects what CheckRequest(serializedBytes:) rejects.
        let essentials: CheckRequestEssentials
        do throws(ProtobufDecodeError) {
            essentials = try CheckRequestEssentials(serializedBytes: bytes)
        } catch {
            service.metrics.recordInvalidRequest()
            return completion(.invalidArgument("malformed CheckRequest: \(error)"), nil)
        }
        // Envoy sends metadata_context only for the namespaces it was told to; convert just those some
        // policy reads (one extra plan load, and only for requests that carry metadata). A reload between
        // this load and the check's own leaves a newly needed namespace unconverted: treated as not sent,
        // so the check fails closed.
        let namespaces = essentials.metadataContext.isEmpty ? nil : service.plan.metadataNamespaces
        service.check(RequestAttributes(essentials, metadataNamespaces: namespaces), receivedAt: receivedAt, deadline: deadline,
                      cancellation: cancellation, callTraceHeaders: callTraceHeaders) { [answers] result in
            guard let key = result.answerKey else {
                return completion(.response(CheckResponse.serializedBytes(for: result.decision)), result)
            }
            if let bytes = answers.bytes(for: key) { return completion(.response(bytes), result) }
            let bytes = CheckResponse.serializedBytes(for: result.decision)
            answers.remember(bytes, for: key)
            completion(.response(bytes), result)
        }
    }
}
