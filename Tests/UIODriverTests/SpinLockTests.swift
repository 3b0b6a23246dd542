import Dispatch
import Foundation
import Synchronization
import Testing
import UIODriver
import UIOTesting

#if canImport(Glibc)
import Glibc
#endif

/// The framework spin lock's algorithm: a ticket lock that parks its waiters on a futex.
@Suite("The spin lock: exclusion, hand-over and parking")
struct SpinLockTests {
    /// A plain (non-atomic) counter only the lock protects: a lost update shows a broken lock,
    /// and ThreadSanitizer reports the race.
    final class Guarded: @unchecked Sendable {
        var value = 0
    }

    @Test("four threads, acquire and try-acquire mixed: no update is lost")
    func exclusion() throws {
        let device = Device(resources: try SimulatedDevice())
        defer { device.stop() }
        let interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
        let guarded = Guarded()
        let threads = 4, rounds = 20_000
        let tried = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for round in 0..<rounds {
                if (round + thread) % 5 == 0 {
                    if interrupt.tryToAcquireLock() {
                        guarded.value += 1
                        interrupt.releaseLock()
                        tried.add(1, ordering: .relaxed)
                    }
                } else {
                    interrupt.acquireLock()
                    guarded.value += 1
                    interrupt.releaseLock()
                }
            }
        }
        let expected = threads * rounds - threads * rounds / 5 + tried.load(ordering: .relaxed)
        #expect(interrupt.synchronize { _ in guarded.value } == expected)
    }

    @Test("a waiter behind a holder that is off its CPU sleeps instead of spinning")
    func waiterParks() {
        let lock = SpinLock(name: "the test's lock")
        let held = DispatchSemaphore(value: 0)
        let holder = Thread.detachedThread {
            lock.acquire()
            held.signal()
            usleep(300_000)  // as long as a preempted holder's time off the CPU, and more
            lock.release()
        }
        held.wait()
        let waitStart = ContinuousClock.now
        let cpuStart = threadCPUTime()
        lock.acquire()
        let cpuUsed = threadCPUTime() - cpuStart
        let waited = ContinuousClock.now - waitStart
        lock.release()
        holder.join()
        #expect(waited >= .milliseconds(100), "the waiter really waited for the holder")
        #expect(cpuUsed < .milliseconds(60), "spinning for the whole wait would have used about \(waited) of CPU; it used \(cpuUsed)")
    }

    @Test("several parked waiters all get the lock, each once per acquire")
    func parkedWaitersAllProceed() {
        let lock = SpinLock(name: "the test's lock")
        let guarded = Guarded()
        lock.acquire()
        let started = DispatchSemaphore(value: 0)
        let waiters = (0..<4).map { _ in
            Thread.detachedThread {
                started.signal()
                for _ in 0..<3 {
                    lock.acquire()
                    guarded.value += 1
                    lock.release()
                }
            }
        }
        for _ in waiters { started.wait() }
        usleep(50_000)  // long enough for every waiter to have parked
        lock.release()
        for waiter in waiters { waiter.join() }
        #expect(lock.withLock { guarded.value } == 12)
    }

    private func threadCPUTime() -> Duration {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return .seconds(time.tv_sec) + .nanoseconds(time.tv_nsec)
    }
}
