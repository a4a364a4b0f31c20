import Dispatch
import Foundation
import Testing
import WardenAuthz
import WardenJWKS
import WardenPolicy

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

private func slowService() throws -> CheckService {
    let set = try PolicySet.parse(yaml: """
    apiVersion: security.istio.io/v1
    kind: RequestAuthentication
    metadata: {name: jwt, namespace: default}
    spec:
      jwtRules:
      - {issuer: "\(issuer)", jwksUri: "http://127.0.0.1:9/slow.json"}
    """)
    let store = JWKSStore(configuration: JWKSStoreConfiguration(fetchTimeout: 2, logger: { _ in }), fetcher: SlowFetcher(seconds: 1.5))
    return CheckService(policies: set, scope: WorkloadScope(), keyStore: store, clock: { testNow })
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

@Test func withoutADeadlineTheFetchIsWaitedFor() async throws {
    let (result, seconds) = await timedCheck(try slowService(), deadlineIn: nil)
    #expect(result.decision.httpStatus == 401)
    #expect(seconds >= 1.0, "gave up before the fetch ended: \(seconds) s")
}
