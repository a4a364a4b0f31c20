#if canImport(Glibc)
import Glibc
#endif
import Testing
import WardenGRPC

struct ProcessSignalsTests {
    /// A blocked signal stays pending until the waiter collects it (the mask stays on this test thread).
    @Test func waitReturnsTheBlockedSignalThatArrived() {
        ProcessSignals.blockTerminationSignals()
        pthread_kill(pthread_self(), SIGHUP)
        #expect(ProcessSignals.waitForTerminationSignal(additional: [SIGHUP]) == SIGHUP)
        pthread_kill(pthread_self(), SIGTERM)
        #expect(ProcessSignals.waitForTerminationSignal() == SIGTERM)
    }
}
