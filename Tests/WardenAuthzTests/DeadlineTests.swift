import Dispatch
import Foundation
import Testing
import WardenAuthz
import WardenJWKS
import WardenPolicy
import WardenSync

/// A check never waits past the caller's deadline: a token whose keys are not at hand (a slow IdP) is
/// answered from the keys at hand — 401 `Jwks remote fetch is failed` — shortly before the deadline. With
/// `failure_mode_allow`, Envoy would turn a timeout into an allow; an answer in time cannot be bypassed.
private struct SlowFetcher: JWKSFetcher {
    let seconds: Double
    func get(_ request: FetchRequest) throws(FetchError) -> FetchedDocument {
        Thread.sleep(forTimeInterval: seconds)
        throw .timedOut
    }
}

private func slowService(options: AuthzOptions = AuthzOptions()) throws -> CheckService {
    let set = try PolicySet.parse(yaml: """
    apiVersion: security.istio.io/v1
    kind: RequestAuthentication
    metadata: {name: jwt, namespace: default}
    spec:
      jwtRules:
      - {issuer: "\(issuer)", jwksUri: "http://127.0.0.1:9/slow.json"}
    """)
    let store = JWKSStore(configuration: JWKSStoreConfiguration(fetchTimeout: 2, logger: { _ in }), fetcher: SlowFetcher(seconds: 1.5))
    return CheckService(policies: set, scope: WorkloadScope(), keyStore: store, options: options, clock: { testNow })
}

/// The answer and when it was given, timed inside the completion: a busy test process may resume the
/// awaiting task much later than the answer.
private func timedCheck(_ service: CheckService, deadlineIn: Double?) async -> (CheckResult, Double) {
    let start = DispatchTime.now().uptimeNanoseconds
    let deadline = deadlineIn.map { start + UInt64($0 * 1e9) }
    return await withCheckedContinuation { (c: CheckedContinuation<(CheckResult, Double), Never>) in
        service.check(request(headers: ["authorization": "Bearer \(good)"]), deadline: deadline) { result in
            c.resume(returning: (result, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
        }
    }
}

@Test func coldKeysAreAnsweredBeforeTheCallersDeadline() async throws {
    let (result, seconds) = await timedCheck(try slowService(), deadlineIn: 0.25)
    #expect(result.decision.httpStatus == 401)
    #expect(result.decision.deny?.body == "Jwks remote fetch is failed")
    #expect(result.reasonCode == .jwtJWKSUnavailable)
    #expect(seconds < 0.25, "answered after the deadline: \(seconds) s")
    #expect(seconds >= 0.15, "answered well before it needed to: \(seconds) s")
}

/// A caller that sends no deadline (gRPC without `grpc-timeout`) gets `defaultDeadline` (`--default-deadline`):
/// the wait is bounded all the same, never the fetch timeout.
@Test func withoutADeadlineTheDefaultDeadlineBoundsTheWait() async throws {
    var options = AuthzOptions()
    options.defaultDeadline = 0.3
    let (result, seconds) = await timedCheck(try slowService(options: options), deadlineIn: nil)
    #expect(result.decision.httpStatus == 401)
    #expect(result.decision.deny?.body == "Jwks remote fetch is failed")
    #expect(seconds < 0.3, "answered after the default deadline: \(seconds) s")
    #expect(seconds >= 0.2, "answered well before it needed to: \(seconds) s")
}

/// When the caller cancels (Envoy resets the stream), a check waiting for keys ends at once: it frees its
/// place among the source's waiters instead of holding it until the deadline.
@Test func aCancelledCheckStopsWaitingAtOnce() async throws {
    let service = try slowService()
    let cancellation = Cancellation()
    let start = DispatchTime.now().uptimeNanoseconds
    DispatchQueue.global().asyncAfter(deadline: .now() + 0.1) { cancellation.cancel() }
    let (result, seconds) = await withCheckedContinuation { (c: CheckedContinuation<(CheckResult, Double), Never>) in
        service.check(request(headers: ["authorization": "Bearer \(good)"]),
                      deadline: start + 5_000_000_000, cancellation: cancellation) { result in
            c.resume(returning: (result, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
        }
    }
    #expect(result.decision.httpStatus == 401)
    #expect(seconds >= 0.1 && seconds < 1.0, "not ended by the cancellation: \(seconds) s")
    #expect(result.record.reason.contains("cancelled"), "\(result.record.reason)")
    #expect(service.keyStore.status().allSatisfy { $0.waiting == 0 })
}
