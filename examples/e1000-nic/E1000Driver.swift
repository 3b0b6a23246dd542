// Device add for one e1000 port: claim it, create the device object with its context, the DMA
// enabler and common buffers, and (interrupt mode) the interrupt object. Nothing touches the
// hardware yet.

import Logging
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
