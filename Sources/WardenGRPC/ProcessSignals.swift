#if canImport(Glibc)
import Glibc
#endif

/// Termination signals for a server process, handled synchronously by one waiting thread.
///
/// Call `blockTerminationSignals()` first thing in `main`, before creating a `GRPCServer` (whose `grpc_init`
/// spawns gRPC's own threads: they inherit the mask, so no signal lands on them), then serve, then
/// `waitForTerminationSignal(additional:)` on the main thread.
public enum ProcessSignals {
    /// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread and every thread it creates afterwards.
    /// A blocked SIGHUP stays pending (it no longer terminates the process) until someone waits for it.
    public static func blockTerminationSignals() {
        var set = signalSet([SIGINT, SIGTERM, SIGHUP])
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Waits until SIGINT, SIGTERM or one of `additional` (e.g. `SIGHUP`) arrives and returns its number.
    /// The signals must be blocked in every thread (see `blockTerminationSignals()`); `additional` ones are
    /// blocked here in the calling thread too.
    public static func waitForTerminationSignal(additional: [Int32] = []) -> Int32 {
        var set = signalSet([SIGINT, SIGTERM] + additional)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        var received: Int32 = 0
        while true {
            let result = sigwait(&set, &received)
            if result == 0 { return received }
            if result != EINTR { return SIGTERM }
        }
    }

    private static func signalSet(_ signals: [Int32]) -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        return set
    }
}
