// Device add for one e1000 port: claim it, create the device object with its context, the DMA
// enabler and common buffers, and (interrupt mode) the interrupt object. Nothing touches the
// hardware yet.

import Logging
import QEMUDevices
import UIO
import UIODriver

final class E1000Driver: Sendable {
    let uio: UIODevice
    let device: Device
    let port: E1000Port
    let interrupt: Interrupt<NAPIState>?
    /// The kernel's interrupt count when the device was claimed.
    let kernelCountAtStart: UInt32

    init(slot: String, interrupts: Bool, logger: Logger, log: @escaping @Sendable (String) -> Void) throws {
        uio = try UIODevice.first(.slot(slot))
        // Refused before it is opened: the driver would reprogram whatever map 0 is.
        guard let ids = uio.parent?.pci, ids.vendor == E1000.vendor, ids.device == E1000.device else {
            let ids = uio.parent?.pci.map { "\(hex4($0.vendor)):\(hex4($0.device))" } ?? "not a PCI device"
            throw NICError.notE1000(slot, ids)
        }
        let resources = try uio.open()
        kernelCountAtStart = try uio.currentEventCount()
        port = E1000Port(slot: slot, log: log)
        device = Device(resources: resources, context: port, callbacks: DeviceCallbacks(
            prepareHardware: E1000Port.prepareHardware,
            d0Entry: E1000Port.d0Entry,
            d0Exit: E1000Port.d0Exit,
            surpriseRemoval: { device, reason in
                let port: E1000Port = device.context()
                port.log("\(port.slot): surprise removal: \(reason)")
            }), logger: logger)
        try port.createDMA(for: device)
        if interrupts {
            var config = InterruptConfig<NAPIState>(isr: NAPI.isr, dpc: NAPI.dpc)
            config.enable = NAPI.enable
            config.disable = NAPI.disable
            interrupt = try Interrupt(parent: device, config: config, context: NAPIState())
        } else {
            interrupt = nil
        }
        log("\(slot): device add: claimed uio\(uio.number), \(interrupts ? "an interrupt object (NAPI), " : "")"
            + "a DMA enabler, rings and a pool of \(port.pool.state.pointee.capacity) buffers")
    }

    /// The interrupts the kernel counted for the device since it was claimed.
    func kernelInterrupts() -> UInt64? {
        (try? uio.currentEventCount()).map { UInt64($0 &- kernelCountAtStart) }
    }
}

/// Four hexadecimal digits.
func hex4(_ value: UInt16) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 4 - digits.count) + digits
}
