// A userspace driver for QEMU's edu PCI device, bound to uio_pci_generic.
//
// It reads top to bottom in the order the framework calls it, as a WDF driver does:
// find the device → device add → prepare hardware → D0 entry → enable the interrupt →
// (ISR → DPC, per interrupt) → disable the interrupt → D0 exit → release hardware.
//
// The edu device (QEMU's hw/misc/edu.c), BAR0:
//   0x00 identification 0x010000ed     0x04 liveness: reads back the inverse of what was written
//   0x08 factorial: write n, read n!   0x20 status: bit 0 computing, bit 7 interrupt when done
//   0x24 interrupt status              0x60 raise an interrupt   0x64 acknowledge an interrupt

import Dispatch
import Synchronization
import UIO
import UIODriver

/// The edu registers this driver touches.
enum EduRegister {
    static let identification = 0x00
    static let liveness = 0x04
    static let factorial = 0x08
    static let status = 0x20
    static let interruptStatus = 0x24
    static let raise = 0x60
    static let acknowledge = 0x64
}

enum EduBits {
    /// Status: raise an interrupt when a factorial is done.
    static let interruptOnFactorial: UInt32 = 0x80
    /// Interrupt status: a factorial finished.
    static let factorialDone: UInt32 = 0x01
    /// Interrupt status: the bit this driver raises to test the interrupt path.
    static let test: UInt32 = 0x1000
}

/// What the ISR hands the DPC, under the interrupt lock (the interrupt object's context).
struct EduInterruptContext: Sendable {
    /// Interrupt status bits acknowledged by the ISR and not yet handled by the DPC.
    var pendingStatus: UInt32 = 0
    /// Test interrupts the DPC has handled.
    var testInterrupts = 0
}

/// One request from the driver's user: compute n! on the device.
final class FactorialRequest: Sendable {
    let n: UInt32
    let started: ContinuousClock.Instant
    private let done = DispatchSemaphore(value: 0)
    private let box = ResultBox()

    init(n: UInt32) {
        self.n = n
        self.started = .now
    }

    func complete(with value: UInt32) {
        box.set(value, ContinuousClock.now - started)
        done.signal()
    }

    func wait(timeout: Duration) -> (value: UInt32, latency: Duration)? {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        guard done.wait(timeout: .now() + seconds) == .success else { return nil }
        return box.get()
    }

    private final class ResultBox: @unchecked Sendable {
        private let lock = DispatchSemaphore(value: 1)
        private var value: (UInt32, Duration) = (0, .zero)
        func set(_ result: UInt32, _ latency: Duration) { lock.wait(); value = (result, latency); lock.signal() }
        func get() -> (UInt32, Duration) { lock.wait(); defer { lock.signal() }; return value }
    }
}

/// The driver: one per edu device.
final class EduDriver: Sendable {
    let uio: UIODevice
    let device: Device
    let interrupt: Interrupt<EduInterruptContext>
    /// Requests go through a sequential queue; the DPC, parented to the queue with automatic
    /// serialization, completes them without a lock of the driver's own.
    let requests: Queue
    private let state: DriverState
    private let log: @Sendable (String) -> Void

    // MARK: Device add

    /// WDF's EvtDriverDeviceAdd: claim the device, create the device object, its queue and its
    /// interrupt object. Nothing touches the hardware yet.
    init(uio: UIODevice, log: @escaping @Sendable (String) -> Void) throws {
        self.uio = uio
        self.log = log
        let state = DriverState()
        self.state = state
        device = try Device(claiming: uio, callbacks: DeviceCallbacks(
            prepareHardware: { _, resources in try EduDriver.prepareHardware(resources, state: state, log: log) },
            d0Entry: { _ in log("D0 entry: the device is working") },
            d0Exit: { _ in log("D0 exit") },
            releaseHardware: { _ in EduDriver.releaseHardware(state: state, log: log) },
            surpriseRemoval: { _, reason in log("surprise removal: \(reason)") }))
        requests = try Queue(device: device)
        var config = InterruptConfig<EduInterruptContext>(
            isr: { interrupt, _ in EduDriver.isr(interrupt, state: state) },
            dpc: { interrupt, _ in EduDriver.dpc(interrupt, state: state) })
        config.enable = { _, _ in try EduDriver.enableInterrupts(state: state, log: log) }
        config.disable = { _, _ in try EduDriver.disableInterrupts(state: state, log: log) }
        config.automaticSerialization = true
        interrupt = try Interrupt(parent: requests, config: config, context: EduInterruptContext())
        log("device add: claimed \(uio.devicePath), created the device, its request queue and its interrupt object")
    }

    // MARK: Prepare hardware

    /// EvtDevicePrepareHardware: map BAR0 and check that this is an edu device that answers.
    static func prepareHardware(_ resources: any HardwareResources, state: DriverState, log: (String) -> Void) throws {
        let registers = try resources.mapRegion(0)
        let identification = try registers.read(UInt32.self, at: EduRegister.identification)
        guard identification & 0xff == 0xed else { throw EduError.notAnEduDevice(identification) }
        try registers.write(UInt32(0x5a5a_0f0f), at: EduRegister.liveness)
        guard try registers.read(UInt32.self, at: EduRegister.liveness) == ~UInt32(0x5a5a_0f0f) else { throw EduError.notAlive }
        state.registers.withLock { $0 = registers }
        let version = "\(identification >> 24).\((identification >> 16) & 0xff)"
        log("prepare hardware: BAR0 mapped (\(registers.size / 1024) KiB), id 0x\(hex8(identification)) (edu \(version)), liveness check passed")
    }

    // MARK: Interrupt enable

    /// EvtInterruptEnable (interrupt lock held): ask the device to interrupt on factorial completion.
    static func enableInterrupts(state: DriverState, log: (String) -> Void) throws {
        let status = try state.mappedRegisters().read(UInt32.self, at: EduRegister.status)
        try state.mappedRegisters().write(status | EduBits.interruptOnFactorial, at: EduRegister.status)
        log("interrupt enabled: the device interrupts when a factorial is done")
    }

    // MARK: ISR

    /// EvtInterruptIsr (ISR thread, interrupt lock held): is it ours? Acknowledge it at the device,
    /// hand the status to the DPC, queue the DPC. Short, and never blocks.
    static func isr(_ interrupt: Interrupt<EduInterruptContext>, state: DriverState) -> Bool {
        guard let registers = try? state.mappedRegisters(),
              let status = try? registers.read(UInt32.self, at: EduRegister.interruptStatus), status != 0
        else { return false }  // not ours: the line is shared
        try? registers.write(status, at: EduRegister.acknowledge)
        interrupt.withLockedContext { $0.pendingStatus |= status }
        interrupt.queueDPC()
        return true
    }

    // MARK: DPC

    /// EvtInterruptDpc (DPC thread, serialized with the request queue): take what the ISR saw
    /// and complete the request waiting for it.
    static func dpc(_ interrupt: Interrupt<EduInterruptContext>, state: DriverState) {
        let status = interrupt.synchronize { context -> UInt32 in
            defer { context.pendingStatus = 0 }
            if context.pendingStatus & EduBits.test != 0 { context.testInterrupts += 1 }
            return context.pendingStatus
        }
        if status & EduBits.factorialDone != 0, let request = state.takeFactorialRequest(),
           let value = try? state.mappedRegisters().read(UInt32.self, at: EduRegister.factorial) {
            request.complete(with: value)
        }
        state.signalTestInterrupt(status & EduBits.test != 0)
    }

    // MARK: Interrupt disable

    /// EvtInterruptDisable (interrupt lock held): stop interrupting on factorial completion.
    static func disableInterrupts(state: DriverState, log: (String) -> Void) throws {
        let registers = try state.mappedRegisters()
        let status = try registers.read(UInt32.self, at: EduRegister.status)
        try registers.write(status & ~EduBits.interruptOnFactorial, at: EduRegister.status)
        log("interrupt disabled")
    }

    // MARK: Release hardware

    /// EvtDeviceReleaseHardware: drop the mapping.
    static func releaseHardware(state: DriverState, log: (String) -> Void) {
        state.registers.withLock { $0 = nil }
        log("release hardware: BAR0 unmapped")
    }

    // MARK: What the driver offers

    /// Computes n! on the device: the request starts on the queue; the DPC completes it.
    func factorial(_ n: UInt32) throws -> (value: UInt32, latency: Duration) {
        let request = FactorialRequest(n: n)
        let accepted = requests.submit { [state] in
            state.setFactorialRequest(request)
            try? state.mappedRegisters().write(n, at: EduRegister.factorial)
        }
        guard accepted, let result = request.wait(timeout: .seconds(10)) else { throw EduError.timedOut("\(n)!") }
        return result
    }

    /// Raises `count` interrupts one at a time, each waiting for its DPC.
    func raiseTestInterrupts(_ count: Int) throws -> Duration {
        let clock = ContinuousClock()
        return try clock.measure {
            for _ in 0..<count {
                try state.mappedRegisters().write(EduBits.test, at: EduRegister.raise)
                guard state.waitForTestInterrupt(timeout: 5) else { throw EduError.timedOut("a test interrupt") }
            }
        }
    }

    var testInterruptsHandled: Int { interrupt.synchronize { $0.testInterrupts } }
}

/// The driver's state outside the interrupt lock.
final class DriverState: Sendable {
    let registers = Mutex<MappedRegion?>(nil)
    private let factorialRequest = Mutex<FactorialRequest?>(nil)
    private let testInterrupt = DispatchSemaphore(value: 0)

    func mappedRegisters() throws -> MappedRegion {
        guard let registers = registers.withLock({ $0 }) else { throw EduError.notPrepared }
        return registers
    }

    func setFactorialRequest(_ request: FactorialRequest) { factorialRequest.withLock { $0 = request } }
    func takeFactorialRequest() -> FactorialRequest? { factorialRequest.withLock { request in defer { request = nil }; return request } }
    func signalTestInterrupt(_ handled: Bool) { if handled { testInterrupt.signal() } }
    func waitForTestInterrupt(timeout: Double) -> Bool { testInterrupt.wait(timeout: .now() + timeout) == .success }
}

enum EduError: Error, CustomStringConvertible {
    case notAnEduDevice(UInt32)
    case notAlive
    case notPrepared
    case timedOut(String)

    var description: String {
        switch self {
        case .notAnEduDevice(let id): "the device's identification register reads 0x\(String(id, radix: 16)), not edu's 0x010000ed"
        case .notAlive: "the liveness register did not return the inverse of what was written"
        case .notPrepared: "the registers are not mapped (the device is not started)"
        case .timedOut(let what): "\(what) did not complete within the timeout"
        }
    }
}

/// Eight hexadecimal digits.
func hex8(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 8 - digits.count) + digits
}
