import CBaselines
import QEMUDevices
import UIO
import UIODriver

#if canImport(Glibc)
import Glibc
#endif

/// The irqcontrol re-arm path on a real platform device (the aarch64 guest's PL031 on
/// uio_pdrv_genirq): its alarm is left asserted, so each re-arm delivers the next interrupt at
/// once. The framework's interrupt object (ISR thread: ppoll on the uio fd and its wake-up
/// eventfd, read, ISR under the lock, `write(1)`) against the raw C loop (`write(1)`, `read()`),
/// and against the same C loop with the framework's ppoll added, which tells the cost of the
/// design (a cancellable wait) from the cost of the Swift around it. Interleaved in rounds in
/// one boot; the figure is interrupts per second.
struct PlatformBenchmark {
    let rounds: Int
    let seconds: Double
    let output: String

    func run() throws {
        let uio = try UIODevice.first(.name("pl031-uio"))
        try assertAlarm(uio)
        var framework: [Double] = [], raw: [Double] = [], polled: [Double] = []
        for round in 0..<rounds {
            // Rotate the order, so none always follows another.
            for step in 0..<3 {
                switch (round + step) % 3 {
                case 0: framework.append(try measureFramework(uio))
                case 1: raw.append(try measureRaw(uio, polled: false))
                default: polled.append(try measureRaw(uio, polled: true))
                }
            }
        }
        try quiet(uio)
        let (fw, rw, pw) = (percentile(framework.sorted(), 50), percentile(raw.sorted(), 50), percentile(polled.sorted(), 50))
        try writeFile("\(output)/platform.json", """
            [
              {"name": "framework", "rounds": \(rounds), "interrupts_per_second": \(format(fw, decimals: 1))},
              {"name": "raw C loop", "rounds": \(rounds), "interrupts_per_second": \(format(rw, decimals: 1))},
              {"name": "raw C loop with ppoll", "rounds": \(rounds), "interrupts_per_second": \(format(pw, decimals: 1))}
            ]

            """)
        print("platform: \(rounds) rounds of \(seconds) s each, interleaved: framework \(format(fw, decimals: 0)), "
              + "raw C loop \(format(rw, decimals: 0)), raw C loop with ppoll \(format(pw, decimals: 0)) interrupts/s")
    }

    /// Sets the alarm for the next second and waits until it has fired; nothing clears it.
    private func assertAlarm(_ uio: UIODevice) throws {
        let handle = try uio.open()
        defer { handle.close() }
        let registers = try handle.mapRegion(0)
        try registers.write(UInt32(1), at: PL031.interruptClear)
        try registers.write(try registers.read(UInt32.self, at: PL031.data) &+ 1, at: PL031.match)
        try registers.write(UInt32(1), at: PL031.interruptMask)
        let deadline = ContinuousClock.now + .seconds(5)
        while try registers.read(UInt32.self, at: PL031.rawInterruptStatus) == 0 {
            guard ContinuousClock.now < deadline else { throw BenchError("the PL031 alarm did not fire") }
            usleep(10_000)
        }
    }

    /// Clears and masks the alarm, so the device is left as found.
    private func quiet(_ uio: UIODevice) throws {
        let handle = try uio.open()
        defer { handle.close() }
        let registers = try handle.mapRegion(0)
        try registers.write(UInt32(0), at: PL031.interruptMask)
        try registers.write(UInt32(1), at: PL031.interruptClear)
    }

    /// The framework: an ISR that claims the interrupt and leaves it asserted.
    private func measureFramework(_ uio: UIODevice) throws -> Double {
        let device = Device(resources: try uio.open())
        let interrupt = try Interrupt(parent: device, config: InterruptConfig<Int>(isr: { _, _ in true }), context: 0)
        let begin = baseline_now_ns()
        try device.start()  // enables the line: the storm starts
        usleep(useconds_t(seconds * 1e6))
        let handled = interrupt.statistics.interrupts
        let elapsed = Double(baseline_now_ns() - begin) / 1e9
        device.stop()  // disables the line
        return Double(handled) / elapsed
    }

    /// The raw loop, in C; `polled` adds the framework's ppoll on the uio fd and an eventfd.
    private func measureRaw(_ uio: UIODevice, polled: Bool) throws -> Double {
        let fd = open(uio.devicePath, O_RDWR)
        guard fd >= 0 else { throw BenchError("cannot open \(uio.devicePath)") }
        defer {
            var disable: UInt32 = 0
            _ = write(fd, &disable, 4)
            close(fd)
        }
        var handled: UInt64 = 0
        let begin = baseline_now_ns()
        let status = baseline_irqcontrol_storm(fd, polled ? 1 : 0, UInt64(seconds * 1e9), &handled)
        guard status == 0 else { throw BenchError("the raw loop failed: errno \(-status)") }
        return Double(handled) / (Double(baseline_now_ns() - begin) / 1e9)
    }
}
