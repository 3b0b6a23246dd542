import Synchronization
import UIO
import UIOPlatform

/// What the ISR thread needs of its interrupt object.
protocol InterruptServiceClient: AnyObject, Sendable {
    /// Takes the interrupt lock, runs the ISR for `event`, releases the lock, then re-arms the
    /// source unless it is meant to stay masked; the re-arm's error, if any.
    func serve(_ event: InterruptEvent, from source: any InterruptSource) -> UIOError?
    /// Runs a DPC queued for the ISR thread (``DPCPlacement/serviceThread``), if any.
    func runQueuedDeferredWork()
    /// Hands the ISR interrupts held while disabled that the source will not deliver again;
    /// called on the ISR thread when it is woken. Returns the re-arm's error, if any.
    func serveReplayedInterrupts(from source: any InterruptSource) -> UIOError?
    /// The thread began: called on it, before its first wait.
    func serviceThreadStarted()
    /// The thread is about to end: called on it; runs what is queued for it and accepts no more.
    func serviceThreadEnding()
    /// Re-arms a source whose last re-arm failed.
    func retryReArm(_ source: any InterruptSource) -> UIOError?
    /// Whether a caller is waiting to mask the source (then it stays masked on purpose).
    var isMaskRequested: Bool { get }
    /// The first failed re-arm of an episode, not a removal.
    func reArmFailed(_ error: UIOError, source: any InterruptSource)
    /// The source reported the device gone (or failing): the thread ends after this.
    func sourceFailed(_ error: UIOError)
}

/// The ISR thread of one interrupt object: wait on its source, serve each wake-up under the
/// interrupt lock, until stopped or the device is gone. A re-arm that fails leaves the source
/// masked: the thread then wakes on a timer to retry it (``ReArmRetry``).
final class InterruptServiceThread: Sendable {
    private let thread: OSThread
    private let source: any InterruptSource
    private let stopping: StoppingFlag

    /// Starts the thread, named `name`, serving `source` for `client`.
    init(name: String, source: any InterruptSource, client: some InterruptServiceClient) throws(DriverError) {
        // The loop captures what it uses, not `self`.
        let stopping = StoppingFlag()
        self.source = source
        self.stopping = stopping
        thread = try startThread(name: name) { Self.run(source: source, client: client, isStopping: { stopping.isSet }) }
    }

    /// Restricts the thread to `cpus` (unless `nil`) and gives it `SCHED_FIFO` at
    /// `realTimePriority` (unless `nil`).
    func place(cpus: [Int]?, realTimePriority: Int?, name: String) throws(DriverError) {
        if let cpus {
            do {
                try thread.pin(to: cpus)
            } catch {
                let cause = UIOError(.systemCall, subject: name, reason: "pthread_setaffinity_np refused CPUs \(cpus)", errno: error,
                                     advice: "name CPUs that are online and in this process's allowed set (taskset -p, the cgroup's cpuset)")
                throw DriverError(.invalidParameter, "the ISR thread cannot run on CPUs \(cpus): \(cause)", underlying: cause)
            }
        }
        if let realTimePriority {
            do {
                try thread.setRealTimePriority(Int32(realTimePriority))
            } catch {
                let denied = error == .notPermitted
                let cause = UIOError(denied ? .permissionDenied : .systemCall, subject: name,
                                     reason: "pthread_setschedparam(SCHED_FIFO, \(realTimePriority)) failed", errno: error,
                                     advice: denied ? Self.realTimeAdvice : nil)
                throw DriverError(denied ? .accessDenied : .invalidParameter,
                                  "the ISR thread cannot have SCHED_FIFO priority \(realTimePriority): \(cause)", underlying: cause)
            }
        }
    }

    /// What a process needs for a real-time ISR thread, and what granting it allows.
    static let realTimeAdvice = "give the process CAP_SYS_NICE (AmbientCapabilities=CAP_SYS_NICE in its systemd unit, or setcap cap_sys_nice+ep on the binary), "
        + "or raise its RLIMIT_RTPRIO to the priority (LimitRTPRIO= in systemd, rtprio in /etc/security/limits.conf); "
        + "the limit allows real-time scheduling of its own threads only, while CAP_SYS_NICE also lets it change any process's priority and CPUs; "
        + "a cgroup with no real-time budget (cpu.rt_runtime_us 0) refuses it even to root"

    /// Whether the calling thread is this one.
    var isCurrent: Bool { thread.isCurrent }

    /// Wakes the thread and waits for an ISR call under way to end (unless this is the thread).
    func stop() {
        stopping.set()
        try? source.cancel()
        if !thread.isCurrent { thread.join() }
    }

    private static func run(source: any InterruptSource, client: some InterruptServiceClient, isStopping: () -> Bool) {
        var retry = ReArmRetry()
        client.serviceThreadStarted()
        // A DPC queued before the thread ends still runs: the flush WDF does at disconnect.
        defer { client.serviceThreadEnding() }
        while true {
            let outcome: InterruptWait
            do throws(UIOError) {
                outcome = try source.wait(timeout: retry.delay)
            } catch {
                if error.code == .closed || isStopping() { return }
                client.sourceFailed(error)  // uio_read's EIO, uio_poll's EPOLLERR: the device is gone
                return
            }
            let rearmError: UIOError?
            switch outcome {
            case .interrupt(let event): rearmError = client.serve(event, from: source)
            case .timedOut: rearmError = client.retryReArm(source)  // only a pending retry sets a timeout
            case .cancelled:
                if isStopping() { return }
                client.runQueuedDeferredWork()  // queued from another thread, which woke us
                // Interrupts held while disabled, which enable() woke us to hand the ISR.
                guard let replayError = client.serveReplayedInterrupts(from: source) else { continue }
                rearmError = replayError
            }
            client.runQueuedDeferredWork()
            guard let rearmError else {
                // Armed again, or left masked on purpose (then `enable()` unmasks it). A masking
                // caller still waiting keeps the retry due, so the source is not left masked for good.
                if !client.isMaskRequested { retry.ended() }
                continue
            }
            if rearmError.code == .deviceRemoved {
                client.sourceFailed(rearmError)
                return
            }
            if retry.failed() { client.reArmFailed(rearmError, source: source) }
        }
    }
}

/// Set once when the thread is told to stop; read by the thread after each wake-up.
private final class StoppingFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
