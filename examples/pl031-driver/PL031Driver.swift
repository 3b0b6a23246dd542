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
// Its state lives in the device's context (pcidrv's FDO_DATA), reached from every callback.
// The PL031's registers (ARM DDI 0224) are in the QEMUDevices target.

import Dispatch
import QEMUDevices
import Synchronization
import UIO
import UIODriver

/// The device context (pcidrv's `FDO_DATA`): what the driver keeps about one PL031.
final class AlarmClock: Sendable {
    /// The registers, mapped from prepare hardware to release hardware.
    let registers = Mutex<MappedRegion?>(nil)
    /// How many alarms to ring, `period` seconds apart.
    let alarms: Int
    let period: UInt32
    let log: @Sendable (String) -> Void
    /// Signalled by the DPC when the last alarm has rung.
    let finished = DispatchSemaphore(value: 0)

    init(alarms: Int, period: UInt32, log: @escaping @Sendable (String) -> Void) {
        self.alarms = alarms
        self.period = period
        self.log = log
    }

    /// The registers, or an error outside prepare hardware … release hardware.
    func mappedRegisters() throws -> MappedRegion {
        guard let registers = registers.withLock({ $0 }) else { throw PL031Error.notPrepared }
        return registers
    }

    /// The alarm rings when the clock reaches the match register.
    func setNextAlarm() throws {
        let registers = try mappedRegisters()
        let now = try registers.read(UInt32.self, at: PL031.data)
        try registers.write(now &+ period, at: PL031.match)
    }
}

extension Device {
    /// The PL031 context of the device (pcidrv's `FdoGetData`).
    var clock: AlarmClock { context() }
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

    // MARK: Device add

    /// WDF's EvtDriverDeviceAdd: claim the device, create the device object with its context and
    /// its interrupt object. Nothing touches the hardware yet.
    init(uio: UIODevice, alarms: Int, period: UInt32, log: @escaping @Sendable (String) -> Void) throws {
        self.uio = uio
        device = try Device(claiming: uio, context: AlarmClock(alarms: alarms, period: period, log: log), callbacks: DeviceCallbacks(
            prepareHardware: PL031Driver.prepareHardware,
            d0Entry: { device in device.clock.log("D0 entry: the clock is running") },
            d0Exit: { device in device.clock.log("D0 exit") },
            releaseHardware: PL031Driver.releaseHardware,
            surpriseRemoval: { device, reason in device.clock.log("surprise removal: \(reason)") }))
        var config = InterruptConfig<AlarmContext>(isr: PL031Driver.isr, dpc: PL031Driver.dpc)
        config.recordsTimings = true  // printed at stop
        config.enable = PL031Driver.enableInterrupt
        config.disable = PL031Driver.disableInterrupt
        interrupt = try Interrupt(parent: device, config: config, context: AlarmContext())
        log("device add: claimed \(uio.devicePath), created the device and its interrupt object")
    }

    // MARK: Prepare hardware

    /// EvtDevicePrepareHardware: map the registers and check the PrimeCell identification, so a
    /// device tree that names the wrong node fails here and not at the first alarm.
    static func prepareHardware(_ device: Device, _ resources: any HardwareResources) throws {
        let registers = try resources.mapRegion(0)
        let part = try (0..<4).map { try registers.read(UInt32.self, at: PL031.peripheralID0 + 4 * $0) & 0xff }
        let cell = try (0..<4).map { try registers.read(UInt32.self, at: PL031.primeCellID + 4 * $0) & 0xff }
        guard cell == [0x0d, 0xf0, 0x05, 0xb1] else { throw PL031Error.notAPrimeCell(cell) }
        guard part[0] == 0x31, part[1] & 0x0f == 0x00 else { throw PL031Error.notAPL031(part) }
        device.clock.registers.withLock { $0 = registers }
        let now = try registers.read(UInt32.self, at: PL031.data)
        device.clock.log("prepare hardware: registers mapped (\(registers.size / 1024) KiB), PrimeCell PL031 revision \(part[2] >> 4), clock reads \(now) s")
    }

    // MARK: Interrupt enable

    /// EvtInterruptEnable (interrupt lock held): unmask the alarm at the device and set the first one.
    static func enableInterrupt(_ interrupt: Interrupt<AlarmContext>, _ device: Device) throws {
        let clock = device.clock
        let registers = try clock.mappedRegisters()
        try registers.write(UInt32(1), at: PL031.interruptClear)
        try registers.write(UInt32(1), at: PL031.interruptMask)
        try clock.setNextAlarm()
        clock.log("interrupt enabled: alarm unmasked, the first in \(clock.period) s")
    }

    // MARK: ISR

    /// EvtInterruptIsr (ISR thread, interrupt lock held): is it ours? Clear it at the device,
    /// note when it fired, queue the DPC. Short, and never blocks.
    static func isr(_ interrupt: Interrupt<AlarmContext>, _ messageID: UInt32) -> Bool {
        guard let registers = try? interrupt.device.clock.mappedRegisters(),
              let status = try? registers.read(UInt32.self, at: PL031.maskedInterruptStatus), status & 1 != 0
        else { return false }
        // The line is level-triggered: it stays asserted until ICR clears it, and the framework's
        // irqcontrol re-arm after this routine would otherwise deliver it again at once.
        try? registers.write(UInt32(1), at: PL031.interruptClear)
        let now = try? registers.read(UInt32.self, at: PL031.data)
        interrupt.withLockedContext { $0.firedAt = now }
        interrupt.queueDPC()
        return true
    }

    // MARK: DPC

    /// EvtInterruptDpc (DPC thread): report the alarm and set the next one, until enough have rung.
    static func dpc(_ interrupt: Interrupt<AlarmContext>, _ associatedObject: any FrameworkObject) {
        let clock = interrupt.device.clock
        let (firedAt, handled) = interrupt.synchronize { context -> (UInt32?, Int) in
            defer { context.firedAt = nil }
            context.handled += 1
            return (context.firedAt, context.handled)
        }
        clock.log("alarm \(handled) at \(firedAt.map(String.init) ?? "?") s")
        if handled < clock.alarms {
            do { try clock.setNextAlarm() } catch { clock.log("cannot set the next alarm: \(error)") }
        } else {
            clock.finished.signal()
        }
    }

    // MARK: Interrupt disable

    /// EvtInterruptDisable (interrupt lock held): mask the alarm at the device.
    static func disableInterrupt(_ interrupt: Interrupt<AlarmContext>, _ device: Device) throws {
        try device.clock.mappedRegisters().write(UInt32(0), at: PL031.interruptMask)
        device.clock.log("interrupt disabled: alarm masked")
    }

    // MARK: Release hardware

    /// EvtDeviceReleaseHardware: drop the mapping.
    static func releaseHardware(_ device: Device) {
        device.clock.registers.withLock { $0 = nil }
        device.clock.log("release hardware: registers unmapped")
    }

    // MARK: What the driver offers

    /// Waits until every alarm has rung; `false` on timeout.
    func waitForAlarms(timeout: Duration) -> Bool {
        device.clock.finished.wait(timeout: .now() + Double(timeout.components.seconds)) == .success
    }

    var alarmsHandled: Int { interrupt.synchronize { $0.handled } }
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
