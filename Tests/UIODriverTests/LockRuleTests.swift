import Dispatch
import Foundation
import Testing
import UIO
import UIODriver
import UIOTesting

@Suite("The interrupt lock")
struct LockRuleTests {
    func interrupt(passive: Bool = false) throws -> (Device, Interrupt<Int>) {
        let device = Device(resources: try SimulatedDevice(), executionLevel: passive ? .passive : .dispatch)
        var config = InterruptConfig<Int>(isr: { _, _ in true })
        config.passiveHandling = passive
        return (device, try Interrupt(parent: device, config: config, context: 41))
    }

    @Test("acquire, try and release, spin and wait", arguments: [false, true])
    func basics(passive: Bool) throws {
        let (device, interrupt) = try interrupt(passive: passive)
        defer { device.stop() }
        interrupt.acquireLock()
        #expect(interrupt.isLockHeld)
        interrupt.withLockedContext { $0 += 1 }
        interrupt.releaseLock()
        #expect(interrupt.tryToAcquireLock())
        interrupt.releaseLock()
        #expect(interrupt.synchronize { $0 } == 42)
        #expect(!interrupt.isLockHeld)
    }

    @Test("tryToAcquireLock never waits while another thread holds the lock", arguments: [false, true])
    func tryNeverWaits(passive: Bool) throws {
        let (device, interrupt) = try interrupt(passive: passive)
        defer { device.stop() }
        let gate = Gate()
        let holder = Thread.detachedThread { interrupt.synchronize { _ in gate.pass() } }
        #expect(gate.waitForArrival())
        #expect(!interrupt.tryToAcquireLock())
        gate.open()
        holder.join()
        #expect(interrupt.tryToAcquireLock())
        interrupt.releaseLock()
    }

    @Test("a shared spin lock is one lock for two interrupts")
    func sharedSpinLock() throws {
        let shared = SpinLock(name: "shared")
        let first = Device(resources: try SimulatedDevice(number: 1))
        let second = Device(resources: try SimulatedDevice(number: 2))
        defer { first.stop(); second.stop() }
        var config = InterruptConfig<Int>(isr: { _, _ in true })
        config.spinLock = shared
        let a = try Interrupt(parent: first, config: config, context: 0)
        let b = try Interrupt(parent: second, config: config, context: 0)
        let gate = Gate()
        let holder = Thread.detachedThread { a.synchronize { _ in gate.pass() } }
        #expect(gate.waitForArrival())
        #expect(!b.tryToAcquireLock())
        gate.open()
        holder.join()
    }

    @Test("acquiring twice on one thread traps, naming the rule")
    func recursionTraps() async {
        await #expect(processExitsWith: .failure) {
            let device = Device(resources: try SimulatedDevice())
            let interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
            interrupt.acquireLock()
            interrupt.acquireLock()
        }
    }

    @Test("acquiring inside this interrupt's ISR traps")
    func acquireInISRTraps() async {
        await #expect(processExitsWith: .failure) {
            let simulated = try SimulatedDevice(kernelDriver: .unmasked)
            let device = Device(resources: simulated)
            _ = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { interrupt, _ in
                interrupt.acquireLock()
                return true
            }), context: 0)
            try device.start()
            simulated.raise()
            device.waitUntilStopped(timeout: .seconds(10))
        }
    }

    @Test("acquiring inside this interrupt's enable callback traps")
    func acquireInEnableTraps() async {
        await #expect(processExitsWith: .failure) {
            let device = Device(resources: try SimulatedDevice())
            var config = InterruptConfig<Int>(isr: { _, _ in true })
            config.enable = { interrupt, _ in interrupt.acquireLock() }
            _ = try Interrupt(parent: device, config: config, context: 0)
            try device.start()
        }
    }

    @Test("releasing a lock this thread does not hold traps")
    func releaseNotHeldTraps() async {
        await #expect(processExitsWith: .failure) {
            let device = Device(resources: try SimulatedDevice())
            let interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
            interrupt.releaseLock()
        }
    }

    @Test("reaching the locked context without the lock traps")
    func contextWithoutLockTraps() async {
        await #expect(processExitsWith: .failure) {
            let device = Device(resources: try SimulatedDevice())
            let interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
            interrupt.withLockedContext { $0 += 1 }
        }
    }

    @Test("the trap message names the rule")
    func trapMessage() async throws {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let device = Device(resources: try SimulatedDevice())
            let interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
            interrupt.acquireLock()
            _ = interrupt.tryToAcquireLock()
        }
        let text = String(decoding: try #require(result).standardErrorContent, as: UTF8.self)
        #expect(text.contains("WdfInterruptTryToAcquireLock"))
        #expect(text.contains("not recursive"))
    }
}

extension Thread {
    /// Starts `body` on a new thread; `join()` waits for it.
    static func detachedThread(_ body: @escaping @Sendable () -> Void) -> JoinableThread {
        JoinableThread(body)
    }
}

final class JoinableThread: Sendable {
    private let done = DispatchSemaphore(value: 0)
    init(_ body: @escaping @Sendable () -> Void) {
        let done = self.done
        Thread.detachNewThread {
            body()
            done.signal()
        }
    }
    func join() { done.wait() }
}
