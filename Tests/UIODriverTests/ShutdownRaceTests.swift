import Dispatch
import Foundation
import Synchronization
import Testing
import UIO
import UIODriver
import UIOTesting

/// Stopping at the worst moments, 1,000 times each: no callback after stop returns, no deadlock.
/// Each test prints the worst stop latency it saw.
@Suite("Shutdown races")
struct ShutdownRaceTests {
    static let repetitions = 1000

    /// A started device whose ISR and DPC record the time they ran, and flag any run after stop.
    final class Rig: @unchecked Sendable {
        let simulated: SimulatedDevice
        let device: Device
        let interrupt: Interrupt<Int>
        let flags = Flags()
        let isrEntered = DispatchSemaphore(value: 0)
        let dpcEntered = DispatchSemaphore(value: 0)

        init(slowISR: Bool = false, slowDPC: Bool = false) throws {
            simulated = try SimulatedDevice(kernelDriver: .unmasked)
            device = Device(resources: simulated)
            let (flags, isrEntered, dpcEntered) = (flags, isrEntered, dpcEntered)
            interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(
                isr: { interrupt, _ in
                    flags.noteCallback()
                    if slowISR { isrEntered.signal(); usleep(200) }
                    interrupt.queueDPC()
                    return true
                },
                dpc: { _, _ in
                    flags.noteCallback()
                    if slowDPC { dpcEntered.signal(); usleep(200) }
                }), context: 0)
            try device.start()
        }

        /// Stops, marks the moment, and returns how long stop took.
        func stop() -> Duration {
            let clock = ContinuousClock()
            let elapsed = clock.measure { device.stop() }
            flags.stopped.store(true, ordering: .releasing)
            return elapsed
        }
    }

    func run(_ name: String, _ scenario: (Rig) throws -> Void, slowISR: Bool = false, slowDPC: Bool = false) throws {
        var worst = Duration.zero
        var late = 0
        for _ in 0..<Self.repetitions {
            let rig = try Rig(slowISR: slowISR, slowDPC: slowDPC)
            try scenario(rig)
            worst = max(worst, rig.stop())
            // Anything still running would show up now.
            rig.simulated.raise(times: 3)
            usleep(50)
            late += rig.flags.late.load(ordering: .relaxed)
            #expect(rig.simulated.openInterruptFiles == 0)
            #expect(rig.device.state == .stopped)
        }
        #expect(late == 0, "callbacks ran after stop returned")
        print("shutdown race '\(name)': \(Self.repetitions) repetitions, worst stop \(worst), callbacks after stop: \(late)")
    }

    @Test("stop while idle")
    func idle() throws {
        try run("idle") { _ in }
    }

    @Test("stop while an ISR runs")
    func duringISR() throws {
        try run("during an ISR", { rig in
            rig.simulated.raise()
            _ = rig.isrEntered.wait(timeout: .now() + 5)
        }, slowISR: true)
    }

    @Test("stop while a DPC runs")
    func duringDPC() throws {
        try run("during a DPC", { rig in
            rig.simulated.raise()
            _ = rig.dpcEntered.wait(timeout: .now() + 5)
        }, slowDPC: true)
    }

    @Test("stop while interrupts are raised as fast as possible")
    func duringStorm() throws {
        var raised = 0
        try run("during a storm") { rig in
            let simulated = rig.simulated
            let storm = Thread { simulated.raise(times: 100) }
            storm.start()
            raised += 100
        }
        // One storm of 10^5 interrupts, stopped in the middle.
        let rig = try Rig()
        let simulated = rig.simulated
        let done = DispatchSemaphore(value: 0)
        Thread { simulated.raise(times: 100_000); done.signal() }.start()
        usleep(20_000)
        let elapsed = rig.stop()
        #expect(done.wait(timeout: .now() + 60) == .success)
        #expect(rig.flags.late.load(ordering: .relaxed) == 0)
        print("shutdown race: stopped during a storm of 10^5 raises in \(elapsed); \(rig.interrupt.statistics.interrupts) serviced before stop")
    }
}

/// Whether the device has stopped, and how many callbacks ran after that.
final class Flags: Sendable {
    let stopped = Atomic<Bool>(false)
    let late = Atomic<Int>(0)
    func noteCallback() {
        if stopped.load(ordering: .acquiring) { late.add(1, ordering: .relaxed) }
    }
}
