// A userspace driver for QEMU's edu PCI device, bound to uio_pci_generic.
//
// It reads top to bottom in the order the framework calls it, as a WDF driver (pcidrv) does:
// find the device → device add → prepare hardware → D0 entry → enable the interrupt →
// (ISR → DPC, per interrupt) → disable the interrupt → D0 exit → release hardware.
// Its state lives in the device's context (pcidrv's FDO_DATA), reached from every callback.
//
// The edu device's registers are in the QEMUDevices target (hw/misc/edu.c): identification,
// liveness, factorial, status, interrupt status, raise and acknowledge, and the DMA engine.
//
// DMA: on uio_pci_generic nothing isolates the device — with Bus Master on it can write anywhere
// in memory. The common buffers are where a correct device writes; VFIO confines an incorrect one.

import Dispatch
import Logging
import QEMUDevices
import Synchronization
import UIO
import UIODriver

/// The device context (pcidrv's `FDO_DATA`): what the driver keeps about one edu device.
final class EduDevice: Sendable {
    let log: @Sendable (String) -> Void
    /// BAR0, mapped from prepare hardware to release hardware.
    let registers = Mutex<MappedRegion?>(nil)
    /// The factorial the device is computing, completed by the DPC.
    let factorialRequest = Mutex<PendingRequest<UInt32>?>(nil)
    /// The DMA enabler and its common buffers, made at device add when the driver copies by DMA.
    let dma = Mutex<EduDMA?>(nil)
    /// The copy through the device's DMA engine under way, advanced by the DPC.
    let copyRequest = Mutex<CopyRequest?>(nil)
    /// Signalled by the DPC for each test interrupt it handled.
    let testInterrupt = DispatchSemaphore(value: 0)

    init(log: @escaping @Sendable (String) -> Void) { self.log = log }

    /// BAR0, or an error outside prepare hardware … release hardware.
    func mappedRegisters() throws -> MappedRegion {
        guard let registers = registers.withLock({ $0 }) else { throw EduError.notPrepared }
        return registers
    }
}

extension Device {
    /// The edu context of the device (pcidrv's `FdoGetData`).
    var edu: EduDevice { context() }
}

/// What the ISR hands the DPC, under the interrupt lock (the interrupt object's context).
struct EduInterruptContext: Sendable {
    /// Interrupt status bits acknowledged by the ISR and not yet handled by the DPC.
    var pendingStatus: UInt32 = 0
    /// Test interrupts the DPC has handled.
    var testInterrupts = 0
}

/// A request from the driver's user, completed by the DPC with a value.
final class PendingRequest<Value: Sendable>: Sendable {
    let started = ContinuousClock.now
    private let done = DispatchSemaphore(value: 0)
    private let result = Mutex<(Value, Duration)?>(nil)

    func complete(with value: Value) {
        result.withLock { $0 = (value, ContinuousClock.now - started) }
        done.signal()
    }

    func wait(timeout: Duration) -> (value: Value, latency: Duration)? {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        guard done.wait(timeout: .now() + seconds) == .success else { return nil }
        return result.withLock { $0 }
    }
}

/// The DMA side of an edu device: its enabler (28-bit, edu's own reach) and two common buffers,
/// one the data leaves from and one it comes back to.
struct EduDMA: Sendable {
    let enabler: DMAEnabler
    let outbound: CommonBuffer
    let inbound: CommonBuffer
}

/// A copy of `count` bytes out to the device's buffer and back, by two DMA transfers.
final class CopyRequest: Sendable {
    enum Stage { case toDevice, fromDevice }
    let count: Int
    let stage = Mutex(Stage.toDevice)
    /// Transfers made again because Bus Master was turned off under the driver.
    let redone = Mutex(0)
    /// What came back, or why the copy failed.
    let pending = PendingRequest<Result<[UInt8], EduError>>()
    init(count: Int) { self.count = count }
}

/// The driver: one per edu device.
final class EduDriver: Sendable {
    let device: Device
    let interrupt: Interrupt<EduInterruptContext>
    /// Requests go through a sequential queue; the DPC, parented to the queue with automatic
    /// serialization, completes them without a lock of the driver's own.
    let requests: Queue

    // MARK: Device add

    /// WDF's EvtDriverDeviceAdd: claim the device, create the device object with its context,
    /// its queue and its interrupt object. Nothing touches the hardware yet.
    init(resources: any HardwareResources, copiesByDMA: Bool, exportsMetrics: Bool = false, logger: Logger,
         log: @escaping @Sendable (String) -> Void) throws {
        device = Device(resources: resources, context: EduDevice(log: log), callbacks: DeviceCallbacks(
            prepareHardware: EduDriver.prepareHardware,
            d0Entry: { device in device.edu.log("D0 entry: the device is working") },
            d0Exit: { device in device.edu.log("D0 exit") },
            releaseHardware: EduDriver.releaseHardware,
            surpriseRemoval: { device, reason in device.edu.log("surprise removal: \(reason)") }), logger: logger)
        requests = try Queue(device: device)
        var config = InterruptConfig<EduInterruptContext>(isr: EduDriver.isr, dpc: EduDriver.dpc)
        config.recordsTimings = true  // printed at stop
        config.exportsMetrics = exportsMetrics
        config.enable = EduDriver.enableInterrupts
        config.disable = EduDriver.disableInterrupts
        config.automaticSerialization = true
        interrupt = try Interrupt(parent: requests, config: config, context: EduInterruptContext())
        log("device add: claimed \(resources.name), created the device, its request queue and its interrupt object")
        if copiesByDMA {
            do { try EduDriver.createDMA(device) } catch { throw EduError.noDMA("\(error)") }
        }
    }

    /// WdfDmaEnablerCreate and WdfCommonBufferCreate: edu reaches 28 bits of address unless
    /// QEMU is told otherwise; memory above that is refused here, never handed to the device.
    static func createDMA(_ device: Device) throws {
        let enabler = try DMAEnabler(device: device, config: DMAEnablerConfig(
            profile: .packet, maximumLength: 4096, addressWidthOverride: Edu.defaultDMAAddressWidth))
        let dma = EduDMA(enabler: enabler, outbound: try enabler.createCommonBuffer(length: 4096),
                         inbound: try enabler.createCommonBuffer(length: 4096))
        device.edu.dma.withLock { $0 = dma }
        device.edu.log("device add: a DMA enabler (\(enabler.config.addressWidth)-bit) and two 4 KiB common buffers at device addresses "
            + "0x\(String(dma.outbound.alignedLogicalAddress, radix: 16)) and 0x\(String(dma.inbound.alignedLogicalAddress, radix: 16))")
    }

    // MARK: Prepare hardware

    /// EvtDevicePrepareHardware: map BAR0 and check that this is an edu device that answers.
    static func prepareHardware(_ device: Device, _ resources: any HardwareResources) throws {
        let registers = try resources.mapRegion(0)
        let identification = try registers.read(UInt32.self, at: Edu.identification)
        guard identification & 0xff == 0xed else { throw EduError.notAnEduDevice(identification) }
        try registers.write(UInt32(0x5a5a_0f0f), at: Edu.liveness)
        guard try registers.read(UInt32.self, at: Edu.liveness) == ~UInt32(0x5a5a_0f0f) else { throw EduError.notAlive }
        device.edu.registers.withLock { $0 = registers }
        let version = "\(identification >> 24).\((identification >> 16) & 0xff)"
        device.edu.log("prepare hardware: BAR0 mapped (\(registers.size / 1024) KiB), id 0x\(hex8(identification)) (edu \(version)), liveness check passed")
    }

    // MARK: Interrupt enable

    /// EvtInterruptEnable (interrupt lock held): ask the device to interrupt on factorial completion.
    static func enableInterrupts(_ interrupt: Interrupt<EduInterruptContext>, _ device: Device) throws {
        let registers = try device.edu.mappedRegisters()
        let status = try registers.read(UInt32.self, at: Edu.status)
        try registers.write(status | Edu.Status.interruptOnFactorial, at: Edu.status)
        device.edu.log("interrupt enabled: the device interrupts when a factorial is done")
    }

    // MARK: ISR

    /// EvtInterruptIsr (ISR thread, interrupt lock held): is it ours? Acknowledge it at the device,
    /// hand the status to the DPC, queue the DPC. Short, and never blocks.
    static func isr(_ interrupt: Interrupt<EduInterruptContext>, _ messageID: UInt32) -> Bool {
        guard let registers = try? interrupt.device.edu.mappedRegisters(),
              let status = try? registers.read(UInt32.self, at: Edu.interruptStatus), status != 0
        else { return false }  // not ours: the line is shared
        try? registers.write(status, at: Edu.acknowledgeInterrupt)
        interrupt.withLockedContext { $0.pendingStatus |= status }
        interrupt.queueDPC()
        return true
    }

    // MARK: DPC

    /// EvtInterruptDpc (DPC thread, serialized with the request queue): take what the ISR saw
    /// and complete the request waiting for it.
    static func dpc(_ interrupt: Interrupt<EduInterruptContext>, _ associatedObject: any FrameworkObject) {
        let edu = interrupt.device.edu
        let status = interrupt.synchronize { context -> UInt32 in
            defer { context.pendingStatus = 0 }
            if context.pendingStatus & Edu.Interrupt.test != 0 { context.testInterrupts += 1 }
            return context.pendingStatus
        }
        if status & Edu.Interrupt.factorialDone != 0,
           let request = edu.factorialRequest.withLock({ request in defer { request = nil }; return request }),
           let value = try? edu.mappedRegisters().read(UInt32.self, at: Edu.factorial) {
            request.complete(with: value)
        }
        if status & Edu.Interrupt.test != 0 { edu.testInterrupt.signal() }
        if status & Edu.Interrupt.dmaDone != 0 { dmaTransferDone(edu) }
    }

    /// From the DPC: a transfer of the copy under way is done. Unless Bus Master was turned off
    /// under the driver since it started — then its data may not have landed and it is made
    /// again — the first transfer starts the second, and the second completes the copy.
    static func dmaTransferDone(_ edu: EduDevice) {
        guard let copy = edu.copyRequest.withLock({ $0 }), let dma = edu.dma.withLock({ $0 }) else { return }
        let finish = { (result: Result<[UInt8], EduError>) in
            edu.copyRequest.withLock { $0 = nil }
            copy.pending.complete(with: result)
        }
        do {
            if try dma.enabler.busMasterWasLost() {
                let redone = copy.redone.withLock { redone in
                    redone += 1
                    return redone
                }
                guard redone <= 3 else { return finish(.failure(.busMasterLost)) }
                edu.log("DMA: Bus Master was turned off under the driver; the transfer is made again")
            } else if copy.stage.withLock({ $0 }) == .fromDevice {
                return finish(.success(try dma.inbound.bytes(count: copy.count)))
            } else {
                copy.stage.withLock { $0 = .fromDevice }
            }
            let toRAM = copy.stage.withLock { $0 } == .fromDevice
            try startTransfer(edu, toRAM ? dma.inbound : dma.outbound, count: copy.count, toRAM: toRAM)
        } catch {
            finish(.failure(.dma("\(error)")))
        }
    }

    /// Programs one transfer between `buffer` and the start of the device's buffer.
    static func startTransfer(_ edu: EduDevice, _ buffer: CommonBuffer, count: Int, toRAM: Bool) throws {
        guard let writes = Edu.dmaTransfer(ram: buffer.alignedLogicalAddress, deviceOffset: 0, count: count, toRAM: toRAM) else {
            throw EduError.badLength(count)
        }
        let registers = try edu.mappedRegisters()
        for (offset, value) in writes { try registers.write(value, at: offset) }
    }

    // MARK: Interrupt disable

    /// EvtInterruptDisable (interrupt lock held): stop interrupting on factorial completion.
    static func disableInterrupts(_ interrupt: Interrupt<EduInterruptContext>, _ device: Device) throws {
        let registers = try device.edu.mappedRegisters()
        let status = try registers.read(UInt32.self, at: Edu.status)
        try registers.write(status & ~Edu.Status.interruptOnFactorial, at: Edu.status)
        device.edu.log("interrupt disabled")
    }

    // MARK: Release hardware

    /// EvtDeviceReleaseHardware: drop the mapping.
    static func releaseHardware(_ device: Device) {
        device.edu.registers.withLock { $0 = nil }
        device.edu.log("release hardware: BAR0 unmapped")
    }

    // MARK: What the driver offers

    /// Computes n! on the device: the request starts on the queue; the DPC completes it.
    func factorial(_ n: UInt32) throws -> (value: UInt32, latency: Duration) {
        let request = PendingRequest<UInt32>()
        let edu = device.edu
        let accepted = requests.submit {
            edu.factorialRequest.withLock { $0 = request }
            try? edu.mappedRegisters().write(n, at: Edu.factorial)
        }
        guard accepted, let result = request.wait(timeout: .seconds(10)) else { throw EduError.timedOut("\(n)!") }
        return result
    }

    /// Copies `bytes` out to the device's buffer and back by DMA: the request starts the first
    /// transfer on the queue; the DPC starts the second and completes the request with what came
    /// back.
    func copyThroughDevice(_ bytes: [UInt8]) throws -> (bytes: [UInt8], latency: Duration, redone: Int) {
        let edu = device.edu
        guard let dma = edu.dma.withLock({ $0 }) else { throw EduError.notPrepared }
        guard Edu.isValidDMARange(offset: 0, count: bytes.count) else { throw EduError.badLength(bytes.count) }
        let copy = CopyRequest(count: bytes.count)
        let accepted = requests.submit {
            do {
                try dma.outbound.copyBytes(bytes)
                edu.copyRequest.withLock { $0 = copy }
                try EduDriver.startTransfer(edu, dma.outbound, count: bytes.count, toRAM: false)
            } catch {
                edu.copyRequest.withLock { $0 = nil }
                copy.pending.complete(with: .failure(.dma("\(error)")))
            }
        }
        guard accepted, let result = copy.pending.wait(timeout: .seconds(10)) else { throw EduError.timedOut("a DMA copy") }
        return (try result.value.get(), result.latency, copy.redone.withLock { $0 })
    }

    /// Raises `count` interrupts one at a time, each waiting for its DPC.
    func raiseTestInterrupts(_ count: Int) throws -> Duration {
        let edu = device.edu
        return try ContinuousClock().measure {
            for _ in 0..<count {
                try edu.mappedRegisters().write(Edu.Interrupt.test, at: Edu.raiseInterrupt)
                guard edu.testInterrupt.wait(timeout: .now() + 5) == .success else { throw EduError.timedOut("a test interrupt") }
            }
        }
    }

    var testInterruptsHandled: Int { interrupt.synchronize { $0.testInterrupts } }
}

enum EduError: Error, CustomStringConvertible {
    case notAnEduDevice(UInt32)
    case notAlive
    case notPrepared
    case timedOut(String)
    case badLength(Int)
    case corrupt(Int)
    case busMasterLost
    case dma(String)
    case noDMA(String)

    var description: String {
        switch self {
        case .notAnEduDevice(let id): "the device's identification register reads 0x\(String(id, radix: 16)), not edu's 0x010000ed"
        case .notAlive: "the liveness register did not return the inverse of what was written"
        case .notPrepared: "the registers are not mapped (the device is not started)"
        case .timedOut(let what): "\(what) did not complete within the timeout"
        case .corrupt(let copy): "DMA copy \(copy) came back different from what went out"
        case .busMasterLost: "Bus Master was turned off under the driver three times during one copy (is another program opening the device?)"
        case .dma(let reason): "a DMA copy failed: \(reason)"
        case .noDMA(let reason): "\(reason) (or run with --dma-copies 0, without DMA)"
        case .badLength(let count): "a DMA copy of \(count) bytes: edu's buffer takes 1 to \(Edu.dmaBufferUsableSize)"
        }
    }
}

/// Eight hexadecimal digits.
func hex8(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 8 - digits.count) + digits
}
