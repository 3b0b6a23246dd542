import CBaselines
import Synchronization
import UIODriver
import UIOTesting

/// The framework's locks against an inline C ticket lock (the same algorithm, nothing around
/// it), pthread_spin_lock and pthread_mutex: uncontended acquire+release in ns/op, and two
/// pinned threads contending with ~200 ns of work held and a random gap (0-400 ns, fixed seed)
/// between. The C loops are timed in C; the Swift
/// loops have the same shape and use the same clock (`lock_now_ns`) and work (`lock_work`).
struct LockBenchmark {
    let rounds: Int
    let uncontendedIterations: Int
    let contendedIterations: Int
    let output: String

    static let holdNanoseconds: UInt64 = 200
    static let seed: UInt64 = 0x0014_10C5

    enum Variant: Int, CaseIterable {
        case ticketInline, pthreadSpin, pthreadMutex, spinLock, interruptLock, ticketFromSwift, standardMutex

        var title: String {
            switch self {
            case .ticketInline: "C ticket lock, inline"
            case .pthreadSpin: "C pthread_spin_lock"
            case .pthreadMutex: "C pthread_mutex"
            case .spinLock: "swift-uio SpinLock"
            case .interruptLock: "swift-uio Interrupt.acquireLock"
            case .ticketFromSwift: "C ticket lock, inline, Swift loop"
            case .standardMutex: "Synchronization.Mutex"
            }
        }

        var key: String {
            switch self {
            case .ticketInline: "c_ticket_inline"
            case .pthreadSpin: "c_pthread_spin"
            case .pthreadMutex: "c_pthread_mutex"
            case .spinLock: "swift_uio_spinlock"
            case .interruptLock: "swift_uio_interrupt_lock"
            case .ticketFromSwift: "c_ticket_inline_swift_loop"
            case .standardMutex: "synchronization_mutex"
            }
        }
    }

    /// The Swift-side locks, behind one interface for the contended loop.
    final class Locks: @unchecked Sendable {
        let spinLock = SpinLock(name: "the benchmark's spin lock")
        let interrupt: Interrupt<Int>
        let mutex = Mutex(0)
        /// At a fixed address: both threads take it through the pointer.
        let ticket: UnsafeMutablePointer<ticket_lock> = {
            let lock = UnsafeMutablePointer<ticket_lock>.allocate(capacity: 1)
            lock.initialize(to: ticket_lock(next: 0, serving: 0))
            return lock
        }()

        init() throws {
            // Never started: only its lock is used.
            interrupt = try Interrupt(parent: Device(resources: try EventfdDevice(vectors: 1)),
                                      config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
        }
    }

    func run() throws {
        let locks = try Locks()
        let conditions = RunConditions()
        let holdUnits = lock_work_units_for(Self.holdNanoseconds)
        print("locks: \(rounds) rounds (the first discarded); uncontended x\(uncontendedIterations); contended: "
              + "2 threads pinned to CPUs 0 and 1, x\(contendedIterations) each, \(holdUnits) work units held "
              + "(~\(Self.holdNanoseconds) ns), a gap of 0-\(2 * holdUnits) units between (fixed seed); \(conditions.text)")
        var perOperation = [[Double]](repeating: [], count: Variant.allCases.count)
        var waits = [[Double]](repeating: [], count: Variant.allCases.count)
        var waitP99PerRound = [[Double]](repeating: [], count: Variant.allCases.count)
        var gaps = [UInt32](repeating: 0, count: 2 * contendedIterations)
        for round in 0..<rounds {
            // The same gaps for every lock in a round.
            gaps.withUnsafeMutableBufferPointer { lock_fill_gaps($0.baseAddress, $0.count, 2 * holdUnits, Self.seed &+ UInt64(round)) }
            let order = Variant.allCases.indices.map { Variant.allCases[($0 + round) % Variant.allCases.count] }
            for variant in order {
                let nanoseconds = uncontended(variant, locks)
                let roundWaits = gaps.withUnsafeBufferPointer { contended(variant, locks, holdUnits: holdUnits, gaps: $0.baseAddress!) }
                guard round > 0 else { continue }
                perOperation[variant.rawValue].append(Double(nanoseconds) / Double(uncontendedIterations))
                waits[variant.rawValue] += roundWaits
                waitP99PerRound[variant.rawValue].append(percentile(roundWaits.sorted(), 99))
            }
        }

        var lines = ["locks, nanoseconds (clock: CLOCK_MONOTONIC around the loop, both sides); at the start: " + conditions.text]
        lines.append(pad("lock", 36) + pad("uncontended ns/op (median)", 28) + "contended wait p50 / p99 / max")
        var variantsJSON: [String] = []
        for variant in Variant.allCases {
            let op = percentile(perOperation[variant.rawValue].sorted(), 50)
            let wait = Spread(waits[variant.rawValue])
            lines.append(pad(variant.title, 36) + pad(format(op), 28)
                         + "\(whole(wait.p50)) / \(whole(wait.p99)) / \(whole(wait.max))")
            variantsJSON.append("    \"\(variant.key)\": {\"uncontended_ns_per_op\": \(format(op, decimals: 3)), \"contended_wait\": \(wait.json)}")
        }
        lines.append("")
        lines.append(pad("ratio swift-uio / C (median of rounds [95% bootstrap])", 58) + "uncontended")
        var ratiosJSON: [String] = []
        // pthread_mutex sleeps when contended: a different lock, not the same work, so a ratio
        // below 0.9 against it is no sign of a broken baseline.
        let comparisons: [(String, String, Variant, Variant)] = [
            ("SpinLock / inline ticket lock", "spinlock_vs_ticket_inline", .spinLock, .ticketInline),
            ("SpinLock / pthread_spin_lock", "spinlock_vs_pthread_spin", .spinLock, .pthreadSpin),
            ("SpinLock / pthread_mutex", "spinlock_vs_pthread_mutex", .spinLock, .pthreadMutex),
            ("Interrupt lock / inline ticket lock", "interrupt_lock_vs_ticket_inline", .interruptLock, .ticketInline),
            ("inline ticket lock: Swift loop / C loop", "ticket_swift_loop_vs_c_loop", .ticketFromSwift, .ticketInline),
        ]
        for (title, key, subject, baseline) in comparisons {
            let sameWork = baseline != .pthreadMutex
            let ratio = RoundRatio(subject: perOperation[subject.rawValue], baseline: perOperation[baseline.rawValue],
                                   flagsLowRatio: sameWork)
            let waitRatio = RoundRatio(subject: waitP99PerRound[subject.rawValue], baseline: waitP99PerRound[baseline.rawValue],
                                       flagsLowRatio: sameWork)
            lines.append(pad(title, 58) + ratio.text + "   contended wait p99: " + waitRatio.text)
            ratiosJSON.append("    \"\(key)\": {\"uncontended\": \(ratio.json), \"contended_wait_p99\": \(waitRatio.json)}")
        }
        let table = lines.joined(separator: "\n")
        print(table)
        try writeFile("\(output)/locks.txt", table + "\n")
        try writeFile("\(output)/locks.json", "{\n  \"conditions\": \(conditions.json),\n  \"rounds\": \(rounds - 1),\n  \"uncontended_iterations\": \(uncontendedIterations),\n"
            + "  \"contended_iterations_per_thread\": \(contendedIterations),\n  \"hold_work_units\": \(holdUnits),\n"
            + "  \"variants\": {\n" + variantsJSON.joined(separator: ",\n") + "\n  },\n"
            + "  \"ratios\": {\n" + ratiosJSON.joined(separator: ",\n") + "\n  }\n}\n")
    }

    /// Nanoseconds for the uncontended loop.
    private func uncontended(_ variant: Variant, _ locks: Locks) -> UInt64 {
        let n = uncontendedIterations
        switch variant {
        case .ticketInline: return lock_uncontended_ns(LOCK_TICKET_INLINE, n)
        case .pthreadSpin: return lock_uncontended_ns(LOCK_PTHREAD_SPIN, n)
        case .pthreadMutex: return lock_uncontended_ns(LOCK_PTHREAD_MUTEX, n)
        case .spinLock: return uncontendedLoop(locks.spinLock, n)
        case .interruptLock: return uncontendedLoop(locks.interrupt, n)
        case .ticketFromSwift: return uncontendedLoop(locks.ticket, n)
        case .standardMutex: return uncontendedLoop(locks.mutex, n)
        }
    }

    /// Waits of both threads, in nanoseconds.
    private func contended(_ variant: Variant, _ locks: Locks, holdUnits: UInt32, gaps: UnsafePointer<UInt32>) -> [Double] {
        let n = contendedIterations
        var waits = [UInt64](repeating: 0, count: 2 * n)
        waits.withUnsafeMutableBufferPointer { buffer in
            let wait = buffer.baseAddress!
            switch variant {
            case .ticketInline: _ = lock_contended(LOCK_TICKET_INLINE, n, holdUnits, gaps, wait)
            case .pthreadSpin: _ = lock_contended(LOCK_PTHREAD_SPIN, n, holdUnits, gaps, wait)
            case .pthreadMutex: _ = lock_contended(LOCK_PTHREAD_MUTEX, n, holdUnits, gaps, wait)
            default:
                let run = ContendedRun(variant: variant, locks: locks, iterations: n, holdUnits: holdUnits, gaps: gaps, waits: wait)
                _ = withExtendedLifetime(run) {
                    lock_run_pinned_pair({ context, thread in
                        Unmanaged<ContendedRun>.fromOpaque(context!).takeUnretainedValue().body(thread: Int(thread))
                    }, Unmanaged.passUnretained(run).toOpaque())
                }
            }
        }
        return waits.map { Double($0) }  // not Double.init: that picks init(bitPattern:)
    }
}

// The Swift loops: one function per lock type, the shape of the C loops in locks.c.

@inline(never) func uncontendedLoop(_ lock: SpinLock, _ iterations: Int) -> UInt64 {
    let start = lock_now_ns()
    for _ in 0..<iterations { lock.acquire(); lock.release() }
    return lock_now_ns() - start
}

@inline(never) func uncontendedLoop(_ interrupt: Interrupt<Int>, _ iterations: Int) -> UInt64 {
    let start = lock_now_ns()
    for _ in 0..<iterations { interrupt.acquireLock(); interrupt.releaseLock() }
    return lock_now_ns() - start
}

@inline(never) func uncontendedLoop(_ lock: UnsafeMutablePointer<ticket_lock>, _ iterations: Int) -> UInt64 {
    let start = lock_now_ns()
    for _ in 0..<iterations { ticket_lock_acquire(lock); ticket_lock_release(lock) }
    return lock_now_ns() - start
}

@inline(never) func uncontendedLoop(_ mutex: borrowing Mutex<Int>, _ iterations: Int) -> UInt64 {
    let start = lock_now_ns()
    for _ in 0..<iterations { mutex.withLock { _ in } }
    return lock_now_ns() - start
}

/// One contended run of a Swift-side lock, for `lock_run_pinned_pair`.
final class ContendedRun: @unchecked Sendable {
    let variant: LockBenchmark.Variant
    let locks: LockBenchmark.Locks
    let iterations: Int
    let holdUnits: UInt32
    let gaps: UnsafePointer<UInt32>
    let waits: UnsafeMutablePointer<UInt64>

    init(variant: LockBenchmark.Variant, locks: LockBenchmark.Locks, iterations: Int, holdUnits: UInt32,
         gaps: UnsafePointer<UInt32>, waits: UnsafeMutablePointer<UInt64>) {
        (self.variant, self.locks, self.iterations, self.holdUnits, self.gaps, self.waits) = (variant, locks, iterations, holdUnits, gaps, waits)
    }

    func body(thread: Int) {
        let waits = self.waits + thread * iterations
        let gaps = self.gaps + thread * iterations
        switch variant {
        case .spinLock:
            let lock = locks.spinLock
            for i in 0..<iterations {
                let asked = lock_now_ns()
                lock.acquire()
                waits[i] = lock_now_ns() - asked
                lock_work(holdUnits)
                lock.release()
                lock_work(gaps[i])
            }
        case .interruptLock:
            let interrupt = locks.interrupt
            for i in 0..<iterations {
                let asked = lock_now_ns()
                interrupt.acquireLock()
                waits[i] = lock_now_ns() - asked
                lock_work(holdUnits)
                interrupt.releaseLock()
                lock_work(gaps[i])
            }
        case .ticketFromSwift:
            let lock = locks.ticket
            for i in 0..<iterations {
                let asked = lock_now_ns()
                ticket_lock_acquire(lock)
                waits[i] = lock_now_ns() - asked
                lock_work(holdUnits)
                ticket_lock_release(lock)
                lock_work(gaps[i])
            }
        case .standardMutex:
            for i in 0..<iterations {
                let asked = lock_now_ns()
                locks.mutex.withLock { _ in
                    waits[i] = lock_now_ns() - asked
                    lock_work(holdUnits)
                }
                lock_work(gaps[i])
            }
        case .ticketInline, .pthreadSpin, .pthreadMutex:
            preconditionFailure("the C locks run in C")
        }
    }
}
