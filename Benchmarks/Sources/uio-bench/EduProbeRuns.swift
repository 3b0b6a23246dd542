import CBaselines
import QEMUDevices
import UIO
import UIODriver

#if canImport(Glibc)
import Glibc
#endif

/// The pieces of the edu latency protocol (`interrupt_path.h`: a paced raiser, a probe taken at
/// handler entry) that `latency` and `vfio` share: one run of a variant, the framework's ISR on
/// any backend, the raw C loop on UIO, and IRQ affinity.
enum EduProbeRuns {
    static let raiserCPU: Int32 = 0
    static let handlerCPU: Int32 = 1

    /// What one variant measured in one round.
    struct Measured {
        var latencies: [Double] = []
        var raisedBeforeWaiting = 0
        var raises = 0
        var contextSwitches: UInt64 = 0
        var contextSwitchInterrupts = 0
    }

    /// One run: a probe for `raises` measured raises plus the warm-up, handed to `body`, which
    /// returns 0 or -errno. `handlerCPU` is where the probe pins a raw loop's thread (nil: the
    /// framework placed its own).
    static func measure(_ title: String, raises: Int, handlerCPU: Int32?,
                        _ body: (UnsafeMutablePointer<interrupt_probe>) throws -> Int32) throws -> Measured {
        let probe = interrupt_probe_create(raises + 1, handlerCPU ?? -1)!
        defer { interrupt_probe_destroy(probe) }
        let status = try body(probe)
        guard status == 0 else { throw BenchError("\(title) failed: errno \(-status)") }
        let p = probe.pointee
        var result = Measured()
        result.raises = raises
        result.raisedBeforeWaiting = p.raised_before_waiting
        result.contextSwitches = p.isr_context_switches
        result.contextSwitchInterrupts = p.context_switch_interrupts
        result.latencies = (1..<p.raises).map { Double(p.isr_entered[$0] &- p.raised[$0]) }  // 0 is the warm-up raise
        return result
    }

    /// The framework on `handle`: an interrupt object whose ISR takes the time on entry and
    /// acknowledges. `around` is given the connected interrupt and the raises to make.
    static func runFramework(_ handle: any HardwareResources, _ probe: UnsafeMutablePointer<interrupt_probe>, pacing: interrupt_pacing,
                             cpus: ServiceThreadPlacement.CPUs, realTimePriority: Int? = nil,
                             around: (Interrupt<Int>, () -> Int32) throws -> Int32 = { $1() }) throws -> Int32 {
        let bar = try handle.mapRegion(0)
        let raiser = EduRaiser(try bar.register(UInt32.self, at: Edu.raiseInterrupt))
        let status = try bar.register(UInt32.self, at: Edu.interruptStatus)
        let acknowledge = try bar.register(UInt32.self, at: Edu.acknowledgeInterrupt)
        acknowledge.write(status.read())  // nothing left over from the run before
        let handleProbe = ProbeHandle(probe)
        var config = InterruptConfig<Int>(isr: { _, _ in
            interrupt_probe_isr_entered(handleProbe.probe)
            acknowledge.write(status.read())
            return true
        })
        config.recordsTimings = false  // as the raw loop: no clock reads beyond the probe's
        config.serviceThreadPlacement = ServiceThreadPlacement(cpus: cpus, realTimePriority: realTimePriority)
        let device = Device(resources: handle)
        let interrupt = try Interrupt(parent: device, config: config, context: 0)
        try device.start()
        defer { device.stop() }
        return try withExtendedLifetime((interrupt, raiser)) {
            try around(interrupt) {
                interrupt_raise_all(probe, pacing, { context in
                    Unmanaged<EduRaiser>.fromOpaque(context!).takeUnretainedValue().raise()
                }, Unmanaged.passUnretained(raiser).toOpaque())
            }
        }
    }

    /// The raw UIO loop, in C, on a handler thread started on `handlerCPU`, at `SCHED_FIFO`
    /// `realTimePriority` when given.
    static func runRawUIO(_ uio: UIODevice, _ probe: UnsafeMutablePointer<interrupt_probe>, pacing: interrupt_pacing,
                          handlerCPU: Int32, realTimePriority: Int32? = nil) throws -> Int32 {
        try withRawUIODevice(uio) { fd, config, registers in
            registers[Edu.acknowledgeInterrupt / 4] = registers[Edu.interruptStatus / 4]  // nothing left over
            // The handler thread inherits the CPU and the policy of the thread that starts it.
            _ = baseline_pin_to_cpu(handlerCPU)
            var savedPolicy: Int32 = 0
            var savedParameters = sched_param()
            pthread_getschedparam(pthread_self(), &savedPolicy, &savedParameters)
            if let realTimePriority {
                var parameters = sched_param(sched_priority: realTimePriority)
                let status = pthread_setschedparam(pthread_self(), SCHED_FIFO, &parameters)
                guard status == 0 else { _ = baseline_pin_to_cpu(raiserCPU); return -status }
            }
            let handler = baseline_uio_probed_handler_start(fd, config, registers, probe)!
            if realTimePriority != nil {
                let status = pthread_setschedparam(pthread_self(), savedPolicy, &savedParameters)
                precondition(status == 0, "restoring the raiser's scheduling failed: \(status)")
            }
            _ = baseline_pin_to_cpu(raiserCPU)
            let status = interrupt_raise_all(probe, pacing, baseline_edu_raise, registers)
            let handlerStatus = baseline_uio_probed_handler_join(handler)
            return status != 0 ? status : handlerStatus
        }
    }

    /// The device's node and config space opened and BAR0 mapped, without the framework.
    static func withRawUIODevice<R>(_ uio: UIODevice, _ body: (Int32, Int32, UnsafeMutablePointer<UInt32>) throws -> R) throws -> R {
        let fd = open(uio.devicePath, O_RDWR)
        let config = open(uio.parent.map { $0.sysPath + "/config" } ?? "", O_RDWR)
        defer { if fd >= 0 { close(fd) }; if config >= 0 { close(config) } }
        guard fd >= 0, config >= 0 else { throw BenchError("cannot open \(uio.devicePath) or its config") }
        guard let bar = mmap(nil, 0x10_0000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), bar != MAP_FAILED else {
            throw BenchError("cannot map BAR0")
        }
        defer { munmap(bar, 0x10_0000) }
        return try body(fd, config, bar.assumingMemoryBound(to: UInt32.self))
    }

    /// Writes IRQ `irq`'s affinity (`smp_affinity_list`). An IO-APIC line moves only when it next
    /// fires; a remapped message moves at once.
    static func writeAffinity(irq: Int, cpu: Int32) throws {
        let path = "/proc/irq/\(irq)/smp_affinity_list"
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { throw BenchError("cannot open \(path): errno \(errno)") }
        let text = "\(cpu)\n"
        let written = write(fd, text, text.utf8.count)
        close(fd)
        guard written == text.utf8.count else { throw BenchError("writing \(path) failed: errno \(errno)") }
    }

    /// Sends IRQ `irq` to `cpu` and makes it take effect: the IO-APIC moves a level interrupt only
    /// when it next fires, so it fires once. Returns the CPUs the kernel says it is delivered to.
    static func moveIRQ(_ irq: Int, to cpu: Int32, _ uio: UIODevice) throws -> String {
        try writeAffinity(irq: irq, cpu: cpu)
        try withRawUIODevice(uio) { fd, config, registers in
            var nanoseconds: UInt64 = 0
            let status = baseline_uio_round(fd, config, registers, &nanoseconds)
            guard status == 0 else { throw BenchError("the interrupt that moves IRQ \(irq) failed: errno \(-status)") }
        }
        return effectiveAffinity(irq: irq)
    }

    /// The CPUs the kernel says IRQ `irq` is delivered to.
    static func effectiveAffinity(irq: Int) -> String {
        let effective = readFile("/proc/irq/\(irq)/effective_affinity_list") ?? readFile("/proc/irq/\(irq)/smp_affinity_list") ?? "?"
        return effective.split(separator: "\n").first.map(String.init) ?? "?"
    }

    /// The raise register, for the C raiser's callback.
    final class EduRaiser: @unchecked Sendable {
        let register: Register<UInt32>
        init(_ register: Register<UInt32>) { self.register = register }
        func raise() { register.write(1) }
    }
}
