// A userspace driver for ARM's PL031 real-time clock, a device-tree platform device bound to
// uio_pdrv_genirq (see README.md beside this file for the device-tree node).
//
// It reads top to bottom in the order the framework calls it, as a WDF driver does:
// find the device → device add → prepare hardware → D0 entry → enable the interrupt →
// (ISR → DPC, per alarm) → disable the interrupt → D0 exit → release hardware.
//
// What differs from a PCI driver is one thing the driver does not write: uio_pdrv_genirq
// disables the line in its kernel handler, and the interrupt object re-enables it through
// irqcontrol after each ISR. The ISR only silences the device (ICR), as on any bus.
//
// The PL031 (ARM DDI 0224), map 0:
//   0x000 DR data (seconds)   0x004 MR match   0x010 IMSC interrupt mask   0x014 RIS raw status
//   0x018 MIS masked status   0x01C ICR clear  0xFE0… peripheral id, 0xFF0… PrimeCell id

import Dispatch
import Synchronization
import UIO
import UIODriver

/// The PL031 registers this driver touches.
enum PL031Register {
    static let data = 0x000
    static let match = 0x004
    static let interruptMask = 0x010
    static let maskedInterruptStatus = 0x018
    static let interruptClear = 0x01C
    static let peripheralID = 0xFE0
    static let primeCellID = 0xFF0
}

/// What the ISR hands the DPC, under the interrupt lock (the interrupt object's context).
struct AlarmContext: Sendable {
    /// The clock's reading when the ISR acknowledged the alarm, not yet handled by the DPC.
    var firedAt: UInt32?
    /// Alarms the DPC has handled.
    var handled = 0
}

/// The driver: one per PL031.
final class PL031Driver: Sendable {
    let uio: UIODevice
    let device: Device
    let interrupt: Interrupt<AlarmContext>
    private let state: AlarmState

    // MARK: Device add

    /// WDF's EvtDriverDeviceAdd: claim the device, create the device object and its interrupt
    /// object. Nothing touches the hardware yet.
    init(uio: UIODevice, alarms: Int, period: UInt32, log: @escaping @Sendable (String) -> Void) throws {
        self.uio = uio
        let state = AlarmState(alarms: alarms, period: period, log: log)
        self.state = state
        device = try Device(claiming: uio, callbacks: DeviceCallbacks(
            prepareHardware: { _, resources in try PL031Driver.prepareHardware(resources, state: state) },
            d0Entry: { _ in log("D0 entry: the clock is running") },
            d0Exit: { _ in log("D0 exit") },
            releaseHardware: { _ in PL031Driver.releaseHardware(state: state) },
            surpriseRemoval: { _, reason in log("surprise removal: \(reason)") }))
        var config = InterruptConfig<AlarmContext>(
            isr: { interrupt, _ in PL031Driver.isr(interrupt, state: state) },
            dpc: { interrupt, _ in PL031Driver.dpc(interrupt, state: state) })
        config.enable = { _, _ in try PL031Driver.enableInterrupt(state: state) }
        config.disable = { _, _ in try PL031Driver.disableInterrupt(state: state) }
        interrupt = try Interrupt(parent: device, config: config, context: AlarmContext())
        log("device add: claimed \(uio.devicePath), created the device and its interrupt object")
    }

    // MARK: Prepare hardware

    /// EvtDevicePrepareHardware: map the registers and check the PrimeCell identification, so a
    /// device tree that names the wrong node fails here and not at the first alarm.
    static func prepareHardware(_ resources: any HardwareResources, state: AlarmState) throws {
        let registers = try resources.mapRegion(0)
        let part = try (0..<4).map { try registers.read(UInt32.self, at: PL031Register.peripheralID + 4 * $0) & 0xff }
        let cell = try (0..<4).map { try registers.read(UInt32.self, at: PL031Register.primeCellID + 4 * $0) & 0xff }
        guard cell == [0x0d, 0xf0, 0x05, 0xb1] else { throw PL031Error.notAPrimeCell(cell) }
        guard part[0] == 0x31, part[1] & 0x0f == 0x00 else { throw PL031Error.notAPL031(part) }
        state.registers.withLock { $0 = registers }
        let now = try registers.read(UInt32.self, at: PL031Register.data)
        state.log("prepare hardware: registers mapped (\(registers.size / 1024) KiB), PrimeCell PL031 revision \(part[2] >> 4), clock reads \(now) s")
    }

    // MARK: Interrupt enable

    /// EvtInterruptEnable (interrupt lock held): unmask the alarm at the device and set the first one.
    static func enableInterrupt(state: AlarmState) throws {
        let registers = try state.mappedRegisters()
        try registers.write(UInt32(1), at: PL031Register.interruptClear)
        try registers.write(UInt32(1), at: PL031Register.interruptMask)
        try state.setNextAlarm()
        state.log("interrupt enabled: alarm unmasked, the first in \(state.period) s")
    }

    // MARK: ISR

    /// EvtInterruptIsr (ISR thread, interrupt lock held): is it ours? Clear it at the device,
    /// note when it fired, queue the DPC. Short, and never blocks.
    static func isr(_ interrupt: Interrupt<AlarmContext>, state: AlarmState) -> Bool {
        guard let registers = try? state.mappedRegisters(),
              let status = try? registers.read(UInt32.self, at: PL031Register.maskedInterruptStatus), status & 1 != 0
        else { return false }
        // The line is level-triggered: it stays asserted until ICR clears it, and the framework's
        // irqcontrol re-arm after this routine would otherwise deliver it again at once.
        try? registers.write(UInt32(1), at: PL031Register.interruptClear)
        let now = try? registers.read(UInt32.self, at: PL031Register.data)
        interrupt.withLockedContext { $0.firedAt = now }
        interrupt.queueDPC()
        return true
    }

    // MARK: DPC

    /// EvtInterruptDpc (DPC thread): report the alarm and set the next one, until enough have rung.
    static func dpc(_ interrupt: Interrupt<AlarmContext>, state: AlarmState) {
        let (firedAt, handled) = interrupt.synchronize { context -> (UInt32?, Int) in
            defer { context.firedAt = nil }
            context.handled += 1
            return (context.firedAt, context.handled)
        }
        state.log("alarm \(handled) at \(firedAt.map(String.init) ?? "?") s")
        if handled < state.alarms {
            do { try state.setNextAlarm() } catch { state.log("cannot set the next alarm: \(error)") }
        } else {
            state.finished.signal()
        }
    }

    // MARK: Interrupt disable

    /// EvtInterruptDisable (interrupt lock held): mask the alarm at the device.
    static func disableInterrupt(state: AlarmState) throws {
        try state.mappedRegisters().write(UInt32(0), at: PL031Register.interruptMask)
        state.log("interrupt disabled: alarm masked")
    }

    // MARK: Release hardware

    /// EvtDeviceReleaseHardware: drop the mapping.
    static func releaseHardware(state: AlarmState) {
        state.registers.withLock { $0 = nil }
        state.log("release hardware: registers unmapped")
    }

    // MARK: What the driver offers

    /// Waits until every alarm has rung; `false` on timeout.
    func waitForAlarms(timeout: Duration) -> Bool {
        state.finished.wait(timeout: .now() + Double(timeout.components.seconds)) == .success
    }

    var alarmsHandled: Int { interrupt.synchronize { $0.handled } }
}

/// The driver's state outside the interrupt lock.
final class AlarmState: Sendable {
    let registers = Mutex<MappedRegion?>(nil)
    let alarms: Int
    let period: UInt32
    let log: @Sendable (String) -> Void
    let finished = DispatchSemaphore(value: 0)

    init(alarms: Int, period: UInt32, log: @escaping @Sendable (String) -> Void) {
        self.alarms = alarms
        self.period = period
        self.log = log
    }

    func mappedRegisters() throws -> MappedRegion {
        guard let registers = registers.withLock({ $0 }) else { throw PL031Error.notPrepared }
        return registers
    }

    /// The alarm rings when the clock reaches the match register.
    func setNextAlarm() throws {
        let registers = try mappedRegisters()
        let now = try registers.read(UInt32.self, at: PL031Register.data)
        try registers.write(now &+ period, at: PL031Register.match)
    }
}

enum PL031Error: Error, CustomStringConvertible {
    case notAPrimeCell([UInt32])
    case notAPL031([UInt32])
    case notPrepared

    var description: String {
        switch self {
        case .notAPrimeCell(let id): "the PrimeCell id registers read \(id), not 0d f0 05 b1: is the device tree's node the PL031?"
        case .notAPL031(let id): "the peripheral id registers read \(id), not a PL031's 31 x0"
        case .notPrepared: "the registers are not mapped (the device is not started)"
        }
    }
}
