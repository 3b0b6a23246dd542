import Foundation
import SystemPackage
import Testing
import UIO
import UIOTesting

@Suite("Interrupt line")
struct InterruptLineTests {
    @Test("one interrupt wakes the waiter with the new count")
    func single() throws {
        let device = try SimulatedDevice(kernelDriver: .unmasked)
        let line = try device.interruptLine()
        device.raise()
        #expect(try line.wait(timeout: .seconds(5)) == .interrupt(InterruptEvent(count: 1, newInterrupts: 1)))
    }

    @Test("interrupts raised before the wake-up collapse into one, and the difference is reported")
    func coalescing() throws {
        let device = try SimulatedDevice(kernelDriver: .unmasked)
        let line = try device.interruptLine()
        device.raise(times: 5)
        guard case .interrupt(let event) = try line.wait(timeout: .seconds(5)) else { Issue.record("no interrupt"); return }
        #expect(event.count == 5)
        #expect(event.newInterrupts == 5)
        #expect(event.coalesced == 4)
        device.raise()
        #expect(try line.wait(timeout: .seconds(5)) == .interrupt(InterruptEvent(count: 6, newInterrupts: 1)))
    }

    @Test("a line opened after earlier interrupts counts from its own open")
    func baseline() throws {
        let device = try SimulatedDevice(kernelDriver: .unmasked)
        device.raise(times: 3)
        let line = try device.interruptLine()
        device.raise()
        #expect(try line.wait(timeout: .seconds(5)) == .interrupt(InterruptEvent(count: 4, newInterrupts: 1)))
    }

    @Test("the timeout ends a wait with no interrupt")
    func timeout() throws {
        let line = try SimulatedDevice().interruptLine()
        #expect(try line.wait(timeout: .milliseconds(20)) == .timedOut)
        #expect(try line.wait(timeout: .zero) == .timedOut)
    }

    @Test("cancel from another thread wakes a blocked waiter without closing the line")
    func cancelBlocked() async throws {
        let device = try SimulatedDevice(kernelDriver: .unmasked)
        let line = try device.interruptLine()
        let waiter = Thread.detachedResult { try line.wait() }
        try await Task.sleep(for: .milliseconds(50))
        try line.cancel()
        #expect(try await waiter.value() == .cancelled)
        device.raise()
        #expect(try line.wait(timeout: .seconds(5)) == .interrupt(InterruptEvent(count: 1, newInterrupts: 1)))
    }

    @Test("cancel before a wait makes that wait return at once, once")
    func cancelEarly() throws {
        let line = try SimulatedDevice().interruptLine()
        try line.cancel()
        #expect(try line.wait() == .cancelled)
        #expect(try line.wait(timeout: .milliseconds(10)) == .timedOut)
    }

    @Test("an interrupt that arrived comes before a cancel noticed with it; the cancel ends the next wait, even in a storm")
    func interruptBeforeCancel() throws {
        let device = try SimulatedDevice(kernelDriver: .unmasked)
        let line = try device.interruptLine()
        device.raise(times: 2)
        try line.cancel()
        #expect(try line.wait(timeout: .seconds(5)) == .interrupt(InterruptEvent(count: 2, newInterrupts: 2)))
        device.raise()  // a storm goes on: the cancel still ends the next wait
        #expect(try line.wait(timeout: .seconds(5)) == .cancelled)
        #expect(try line.wait(timeout: .seconds(5)) == .interrupt(InterruptEvent(count: 3, newInterrupts: 1)))
    }

    @Test("EINTR from poll and read is retried, not reported")
    func interruptedSyscalls() throws {
        let device = try SimulatedDevice(kernelDriver: .unmasked)
        let line = try device.interruptLine()
        device.failNext(.poll, with: .interrupted)
        device.failNext(.read, with: .interrupted)
        device.failNext(.read, with: .interrupted)
        device.raise()
        #expect(try line.wait(timeout: .seconds(5)) == .interrupt(InterruptEvent(count: 1, newInterrupts: 1)))
    }

    @Test("removal while a thread waits ends the wait with deviceRemoved")
    func removalWhileBlocked() async throws {
        let device = try SimulatedDevice()
        let line = try device.interruptLine()
        let waiter = Thread.detachedResult { try line.wait() }
        try await Task.sleep(for: .milliseconds(50))
        device.remove()
        let error = try #require(throws: UIOError.self) { try waiter.valueBlocking() }
        #expect(error.code == .deviceRemoved)
        #expect(error.subject == device.device.devicePath)
        #expect(throws: UIOError.self) { try line.wait(timeout: .zero) }
    }

    @Test("EIO from read is removal; another errno is reported as itself", arguments: [(Errno.ioError, UIOError.Code.deviceRemoved), (.invalidArgument, .systemCall)])
    func readErrors(errno: Errno, code: UIOError.Code) throws {
        let device = try SimulatedDevice(kernelDriver: .unmasked)
        let line = try device.interruptLine()
        device.failNext(.read, with: errno)
        device.raise()
        let error = try #require(throws: UIOError.self) { try line.wait(timeout: .seconds(5)) }
        #expect(error.code == code)
        #expect(error.errno == errno)
    }

    @Test("genirq: the line stays masked until rearm writes 1 to irqcontrol, then the held interrupt arrives")
    func rearmIRQControl() throws {
        let device = try SimulatedDevice(kernelDriver: .uioPdrvGenirq)
        let line = try device.interruptLine()
        #expect(line.reArmMethod == .irqControl)
        device.raise()
        #expect(try line.wait(timeout: .seconds(5)) == .interrupt(InterruptEvent(count: 1, newInterrupts: 1)))
        device.raise()
        #expect(try line.wait(timeout: .milliseconds(20)) == .timedOut)
        try line.rearm()
        #expect(device.controlWrites == [1])
        #expect(try line.wait(timeout: .seconds(5)) == .interrupt(InterruptEvent(count: 2, newInterrupts: 1)))
    }

    @Test("uio_pci_generic: rearm clears the Interrupt Disable bit the kernel set")
    func rearmINTx() throws {
        let device = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        let line = try device.interruptLine()
        let config = try device.configSpace()
        #expect(line.reArmMethod == .pciInterruptDisableBit)
        device.raise()
        #expect(try line.wait(timeout: .seconds(5)) == .interrupt(InterruptEvent(count: 1, newInterrupts: 1)))
        #expect(try config.isInterruptDisabled())
        device.raise()
        #expect(try line.wait(timeout: .milliseconds(20)) == .timedOut)
        try line.rearm()
        #expect(try line.wait(timeout: .seconds(5)) == .interrupt(InterruptEvent(count: 2, newInterrupts: 1)))
        #expect(device.controlWrites.isEmpty)
    }

    @Test("ENOSYS from irqcontrol on a PCI device falls back to the Interrupt Disable bit")
    func enosysFallback() throws {
        let device = try SimulatedDevice(kernelDriver: .uioPCIGeneric)
        let line = try device.interruptLine(reArm: .irqControl)
        device.raise()
        _ = try line.wait(timeout: .seconds(5))
        try line.rearm()
        #expect(line.reArmMethod == .pciInterruptDisableBit)
        #expect(try !device.configSpace().isInterruptDisabled())
    }

    @Test("ENOSYS from irqcontrol without a PCI parent is irqControlUnsupported")
    func enosysPlatform() throws {
        let device = try SimulatedDevice(kernelDriver: .uioPdrvGenirq)
        let line = try device.interruptLine()
        device.failNext(.write, with: .noFunction)
        let error = try #require(throws: UIOError.self) { try line.rearm() }
        #expect(error.code == .irqControlUnsupported)
        #expect(error.errno == .noFunction)
    }

    @Test("disable holds interrupts back and enable lets the held one through")
    func disableEnable() throws {
        let device = try SimulatedDevice(kernelDriver: .uioPdrvGenirq)
        let line = try device.interruptLine()
        try line.disable()
        device.raise()
        #expect(try line.wait(timeout: .milliseconds(20)) == .timedOut)
        try line.enable()
        #expect(try line.wait(timeout: .seconds(5)) == .interrupt(InterruptEvent(count: 1, newInterrupts: 1)))
        #expect(device.controlWrites == [0, 1])
    }

    @Test("close wakes a blocked waiter, closes the file once it has left, and is idempotent")
    func closeWhileWaiting() async throws {
        let device = try SimulatedDevice()
        let line = try device.interruptLine()
        // The handle's file and the line's, each kept by the claim, and a descriptor of each in use.
        #expect(device.openInterruptFiles == 4)
        let waiter = Thread.detachedResult { try line.wait() }
        try await Task.sleep(for: .milliseconds(50))
        line.close()
        #expect(try waiter.valueBlocking() == .cancelled)
        line.close()
        #expect(device.openInterruptFiles == 3, "the line's descriptor is closed; the claim keeps the file until it ends")
        let error = try #require(throws: UIOError.self) { try line.wait(timeout: .zero) }
        #expect(error.code == .closed)
        #expect(throws: UIOError.self) { try line.rearm() }
    }

    @Test("the claim's files on the node close when the handle and every line made from it are gone")
    func filesCloseWithTheClaim() throws {
        let device = try SimulatedDevice()
        do {
            let line = try device.interruptLine()
            line.close()
            device.close()
            #expect(device.openInterruptFiles == 2, "the closed line still holds the claim: its file and the handle's stay open")
            withExtendedLifetime(line) {}
        }
        #expect(device.openInterruptFiles == 0)
    }

    @Test("opening a removed device fails with deviceRemoved, leaking nothing")
    func openRemoved() throws {
        let device = try SimulatedDevice()
        device.remove()
        let error = try #require(throws: UIOError.self) { try device.interruptLine() }
        #expect(error.code == .deviceRemoved)
        #expect(device.openInterruptFiles == 0)
    }
}

/// A result computed on its own OS thread, as the ISR thread blocks: never on the
/// cooperative pool.
final class ThreadResult<T: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var result: Result<T, any Error>?

    func set(_ value: Result<T, any Error>) {
        condition.lock()
        result = value
        condition.broadcast()
        condition.unlock()
    }

    func valueBlocking(timeout: TimeInterval = 10) throws -> T {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while result == nil {
            if !condition.wait(until: deadline) { fatalError("the thread did not finish within \(timeout) s") }
        }
        return try result!.get()
    }

    func value() async throws -> T { try valueBlocking() }
}

extension Thread {
    static func detachedResult<T: Sendable>(_ body: @escaping @Sendable () throws -> T) -> ThreadResult<T> {
        let box = ThreadResult<T>()
        Thread.detachNewThread {
            do { box.set(.success(try body())) } catch { box.set(.failure(error)) }
        }
        return box
    }
}
